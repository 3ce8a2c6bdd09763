"""Training: the Lightning glue of V-NAW (:mod:`~vnaw.training.module`, :mod:`~vnaw.training.train`)
and of NLA pretraining (``pretrain*``), checkpoints and console output."""
