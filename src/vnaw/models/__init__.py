"""Models: the image encoder and its files (:mod:`~vnaw.models.encoder`), the frame encoder by
name, file or identity (:mod:`~vnaw.models.frame_encoder`), the one preprocessing path
(:mod:`~vnaw.models.preprocess`), the temporal encoder (:mod:`~vnaw.models.temporal`), the
:class:`~vnaw.models.video.VideoModel` and how a run stores it (:mod:`~vnaw.models.artifact`)."""
