"""Image encoder: a timm trunk plus a linear 8-class head — paper §3.5, eq. 6; design §5.

The trunk is any ``timm`` backbone created with ``num_classes=0``: its output is the pooled
pre-logits vector, the frame feature ``E(x)`` of eq. 6. For NLA pretraining (design §5) a linear
head turns it into logits over the 8 classes of design §2; the video model later drops the head.

An encoder is stored as two files side by side (the form ``vnaw extract`` reads):

* ``<name>.safetensors`` — the state dict (``trunk.*`` and ``head.*``), fp32 or fp16;
* ``<name>.json`` — :class:`EncoderMeta`: timm name and keyword arguments, input size, channels,
  normalisation mean/std, class names, feature size.

Public entry points:

* :class:`ImageClassifier` — ``from_default()``, ``from_file(path)``, ``predict_proba(images)``;
* :func:`load_encoder` — an :class:`Encoder` (trunk, how to feed it, where its weights came from)
  from ``"default"``, an encoder file, or a timm name with a weights file;
* :func:`encoder_from_identity` — the same encoder again from the identity a feature store or a run
  recorded.

Crops become trunk input through :mod:`vnaw.models.preprocess`, the one preprocessing path.

Symbols → names: ``E(·)`` → ``trunk``; ``E(x_p)`` → ``features`` ``(N, D)``, ``D`` →
``meta.feature_size``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vnaw.errors import ConfigError, ModelFileError
from vnaw.files import atomic_text, load_into, load_state_dict, save_safetensors
from vnaw.models.meta import (
    DEFAULT_NAME,
    EncoderMeta,
    default_encoder_path,
    encoder_paths,
    read_logit_bias,
    read_meta,
)
from vnaw.models.preprocess import apply_logit_bias, preprocess

__all__ = [
    "DEFAULT_NAME",
    "EncoderMeta",
    "ImageClassifier",
    "build_trunk",
    "channels_last",
    "default_encoder_path",
    "encoder_paths",
    "read_meta",
]


def build_trunk(meta: EncoderMeta) -> nn.Module:
    """A randomly initialised timm trunk (no classifier) for ``meta``; sets ``meta.feature_size``.

    Never downloads: weights come from our own files (or training).
    """
    import timm

    try:
        trunk = timm.create_model(
            meta.backbone,
            pretrained=False,
            num_classes=0,  # pooled pre-logits features, design §5
            in_chans=meta.channels,
            **meta.model_kwargs,
        )
    except (RuntimeError, TypeError, ValueError) as err:  # unknown name or keyword
        raise ConfigError(f"backbone {meta.backbone!r} with {meta.model_kwargs}: {err}") from None
    if not meta.stem_pool:
        if not isinstance(getattr(trunk, "maxpool", None), nn.MaxPool2d):
            raise ConfigError(
                f"stem_pool=False needs a trunk with a stem max-pool; {meta.backbone} has none "
                "(set model.stem_pool=true)"
            )
        trunk.maxpool = nn.Identity()
    meta.feature_size = int(trunk.num_features)
    return channels_last(trunk)


def _to_channels_last(module: nn.Module, args: tuple) -> tuple:
    x = args[0]
    if isinstance(x, Tensor) and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return (x, *args[1:])


def channels_last(trunk: nn.Module) -> nn.Module:
    """Run ``trunk``'s convolutions in NHWC layout: on CPU the shipped encoder's forward pass is
    ≈1.4× and a pretraining step ≈1.15× faster (``benchmarks/pretrain_throughput.py``), with the
    same outputs up to rounding. Weights are converted in place (``.to(device)`` and
    ``load_state_dict`` keep the layout; weight files stay plain), and a pre-hook converts each
    ``(N, C, H, W)`` input."""
    trunk.to(memory_format=torch.channels_last)
    trunk.register_forward_pre_hook(_to_channels_last)
    return trunk


class ImageClassifier(nn.Module):
    """Trunk + linear head: an 8-class expression classifier for single face crops (design §5)."""

    def __init__(self, meta: EncoderMeta | None = None) -> None:
        super().__init__()
        self.meta = meta if meta is not None else EncoderMeta()
        self.trunk = build_trunk(self.meta)
        self.head = nn.Linear(self.meta.feature_size, len(self.meta.classes))
        # Per-class log offsets applied by predict_proba (read from <stem>_logit_bias.json by
        # from_file; None: none). Not part of the weights: training never sees them.
        self.logit_bias: list[float] | None = None

    def forward_features(self, x: Tensor) -> Tensor:
        """``(N, C, H, W)`` normalised images → ``(N, D)`` pooled features, eq. 6."""
        return self.trunk(x)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W)`` normalised images → ``(N, 8)`` logits."""
        return self.head(self.forward_features(x))

    def proba(self, x: Tensor, *, flip: bool = True) -> Tensor:
        """``(N, C, H, W)`` normalised images → ``(N, 8)`` probabilities.

        ``flip`` averages the softmax of each image and its horizontal mirror (test-time
        augmentation; NLA trains the two to agree, design §5). It costs a second forward pass and
        adds 0.7 points of FERPlus test accuracy to the shipped encoder (MODEL_CARD.md).
        """
        if not flip:
            return F.softmax(self(x).float(), dim=1)
        both = F.softmax(self(torch.cat([x, x.flip(-1)])).float(), dim=1)
        return both.view(2, len(x), -1).mean(0)

    # -- files -------------------------------------------------------------------------------

    def save(self, path: str | Path, *, half: bool = False) -> tuple[Path, Path]:
        """Write ``<stem>.safetensors`` and ``<stem>.json`` (atomically); ``half`` stores fp16."""
        weights_path, meta_path = encoder_paths(path)
        state = dict(self.state_dict())
        if half:
            state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        save_safetensors(weights_path, state, metadata={"format": "vnaw-encoder"})
        atomic_text(meta_path, self.meta.to_json())
        return weights_path, meta_path

    @classmethod
    def from_file(
        cls, path: str | Path, map_location: str | torch.device = "cpu"
    ) -> ImageClassifier:
        """Load an encoder saved by :meth:`save` (either file of the pair, or their common stem)."""
        weights_path, meta_path = encoder_paths(path)
        for p in (weights_path, meta_path):
            if not p.is_file():
                raise ModelFileError(f"{p}: encoder file not found")
        model = cls(read_meta(meta_path))
        # fp16 files are upcast: CPU inference in half precision is slow and inexact.
        load_into(model, load_state_dict(weights_path), weights_path)
        model.logit_bias = read_logit_bias(weights_path)
        return model.to(map_location).eval()

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
        """Class probabilities ``(N, 8)`` for uint8 face crops, columns in design §2 order.

        The encoder's decision offsets (:attr:`logit_bias`, shipped beside the weights) are
        applied to the (mirror-averaged) probabilities.

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
        return apply_logit_bias(torch.cat(out).numpy(), self.logit_bias)

    def predict_relative(
        self,
        images: list[np.ndarray] | np.ndarray,
        baseline_images: list[np.ndarray] | np.ndarray | None = None,
        *,
        flip: bool = True,
        config=None,
    ) -> np.ndarray:
        """Person-relative probabilities ``(N, 8)`` for face crops of **one person in one session**.

        Each image is read against the person's baseline (:mod:`vnaw.models.baseline`):
        estimated from ``images`` themselves (their most neutral ones) when ``baseline_images`` is
        ``None``, else from ``baseline_images`` (neutral images of the person). Neutral means "no
        class rises above the baseline by the margin". Where the baseline cannot be trusted (too
        few images, none looks neutral, an image whose lighting or framing differs too much from
        the baseline's) the row is :meth:`predict_proba`'s raw probabilities.
        ``config``: a :class:`~vnaw.models.baseline.BaselineConfig` (default: the shipped one).
        """
        from vnaw.models.baseline import (
            BaselineConfig,
            appearance,
            baseline_from,
            log_probs,
            relative_scores,
            track_baseline,
        )

        config = config or BaselineConfig()
        probs = self.predict_proba(images, flip=flip)
        looks = np.stack([appearance(im) for im in images]) if len(images) else None
        if baseline_images is None:
            base = track_baseline(log_probs(probs), config, looks)
        else:
            ref = self.predict_proba(baseline_images, flip=flip)
            ref_looks = np.stack([appearance(im) for im in baseline_images])
            base = baseline_from(log_probs(ref), config, ref_looks)
        return relative_scores(probs, base, config, looks)[0].astype(np.float32)
