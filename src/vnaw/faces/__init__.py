"""Face preprocessing (paper §4.2): decode → detect → track → align, into the Aff-Wild2 crop layout.

Modules in pipeline order: :mod:`~vnaw.faces.video` (decoding), :mod:`~vnaw.faces.detectors`
(MediaPipe's models in ONNX Runtime, :mod:`~vnaw.faces.retinaface`), :mod:`~vnaw.faces.track`, :mod:`~vnaw.faces.align`,
and :mod:`~vnaw.faces.pipeline` (whole videos → ``cropped_aligned/``, resumable).
"""
