"""Image encoder: a timm trunk plus a linear 8-class head — paper §3.5, eq. (6); SPEC §5.

The trunk is any ``timm`` backbone created with ``num_classes=0``: its output is the pooled
pre-logits vector, the frame feature ``E(x)`` of eq. (6). For NLA pretraining (SPEC §5) a linear
head turns it into logits over the 8 classes of SPEC §2; the video model later drops the head.

An encoder is stored as two files side by side (the form ``vnaw extract`` reads):

* ``<name>.safetensors`` — the state dict (``trunk.*`` and ``head.*``), fp32 or fp16;
* ``<name>.json`` — :class:`EncoderMeta`: timm name and keyword arguments, input size, channels,
  normalisation mean/std, class names, feature size.

Public entry points:

* :class:`ImageClassifier` — ``from_default()``, ``from_file(path)``, ``predict_proba(images)``;
* :func:`load_encoder` — ``(trunk, meta)`` for feature extraction (``"default"`` or a path);
* :func:`preprocess` — uint8 face crops → the normalised ``(N, C, H, W)`` batch a trunk expects.

Symbols → names: ``E(·)`` → ``trunk``; ``E(x_p)`` → ``features`` ``(N, D)``, ``D`` →
``meta.feature_size``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vnaw.labels import CLASSES

DEFAULT_NAME = "default"  # load_encoder("default") → the weights shipped in vnaw/weights/
_DEFAULT_STEM = "ferplus_resnet18_48"  # file stem of the shipped encoder


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

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> EncoderMeta:
        """Validate and convert a decoded JSON object; errors name ``source``."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"{source}: unknown encoder field(s) {unknown}; known: {sorted(known)}"
            )
        for required in ("backbone", "input_size", "channels", "mean", "std", "classes"):
            if required not in data:
                raise ValueError(f"{source}: encoder JSON lacks the field {required!r}")
        meta = cls(**data)
        meta.mean, meta.std, meta.classes = tuple(meta.mean), tuple(meta.std), tuple(meta.classes)
        if meta.channels not in (1, 3):
            raise ValueError(f"{source}: channels must be 1 or 3, got {meta.channels}")
        if len(meta.mean) != meta.channels or len(meta.std) != meta.channels:
            raise ValueError(f"{source}: mean/std need {meta.channels} value(s) each")
        if tuple(meta.classes) != CLASSES:
            raise ValueError(f"{source}: classes {list(meta.classes)} differ from {list(CLASSES)}")
        return meta


def build_trunk(meta: EncoderMeta) -> nn.Module:
    """A randomly initialised timm trunk (no classifier) for ``meta``; sets ``meta.feature_size``.

    Never downloads: weights come from our own files (or training).
    """
    import timm

    trunk = timm.create_model(
        meta.backbone,
        pretrained=False,
        num_classes=0,  # pooled pre-logits features, SPEC §5
        in_chans=meta.channels,
        **meta.model_kwargs,
    )
    if not meta.stem_pool:
        if not isinstance(getattr(trunk, "maxpool", None), nn.MaxPool2d):
            raise ValueError(
                f"stem_pool=False needs a trunk with a stem max-pool; {meta.backbone} has none"
            )
        trunk.maxpool = nn.Identity()
    meta.feature_size = int(trunk.num_features)
    return trunk


class ImageClassifier(nn.Module):
    """Trunk + linear head: an 8-class expression classifier for single face crops (SPEC §5)."""

    def __init__(self, meta: EncoderMeta | None = None) -> None:
        super().__init__()
        self.meta = meta if meta is not None else EncoderMeta()
        self.trunk = build_trunk(self.meta)
        self.head = nn.Linear(self.meta.feature_size, len(self.meta.classes))

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, C, H, W)`` normalised images → ``(N, D)`` pooled features, eq. (6)."""
        return self.trunk(x)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W)`` normalised images → ``(N, 8)`` logits."""
        return self.head(self.forward_features(x))

    def proba(self, x: Tensor, *, flip: bool = True) -> Tensor:
        """``(N, C, H, W)`` normalised images → ``(N, 8)`` probabilities.

        ``flip`` averages the softmax of each image and its horizontal mirror (test-time
        augmentation; NLA trains the two to agree, SPEC §5). It costs a second forward pass and
        adds 0.7 points of FERPlus test accuracy to the shipped encoder (MODEL_CARD.md).
        """
        if not flip:
            return F.softmax(self(x).float(), dim=1)
        both = F.softmax(self(torch.cat([x, x.flip(-1)])).float(), dim=1)
        return both.view(2, len(x), -1).mean(0)

    # -- files -------------------------------------------------------------------------------

    def save(self, path: str | Path, *, half: bool = False) -> tuple[Path, Path]:
        """Write ``<stem>.safetensors`` and ``<stem>.json``; ``half`` stores fp16 weights."""
        from safetensors.torch import save_file

        weights_path, meta_path = encoder_paths(path)
        weights_path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        if half:
            state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        save_file(state, str(weights_path), metadata={"format": "vnaw-encoder"})
        meta_path.write_text(self.meta.to_json())
        return weights_path, meta_path

    @classmethod
    def from_file(
        cls, path: str | Path, map_location: str | torch.device = "cpu"
    ) -> ImageClassifier:
        """Load an encoder saved by :meth:`save` (either file of the pair, or their common stem)."""
        from safetensors.torch import load_file

        weights_path, meta_path = encoder_paths(path)
        for p in (weights_path, meta_path):
            if not p.is_file():
                raise FileNotFoundError(f"encoder file not found: {p}")
        meta = read_meta(meta_path)
        model = cls(meta)
        state = load_file(str(weights_path), device=str(map_location))
        expected = model.state_dict()
        problems = [
            f"{k}: file {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
            for k, v in state.items()
            if k in expected and v.shape != expected[k].shape
        ]
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        if problems or missing or extra:
            raise ValueError(
                f"{weights_path} does not match the model described by {meta_path}: "
                f"shape mismatches {problems[:5]}, missing {missing[:5]}, unexpected {extra[:5]}"
            )
        # fp16 files are upcast: CPU inference in half precision is slow and inexact.
        model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
        return model.eval()

    @classmethod
    def from_default(cls) -> ImageClassifier:
        """The encoder shipped in ``vnaw/weights/`` (see its ``MODEL_CARD.md``)."""
        return cls.from_file(default_encoder_path())

    @classmethod
    def load(
        cls, path_or_name: str | Path, map_location: str | torch.device = "cpu"
    ) -> ImageClassifier:
        """``"default"`` (the shipped weights) or the path of an encoder pair."""
        if str(path_or_name) == DEFAULT_NAME:
            return cls.from_default()
        return cls.from_file(path_or_name, map_location=map_location)

    # -- inference ---------------------------------------------------------------------------

    @torch.no_grad()
    def predict_proba(
        self, images: list[np.ndarray] | np.ndarray, batch_size: int = 256, *, flip: bool = True
    ) -> np.ndarray:
        """Class probabilities ``(N, 8)`` for uint8 face crops, columns in SPEC §2 order.

        Args:
            images: a list of ``H×W`` grey or ``H×W×3`` RGB uint8 arrays, any size (or one array
                stacking such crops).
            batch_size: crops per forward pass.
            flip: average with the mirrored crop (see :meth:`proba`); ``False`` halves the cost.
        """
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        out = []
        for start in range(0, len(images), batch_size):
            x = preprocess(images[start : start + batch_size], self.meta).to(device)
            out.append(self.proba(x, flip=flip).cpu())
        self.train(was_training)
        if not out:
            return np.zeros((0, len(self.meta.classes)), dtype=np.float32)
        return torch.cat(out).numpy()


# -- helpers -----------------------------------------------------------------------------------


def encoder_paths(path: str | Path) -> tuple[Path, Path]:
    """``(weights, json)`` paths of an encoder given either file or their common stem."""
    path = Path(path)
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    return path.with_suffix(".safetensors"), path.with_suffix(".json")


def read_meta(path: str | Path) -> EncoderMeta:
    """Read and validate an encoder JSON; errors name the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return EncoderMeta.from_dict(data, source=str(path))


def default_encoder_path() -> Path:
    """Path (stem) of the shipped encoder; raises if the package was installed without it."""
    root = Path(str(resources.files("vnaw"))) / "weights"  # package data, not a package
    stem = root / _DEFAULT_STEM
    if not stem.with_suffix(".safetensors").is_file():
        raise FileNotFoundError(
            f"the default encoder is missing from the package: {stem}.safetensors"
        )
    return stem


def _to_channels(img: np.ndarray, channels: int) -> np.ndarray:
    """One uint8 crop ``H×W`` / ``H×W×1`` / ``H×W×3`` → ``H×W×channels``."""
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ValueError(f"a face crop must be H×W or H×W×3, got shape {img.shape}")
    if img.shape[2] == channels:
        return img
    if channels == 3:
        return np.repeat(img, 3, axis=2)
    # ITU-R BT.601 luma, the weights PIL's "L" conversion uses: FERPlus faces are grey of this kind.
    grey = img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)[:, :, None]


def preprocess(
    images: list[np.ndarray] | np.ndarray, meta: EncoderMeta, *, normalized: bool = True
) -> Tensor:
    """uint8 crops (any size, grey or RGB) → normalised float ``(N, C, S, S)``, ``S = input_size``.

    Each crop is converted to ``meta.channels``, resized with antialiased bilinear interpolation,
    scaled to [0, 1] and normalised with ``meta.mean``/``meta.std`` (skipped with
    ``normalized=False``: end-to-end training erases pixels first, then normalises).
    """
    batch = []
    for i, img in enumerate(images):
        img = np.asarray(img)
        if img.dtype != np.uint8:
            raise ValueError(f"face crop {i} must be uint8, got {img.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(_to_channels(img, meta.channels)))
        x = x.permute(2, 0, 1)[None].float()  # (H, W, C) -> (1, C, H, W)
        if x.shape[-2:] != (meta.input_size, meta.input_size):
            x = F.interpolate(
                x, size=(meta.input_size, meta.input_size), mode="bilinear", antialias=True
            )
        batch.append(x)
    if not batch:
        return torch.zeros(0, meta.channels, meta.input_size, meta.input_size)
    x = torch.cat(batch) / 255.0
    return normalize(x, meta) if normalized else x


def normalize(x: Tensor, meta: EncoderMeta) -> Tensor:
    """``(N, C, H, W)`` in [0, 1] → normalised with the encoder's mean/std."""
    mean = torch.tensor(meta.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std = torch.tensor(meta.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std


def load_encoder(
    path_or_name: str | Path = DEFAULT_NAME, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, EncoderMeta]:
    """The feature extractor for ``vnaw extract``: ``(trunk, meta)``, trunk in eval mode.

    ``path_or_name`` is ``"default"`` (the shipped weights) or the path of an encoder pair (either
    file or the common stem). ``trunk(preprocess(crops, meta))`` gives ``(N, meta.feature_size)``
    pooled features, eq. (6).
    """
    model = ImageClassifier.load(path_or_name, map_location=map_location)
    return model.trunk.eval(), model.meta
