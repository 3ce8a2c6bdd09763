"""How an image encoder is stored and fed, without PyTorch — design §5.

An encoder is stored as files side by side (:mod:`vnaw.models.encoder` builds the network):

* ``<name>.safetensors`` — the state dict (``trunk.*`` and ``head.*``), fp32 or fp16;
* ``<name>.json`` — :class:`EncoderMeta`: timm name and keyword arguments, input size, channels,
  normalisation mean/std, class names, feature size;
* ``<name>.onnx`` (optional) — the same classifier as an ONNX graph, images → probabilities
  (:func:`vnaw.inference.export.export_encoder_onnx`), which ``vnaw predict`` runs with ONNX Runtime
  so that it never imports PyTorch (:mod:`vnaw.models.onnx_frames`).

This module is imported by the torch-free prediction path, so it imports nothing heavy.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from vnaw.errors import ModelFileError
from vnaw.labels import CLASSES

DEFAULT_NAME = "default"  # load_encoder("default") → the weights shipped in vnaw/weights/
_DEFAULT_STEM = "ferplus_dlib_resnet18_112"  # file stem of the shipped encoder
_LOADER_WORDS = ("pretrained", "checkpoint", "path", "file", "url", "hub")
# Without a temporal model, per-frame probabilities are averaged over ±7 frames ≈ ±0.25 s at 30 fps.
SMOOTH_HALF_WIDTH = 7
# Face framings: the templates of vnaw.faces.align, in that order (defined there, named here so
# that this torch- and numpy-free module can check an encoder file).
FRAMINGS = ("arcface", "ferplus")


@dataclass
class EncoderMeta:
    """Everything needed to rebuild a trunk and feed it; saved as the encoder's JSON."""

    backbone: str = "resnet18"  # timm model name
    # Extra timm keyword arguments. Default: a half-width ResNet-18 (stages 32-64-128-256; the 7×7
    # stem stays 64 wide — timm applies stem_width to deep stems only), sized for 48 px grey faces
    # on a CPU budget (≈2.8 M parameters).
    model_kwargs: dict[str, Any] = field(
        default_factory=lambda: {"channels": [32, 64, 128, 256], "stem_width": 32}
    )
    # False removes the stem max-pool (only for trunks that have one): a 48 px face then keeps a
    # 24×24 map after the stem instead of 12×12 — small faces need the resolution.
    stem_pool: bool = False
    input_size: int = 48  # square side the crops are resized to
    channels: int = 1  # 1 = grey (RGB crops are converted), 3 = RGB (grey crops replicated)
    mean: tuple[float, ...] = (0.5,)  # per-channel normalisation after scaling to [0, 1]
    std: tuple[float, ...] = (0.25,)
    classes: tuple[str, ...] = CLASSES
    feature_size: int = 0  # pooled pre-logits size D; filled in when the trunk is built
    # How the faces it learned from are framed (a template of vnaw.faces.align): `vnaw predict`
    # crops faces this way when it runs the encoder alone. FERPlus and muxspace: "ferplus".
    framing: str = "arcface"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> EncoderMeta:
        """Validate and convert a decoded JSON object; errors name ``source``."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelFileError(
                f"{source}: unknown encoder field(s) {unknown}; known: {sorted(known)}"
            )
        for required in ("backbone", "input_size", "channels", "mean", "std", "classes"):
            if required not in data:
                raise ModelFileError(f"{source}: encoder JSON lacks the field {required!r}")
        kwargs = data.get("model_kwargs", {})
        if not isinstance(kwargs, dict):
            raise ModelFileError(f"{source}: model_kwargs must be an object")
        # timm reads files or downloads through some keyword arguments: an encoder file may
        # describe an architecture, never make timm open another file.
        risky = sorted(k for k in kwargs if any(w in k.lower() for w in _LOADER_WORDS))
        if risky:
            raise ModelFileError(
                f"{source}: model_kwargs may not set {risky} (weights come only "
                "from the encoder's own .safetensors file)"
            )
        _check_types(data, source)
        meta = cls(**data)
        meta.mean, meta.std, meta.classes = tuple(meta.mean), tuple(meta.std), tuple(meta.classes)
        if meta.channels not in (1, 3):
            raise ModelFileError(f"{source}: channels must be 1 or 3, got {meta.channels}")
        if len(meta.mean) != meta.channels or len(meta.std) != meta.channels:
            raise ModelFileError(f"{source}: mean/std need {meta.channels} value(s) each")
        if meta.framing not in FRAMINGS:
            raise ModelFileError(
                f"{source}: framing must be one of {FRAMINGS}, got {meta.framing!r}"
            )
        if tuple(meta.classes) != CLASSES:
            raise ModelFileError(
                f"{source}: classes {list(meta.classes)} differ from {list(CLASSES)}"
            )
        return meta


def _check_types(data: dict[str, Any], source: str) -> None:
    """Each field of an encoder JSON of its JSON type (and a sensible input size): a wrong one
    is a :class:`ModelFileError` naming the file, not a failure deep inside timm or numpy."""

    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    checks = {
        "backbone": (lambda v: isinstance(v, str) and v != "", "a timm model name"),
        "stem_pool": (lambda v: isinstance(v, bool), "true or false"),
        "input_size": (
            lambda v: isinstance(v, int) and not isinstance(v, bool) and 8 <= v <= 4096,
            "a whole number of pixels from 8 to 4096",
        ),
        "channels": (lambda v: isinstance(v, int) and not isinstance(v, bool), "1 or 3"),
        "mean": (
            lambda v: isinstance(v, (list, tuple)) and all(map(number, v)),
            "a list of numbers",
        ),
        "std": (
            lambda v: isinstance(v, (list, tuple)) and all(number(x) and x > 0 for x in v),
            "a list of positive numbers",
        ),
        "classes": (
            lambda v: isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v),
            "names",
        ),
        "feature_size": (
            lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
            "≥ 0",
        ),
        "framing": (lambda v: isinstance(v, str), "a framing name"),
    }
    for key, (ok, expected) in checks.items():
        if key in data and not ok(data[key]):
            raise ModelFileError(f"{source}: {key} must be {expected}, got {data[key]!r}")


def encoder_paths(path: str | Path) -> tuple[Path, Path]:
    """``(weights, json)`` paths of an encoder given either file or their common stem."""
    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    return path.with_suffix(".safetensors"), path.with_suffix(".json")


def require_encoder(name: str | Path, option: str, what: str = "encoder file") -> Path:
    """The weights file of encoder ``name`` ("default" or a path); a missing one is an error
    naming the file, ``what`` it is and the ``option`` it was given with."""
    if str(name) == DEFAULT_NAME:
        return default_encoder_path().with_suffix(".safetensors")
    weights = encoder_paths(name)[0]
    if not weights.is_file():
        raise ModelFileError(f"{weights}: {what} not found ({option})")
    return weights


def read_meta(path: str | Path) -> EncoderMeta:
    """Read and validate an encoder JSON; errors name the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path}: expected a JSON object")
    return EncoderMeta.from_dict(data, source=str(path))


LOGIT_BIAS_SUFFIX = "_logit_bias.json"  # beside an encoder pair: per-class decision offsets


def read_logit_bias(stem: str | Path) -> list[float] | None:
    """Per-class log-probability offsets (design §2 order) from ``<stem>_logit_bias.json`` beside
    an encoder pair, or ``None`` when there is no such file. The file holds
    ``{"logit_bias": {"Fear": 0.5, ...}}`` (classes not named: 0) and says how it was chosen."""
    path = Path(str(encoder_paths(stem)[0].with_suffix("")) + LOGIT_BIAS_SUFFIX)
    if not path.is_file():
        return None
    try:
        named = json.loads(path.read_text())["logit_bias"]
        bias = [float(named.get(c, 0.0)) for c in CLASSES]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path}: not a logit-bias file ({e})") from None
    unknown = set(named) - set(CLASSES)
    if unknown:
        raise ModelFileError(f"{path}: unknown class names {sorted(unknown)}")
    return bias


def default_encoder_path() -> Path:
    """Path (stem) of the shipped encoder; raises if the package was installed without it."""
    stem = Path(str(resources.files("vnaw"))) / "weights" / _DEFAULT_STEM
    if not stem.with_suffix(".safetensors").is_file():
        raise ModelFileError(f"{stem}.safetensors: the default encoder is missing from the package")
    return stem
