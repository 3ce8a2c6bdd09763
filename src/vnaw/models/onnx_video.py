"""A trained run exported by ``vnaw export``, run with ONNX Runtime: no PyTorch (design §8).

``vnaw export --model RUN --out X.onnx`` writes, beside the one-graph ``X.onnx``, the two graphs
whole-video inference streams through (:func:`vnaw.inference.export.part_paths`): ``X.encoder.onnx``
(normalised crops → frame features, eq. 6) and ``X.temporal.onnx`` (features and presence of
windows → per-frame probabilities, eqs. 7–8), each with the run's settings in its metadata.
:class:`OnnxVideoModel` offers what :func:`vnaw.inference.predict.predict_file` uses of a
:class:`~vnaw.models.video.VideoModel`, so ``vnaw predict --model X.onnx`` works in the light
install.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vnaw.errors import ModelFileError
from vnaw.models.meta import EncoderMeta
from vnaw.models.preprocess import preprocess_array


def part_paths(out: str | Path) -> tuple[Path, Path]:
    """``X.onnx`` → (``X.encoder.onnx``, ``X.temporal.onnx``)."""
    out = Path(out)
    stem = out.name.removesuffix(".onnx")
    return out.with_name(f"{stem}.encoder.onnx"), out.with_name(f"{stem}.temporal.onnx")


def _session(path: Path, threads: int):
    import onnxruntime as ort

    if not path.is_file():
        raise ModelFileError(
            f"{path}: missing; write it with vnaw export --model RUN --out "
            f"{path.name.split('.')[0]}.onnx (in an install with the [train] extra)"
        )
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads or max(1, len(os.sched_getaffinity(0)) // 2)
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as err:  # ONNX Runtime raises its own bare exception types
        raise ModelFileError(f"{path}: not a loadable ONNX graph ({err})") from None


class OnnxVideoModel:
    """An exported run: encoder and temporal model in ONNX Runtime (module docstring)."""

    def __init__(self, path: str | Path, *, threads: int = 0) -> None:
        enc_path, tmp_path = part_paths(path)
        self.encoder = _session(enc_path, threads)
        self.session = _session(tmp_path, threads)
        info = {
            k: json.loads(v) for k, v in self.session.get_modelmeta().custom_metadata_map.items()
        }
        if "encoder_meta" not in info:
            raise ModelFileError(f"{tmp_path}: no run settings in it; export the run again")
        self.meta = EncoderMeta.from_dict(info["encoder_meta"], str(tmp_path))
        self.clip_length, self.stride = int(info["clip_length"]), info["stride"]
        self.smooth = int(info["smooth"])
        self.temporal = self  # what WindowStream runs: window_probs
        self.run_dir = None
        self.description = f"exported run {Path(path).name} (ONNX Runtime, P = {self.clip_length})"

    def frame_outputs(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """uint8 face crops → frame features ``(N, D)``."""
        x = preprocess_array(crops, self.meta)
        if len(x) == 1:  # the graph's batch axis was exported for 2 and more
            return self.encoder.run(["features"], {"frames": np.concatenate([x, x])})[0][:1]
        return self.encoder.run(["features"], {"frames": x})[0]

    def window_probs(self, features: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Features ``(B, P, D)`` and presence ``(B, P)`` of windows → probabilities ``(B, P, K)``."""
        return self.session.run(
            ["probs"], {"features": features.astype(np.float32), "present": present}
        )[0]
