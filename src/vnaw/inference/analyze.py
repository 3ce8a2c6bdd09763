"""``vnaw.analyze_video``: one video path → the per-frame table as a pandas DataFrame.

The same table ``vnaw predict`` writes (:mod:`vnaw.inference.table`), from the same code path.
Without a model, the shipped encoder runs through ONNX Runtime and PyTorch is never imported
(:mod:`vnaw.models.onnx_frames`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vnaw.errors import ConfigError

if TYPE_CHECKING:
    from vnaw.models.onnx_frames import OnnxFrameModel
    from vnaw.models.video import VideoModel

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str = "auto") -> str:
    """``auto`` → ``cuda`` when a GPU is usable, else ``cpu``; ``cuda`` without one is an error."""
    check_device(device)
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA device is available here (use cpu or auto)")
    return str(device)


def check_device(device: str) -> None:
    if device not in DEVICES and not str(device).startswith("cuda:"):
        raise ConfigError(f"unknown device {device!r}; choose auto, cpu or cuda")


def load_model(
    model: str | Path | VideoModel | OnnxFrameModel | None = None,
    device: str = "auto",
    *,
    threads: int = 0,
    encoder: str | Path | None = None,
) -> VideoModel | OnnxFrameModel:
    """A video model on ``device``: a trained run (directory or checkpoint), a :class:`VideoModel`,
    or ``None`` for the shipped image encoder (smoothed, no temporal model), which runs with ONNX
    Runtime unless ``device`` asks for CUDA (then PyTorch). ``encoder``: another encoder file
    used the same way instead of the shipped one (PyTorch; not with ``model``). ``threads``: the
    encoder's threads (0 = ONNX Runtime: half the cores; PyTorch: its own setting, left alone)."""
    from vnaw.models.onnx_frames import OnnxFrameModel

    check_device(device)
    if encoder is not None and model is not None:
        raise ConfigError(
            "--model and --encoder: a trained run brings its own encoder; give one of them"
        )
    if isinstance(model, OnnxFrameModel):
        return model
    if model is None and encoder is None and not str(device).startswith("cuda"):
        return OnnxFrameModel(threads=threads, device=device)
    if isinstance(model, str | Path) and str(model).endswith(".onnx"):
        from vnaw.models.onnx_video import OnnxVideoModel

        return OnnxVideoModel(model, threads=threads)  # vnaw export's graphs, no PyTorch
    import torch

    from vnaw.models.artifact import default_video_model, load_video_model
    from vnaw.models.video import VideoModel

    if threads:
        torch.set_num_threads(threads)
    if model is None:
        model = default_video_model(encoder=encoder)
    elif not isinstance(model, VideoModel):
        model = load_video_model(model)[0]
    return model.to(resolve_device(device))


def analyze_video(
    path: str | Path,
    model: str | Path | VideoModel | OnnxFrameModel | None = None,
    device: str = "auto",
    *,
    encoder: str | Path | None = None,
    progress: bool = False,
    baseline: str | Path | None = "auto",
    **options,
):
    """Per-frame expression probabilities of one video (or image) as a pandas DataFrame.

    ``baseline``: ``"auto"`` (default) adds person-relative columns (``rel_Neutral`` …
    ``rel_Other``, ``rel_pred``, ``baseline_ok``, ``baseline_frame``, ``baseline_frames``,
    ``baseline``), each face read against its own most neutral frames; a path of a neutral
    recording or images of the person(s) uses that as the baseline instead (calibration); ``None``
    (or ``"none"``): raw columns only. The raw columns are the same in every case
    (docs/person-relative.md).

    One row per frame and face track, the columns of :data:`vnaw.inference.table.TABLE_COLUMNS`;
    frames where a track's face was not found have empty (NaN) probabilities and prediction.
    ``model``: a run directory or checkpoint of ``vnaw train``, a loaded :class:`VideoModel`, or
    ``None`` for the shipped image encoder (``encoder``: another encoder file instead, e.g.
    ``RUN/encoder`` of ``vnaw pretrain``). ``options`` go to
    :func:`vnaw.inference.predict.predict_file` (``chunk``, ``face_config``, ``detector``, …).
    Warnings (a truncated file, no face at all) are issued with :func:`warnings.warn`."""
    import warnings

    from vnaw.inference.predict import predict_file
    from vnaw.inference.relative import apply_baselines, calibrate, parse_baseline
    from vnaw.inference.table import video_table

    loaded = load_model(model, device, encoder=encoder)
    mode = parse_baseline(baseline)
    given = calibrate(mode, loaded, **options) if isinstance(mode, Path) else None
    result = predict_file(path, loaded, progress=progress, **options)
    if mode is not None:
        apply_baselines(result, given)
    for line in result.warnings:
        warnings.warn(line, stacklevel=2)
    return video_table(result)
