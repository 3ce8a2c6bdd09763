"""``vnaw export --model RUN --out FILE``: a run's video model as ONNX (:mod:`vnaw.inference.export`)."""

from __future__ import annotations

import argparse


def _cmd_export(args: argparse.Namespace) -> int:
    from vnaw.models.artifact import load_video_model

    model, _ = load_video_model(args.model)  # a wrong run fails before the heavy imports
    from pathlib import Path

    from vnaw.files import output_lock
    from vnaw.inference.export import export_onnx, max_abs_diff

    target = Path(args.out)
    with output_lock(target.parent, f"export-{target.name}"):  # one writer per .onnx file
        out = export_onnx(model, target, opset=args.opset)
        diff = max_abs_diff(model, out)
    print(
        f"export: wrote {out} (opset {args.opset}); ONNX Runtime vs PyTorch max abs diff {diff:.2e}"
        f"; with its .encoder.onnx and .temporal.onnx, `vnaw predict --model {out}` needs no torch"
    )
    return 0 if diff <= 1e-4 else 1


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a run's encoder + temporal model to ONNX (dynamic batch and length)",
        description="Export a run's encoder + temporal model as one ONNX graph: frames (B,T,C,S,S) "
        "and present (B,T) in, per-frame probabilities (B,T,8) out; checked with ONNX Runtime. "
        "Beside FILE go FILE's .encoder.onnx and .temporal.onnx, which `vnaw predict --model "
        "FILE` runs without PyTorch (the light install).",
    )
    p.add_argument("--model", required=True, metavar="RUN_OR_CHECKPOINT", help="trained run")
    p.add_argument("--out", required=True, metavar="FILE", help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset of the file (default 17)")
    p.set_defaults(func=_cmd_export)
