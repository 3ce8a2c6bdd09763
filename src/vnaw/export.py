"""``vnaw export --model RUN --out model.onnx`` — encoder + temporal model as one ONNX graph — SPEC §6.

The exported graph takes normalised face crops of a clip and their presence flags and gives the
per-frame probabilities of eq. (8)::

    frames  (B, T, C, S, S) float32   crops normalised as the run's encoder expects (C, S, mean,
                                      std are stored in the ONNX metadata)
    present (B, T) bool               False for frames without a face (masked out of attention)
    probs   (B, T, 8) float32         per-frame class probabilities, SPEC §2 order

``B`` and ``T`` are dynamic (``T ≥ 2``: torch.export specialises size-1 axes). Whole-video inference (windows, averaging, filling) stays outside the
graph, as in :mod:`vnaw.predict`.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from vnaw.labels import CLASSES


class VideoExpressionModel(nn.Module):
    """Image encoder applied per frame, then the temporal encoder: eq. (6)–(8)."""

    def __init__(self, encoder: nn.Module, temporal: nn.Module) -> None:
        super().__init__()
        self.encoder, self.temporal = encoder, temporal

    def forward(self, frames: Tensor, present: Tensor) -> Tensor:
        b, t = frames.shape[:2]
        feats = self.encoder(frames.flatten(0, 1))  # (B*T, C, S, S) -> (B*T, D), Eq. (6)
        feats = feats.reshape(b, t, -1)  # (B*T, D) -> (B, T, D)
        return self.temporal(feats, present).probs  # (B, T, K), Eq. (7)–(8)


def export_onnx(model: str | Path, out: str | Path, *, opset: int = 17) -> Path:
    """Write the ONNX graph of a training run's encoder + temporal model; returns ``out``."""
    from vnaw.predict import load_predictor

    p = load_predictor(model)
    net = VideoExpressionModel(p.encoder, p.temporal).eval()
    frames = torch.zeros(2, 5, p.channels, p.input_size, p.input_size)
    present = torch.ones(2, 5, dtype=torch.bool)
    present[0, 1] = False  # trace the masked path
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    batch, length = torch.export.Dim("batch", min=1), torch.export.Dim("time", min=2)
    with torch.no_grad(), warnings.catch_warnings():
        # Names of dynamic axes that torch.export merges: harmless, and said at every export.
        warnings.filterwarnings("ignore", message=".*axis name.*will not be used")
        # The torch.export-based exporter: the TorchScript one bakes the traced clip length into
        # the attention's reshapes.
        program = torch.onnx.export(
            net,
            (frames, present),
            input_names=["frames", "present"],
            output_names=["probs"],
            dynamic_shapes={"frames": {0: batch, 1: length}, "present": {0: batch, 1: length}},
            opset_version=opset,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
        program.save(str(out))  # inside the filter: saving renames the axes
    _add_metadata(out, p)
    return out


def _add_metadata(path: Path, p) -> None:
    """Store how to feed the graph (input size, channels, normalisation, classes) in the file."""
    import onnx

    m = onnx.load(str(path))
    info = {
        "input_size": p.input_size,
        "channels": p.channels,
        "mean": list(p.mean),
        "std": list(p.std),
        "classes": list(CLASSES),
        "clip_length": p.clip_length,
    }
    for k, v in info.items():
        entry = m.metadata_props.add()
        entry.key, entry.value = k, json.dumps(v)
    onnx.save(m, str(path))


def max_abs_diff(
    model: str | Path, onnx_path: str | Path, *, batch: int = 3, length: int = 9, seed: int = 0
) -> float:
    """Max absolute difference between ONNX Runtime and PyTorch on random input (fp32)."""
    import onnxruntime as ort

    from vnaw.predict import load_predictor

    p = load_predictor(model)
    net = VideoExpressionModel(p.encoder, p.temporal).eval()
    g = torch.Generator().manual_seed(seed)
    frames = torch.randn(batch, length, p.channels, p.input_size, p.input_size, generator=g)
    present = torch.rand(batch, length, generator=g) > 0.2
    present[:, 0] = True
    with torch.no_grad():
        ref = net(frames, present).numpy()
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = sess.run(["probs"], {"frames": frames.numpy(), "present": present.numpy()})[0]
    return float(np.abs(got - ref).max())


def _cmd_export(args: argparse.Namespace) -> int:
    try:
        out = export_onnx(args.model, args.out)
        diff = max_abs_diff(args.model, out)
    except (FileNotFoundError, ValueError) as err:
        print(f"export: {err}", file=sys.stderr)
        return 2
    print(f"export: wrote {out}; ONNX Runtime vs PyTorch max abs diff {diff:.2e}")
    return 0 if diff <= 1e-4 else 1


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a run's encoder + temporal model to ONNX (dynamic batch and length)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--model", required=True, metavar="RUN_OR_CHECKPOINT", help="trained run")
    p.add_argument("--out", required=True, metavar="FILE", help="the .onnx file to write")
    p.set_defaults(func=_cmd_export)
