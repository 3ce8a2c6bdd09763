"""The shipped image encoder through ONNX Runtime: ``vnaw predict`` without PyTorch — design §8.

Without ``--model``, ``vnaw predict`` and :func:`vnaw.analyze_video` give the shipped encoder's
per-frame probabilities, smoothed over time. PyTorch is not needed for that: importing it takes
seconds and about 600 MB before a frame is read, more than the whole prediction of a short clip.
So that path runs the encoder's ONNX copy (``<stem>.onnx`` beside its ``.safetensors``/``.json``
pair, written by ``vnaw pretrain export --onnx``) with ONNX Runtime, fed by the same numpy
preprocessing as the PyTorch model (:func:`vnaw.models.preprocess.preprocess_array`). The copy
records the hash of the weights it was made from and is refused when they differ.

:class:`OnnxFrameModel` offers what the prediction pipeline (:mod:`vnaw.inference.predict`) uses
of a :class:`~vnaw.models.video.VideoModel` without a temporal model: ``frame_outputs``,
``temporal`` (``None``), ``smooth`` and ``description``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vnaw.errors import ModelFileError
from vnaw.files import file_hash
from vnaw.models.meta import (
    SMOOTH_HALF_WIDTH,
    default_encoder_path,
    encoder_paths,
    read_logit_bias,
    read_meta,
)
from vnaw.models.preprocess import apply_logit_bias, preprocess_array

WEIGHTS_HASH_KEY = "weights_hash"  # ONNX metadata: file_hash of the .safetensors it was made from


def onnx_path(stem: str | Path) -> Path:
    """The ONNX copy of an encoder pair (either file of the pair, or their stem)."""
    return encoder_paths(stem)[0].with_suffix(".onnx")


def int8_path(stem: str | Path) -> Path:
    """Its int8-quantised copy, used instead when present (``benchmarks/quantize_encoder.py``
    writes it, and ships it only where FERPlus test accuracy holds within 0.3 points)."""
    return encoder_paths(stem)[0].with_suffix(".int8.onnx")


class OnnxFrameModel:
    """An encoder's ONNX copy: uint8 face crops → class probabilities, on the CPU (or on a GPU
    when ONNX Runtime has a CUDA provider and ``device`` allows it)."""

    temporal = None  # no temporal model: per-frame probabilities are smoothed instead
    run_dir = None

    def __init__(
        self,
        stem: str | Path | None = None,
        *,
        smooth: int = SMOOTH_HALF_WIDTH,
        threads: int = 0,
        device: str = "cpu",
        int8: bool = True,
    ) -> None:
        import onnxruntime as ort

        stem = default_encoder_path() if stem is None else Path(stem)
        weights, meta_path = encoder_paths(stem)
        path = int8_path(stem) if int8 and int8_path(stem).is_file() else onnx_path(stem)
        if not path.is_file():
            raise ModelFileError(
                f"{path}: no ONNX copy of this encoder (vnaw pretrain export --onnx)"
            )
        self.meta = read_meta(meta_path)
        self.logit_bias = read_logit_bias(weights)  # the encoder's decision offsets, if shipped
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only: no optimiser chatter on stderr
        # Threads that spin while idle steal the core that decoding and face detection need.
        opts.intra_op_num_threads = threads or max(1, len(os.sched_getaffinity(0)) // 2)
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        if device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=providers)
        except Exception as err:  # ONNX Runtime raises its own bare exception types
            raise ModelFileError(f"{path}: not a loadable ONNX graph ({err})") from None
        recorded = self.session.get_modelmeta().custom_metadata_map.get(WEIGHTS_HASH_KEY)
        if recorded != file_hash(weights):
            raise ModelFileError(
                f"{path}: made from other weights than {weights.name} (hash {recorded}); "
                "write it again with vnaw pretrain export --onnx"
            )
        self.smooth = smooth
        self.description = (
            f"no --model given: per-frame probabilities of the shipped image encoder ({path.name}, "
            f"ONNX Runtime), smoothed over ±{smooth} frames (no temporal model)"
        )

    def frame_outputs(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """uint8 face crops → ``(N, 8)`` class probabilities (each crop alone, no mirror)."""
        x = preprocess_array(crops, self.meta)
        return apply_logit_bias(self.session.run(["probs"], {"images": x})[0], self.logit_bias)
