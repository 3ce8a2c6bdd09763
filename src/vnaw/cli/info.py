"""``vnaw info``: version, the runtimes installed (ONNX Runtime, torch if any) and the class order."""

from __future__ import annotations

import argparse


def _cmd_info(args: argparse.Namespace) -> int:
    import onnxruntime

    from vnaw import __version__
    from vnaw.labels import CLASSES

    print(f"vnaw {__version__}")
    print(
        f"onnxruntime {onnxruntime.__version__}, providers: {onnxruntime.get_available_providers()}"
    )
    try:
        import torch
    except ModuleNotFoundError:
        print('torch: not installed (inference only; training needs pip install "vnaw[train]")')
    else:
        print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
    print("classes: " + ", ".join(f"{i}={c}" for i, c in enumerate(CLASSES)))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="print version, runtimes and the class order")
    p.set_defaults(func=_cmd_info)
