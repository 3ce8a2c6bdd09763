"""Inference: whole-video windows (:mod:`~vnaw.evaluation.windows`, :mod:`~vnaw.inference.streaming`),
``vnaw predict`` on raw video and its outputs, the ABAW submission, ONNX export."""
