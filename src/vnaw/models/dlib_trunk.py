"""A face-pretrained trunk for ``vnaw pretrain``, from dlib's face-recognition network — design §5.

dlib's ``dlib_face_recognition_resnet_model_v1.dat`` (CC0; it ships in the PyPI package
``face_recognition_models``) is a ResNet trained to tell about 3 million faces apart by identity:
a face-pretrained starting point, like those of the 89–92 % FERPlus models the model card cites.
This module reads the file without dlib and writes its trunk as a timm ``resnet18`` state dict
that ``vnaw pretrain model.pretrained=OUT`` loads:

* dlib's levels 4 to 1 (3, 4, 3 and 3 residual blocks of 32, 64, 128 and 256 channels) become
  timm's four stages with ``avg_down`` shortcuts (dlib's stride-2 shortcut is a 2×2 average pool,
  zero-padded to the new width: a 1×1 convolution that copies the old channels does the same);
  dlib's last level (one block on a 2×2 map) and its identity embedding are left out.
* dlib convolutions carry a bias and are followed by fixed affine layers; both fold into timm's
  batch norms. timm's 7×7 stem is 64 wide, dlib's 32: the extra channels are zero.
* The stem is summed over its RGB filters, so the trunk reads grey faces (FERPlus is grey); dlib's
  per-channel input means become one mean and a bias.
* Training normalises with batch statistics, which dlib's fixed affine layers never saw; each norm
  is recalibrated on ``--images`` FERPlus training faces so that batch statistics give back the
  converted network at the first step (in eval mode, exactly).

Checked against dlib itself (its C++ descriptor of a test image): a plain
re-implementation of dlib's network on the weights read here gives dlib's 128 outputs to 2e-7,
and this port, built with an RGB stem, computes that network's features to 5e-7; the grey stem
differs only where its padding reaches the border.

:func:`write_trunk` does all of it; ``scripts/dlib_trunk.py`` is its command line and the shipped
encoder's recipe (``scripts/train_default_encoder.sh``) runs it first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vnaw.errors import ModelFileError

# dlib's network: stem (7×7, stride 2, 32 filters), then levels 4..0 of (width, blocks).
LEVELS = [(32, 3), (64, 4), (128, 3), (256, 3), (256, 1)]
MEAN_RGB = np.array([122.781998, 117.000999, 104.297997], np.float32)  # dlib's input layer
TIMM_KWARGS = {"layers": [3, 4, 3, 3], "channels": [32, 64, 128, 256], "avg_down": True}
MEAN = float(MEAN_RGB.mean() / 255)  # vnaw's normalisation, (x/255 − mean)/std = (x − m)/256
STD = 256 / 255
BN_EPS = 1e-5


class DlibFileError(ModelFileError):
    """A file that is not dlib's face-recognition network as this port reads it."""


def _int(data: bytes, pos: int) -> tuple[int | None, int]:
    """dlib's compact integer: a control byte (byte count, sign in 0x80), then little-endian."""
    ctrl = data[pos]
    n = ctrl & 0x0F
    if ctrl & 0x70 or not 1 <= n <= 8:
        return None, pos
    value = int.from_bytes(data[pos + 1 : pos + 1 + n], "little")
    return (-value if ctrl & 0x80 else value), pos + 1 + n


def _next_tensor(data: bytes, start: int, dims: tuple[int, ...]) -> tuple[np.ndarray, int]:
    """The next tensor of shape ``dims`` at or after ``start``: dlib writes a tensor as version 2,
    its four dimensions, then raw little-endian float32."""
    pos = data.find(b"\x01\x02", start)
    while pos != -1:
        q, got = pos + 2, []
        for _ in range(4):
            value, q = _int(data, q)
            if value is None:
                break
            got.append(value)
        n = int(np.prod(dims))
        if tuple(got) == dims and q + 4 * n <= len(data):
            return np.frombuffer(data, "<f4", n, q).copy(), q + 4 * n
        pos = data.find(b"\x01\x02", pos + 1)
    raise DlibFileError(f"no tensor of shape {dims} after byte {start}")


def read_dat(path: str | Path) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]]:
    """The 29 convolutions of dlib's face-recognition network, input first, each as
    ``(weight (out, in, k, k), bias, affine scale, affine shift, stride)``."""
    if not Path(path).is_file():
        raise DlibFileError(f"{path}: no such file")
    data = Path(path).read_bytes()
    plan = [(3, 32, 7, 2)]
    cin = 32
    for width, blocks in LEVELS:
        for b in range(blocks):
            plan += [(cin, width, 3, 2 if b == 0 and width != 32 else 1), (width, width, 3, 1)]
            cin = width
    layers, pos = [], 0
    try:
        for cin, cout, k, stride in plan:
            params, pos = _next_tensor(data, pos, (cout * cin * k * k + cout, 1, 1, 1))
            affine, pos = _next_tensor(data, pos, (2 * cout, 1, 1, 1))
            weight = params[: cout * cin * k * k].reshape(cout, cin, k, k)
            layers.append((weight, params[-cout:], affine[:cout], affine[cout:], stride))
        _next_tensor(data, pos, (256, 128, 1, 1))  # the embedding: present, not used
    except DlibFileError as err:
        raise DlibFileError(
            f"{path}: not dlib's face-recognition ResNet "
            f"(dlib_face_recognition_resnet_model_v1.dat): {err}"
        ) from None
    return layers


def timm_state(layers: list) -> dict:
    """State dict of ``timm.create_model("resnet18", in_chans=1, **TIMM_KWARGS)`` computing
    dlib's levels 4..1 on grey faces (batch norms in eval mode)."""
    import torch

    state: dict[str, torch.Tensor] = {}

    def conv(name: str, w: np.ndarray) -> None:
        state[name] = torch.from_numpy(np.ascontiguousarray(w, np.float32))

    def norm(name: str, scale: np.ndarray, shift: np.ndarray) -> None:
        # eval-mode BN with mean 0, var 1 − eps is  scale·x + shift
        state[f"{name}.weight"] = torch.from_numpy(scale.astype(np.float32))
        state[f"{name}.bias"] = torch.from_numpy(shift.astype(np.float32))
        state[f"{name}.running_mean"] = torch.zeros(len(scale))
        state[f"{name}.running_var"] = torch.full((len(scale),), 1.0 - BN_EPS)
        state[f"{name}.num_batches_tracked"] = torch.tensor(0)

    w, b, g, beta, _ = layers[0]
    # grey: (x − m_c)/256 = (x − m̄)/256 + (m̄ − m_c)/256 on every channel
    b = b + (w.sum((2, 3)) * (MEAN_RGB.mean() - MEAN_RGB) / 256).sum(1)
    w = w.sum(1, keepdims=True)
    pad = np.zeros(32, np.float32)
    conv("conv1.weight", np.concatenate([w, np.zeros_like(w)]))  # timm's stem is 64 wide
    norm("bn1", np.concatenate([g, pad]), np.concatenate([g * b + beta, pad]))
    i = 1
    for stage, (width, blocks) in enumerate(LEVELS[:4], start=1):
        for block in range(blocks):
            p = f"layer{stage}.{block}"
            for j in (1, 2):
                w, b, g, beta, _ = layers[i]
                i += 1
                if stage == 1 and block == 0 and j == 1:
                    w = np.concatenate([w, np.zeros_like(w)], 1)  # the stem's zero channels
                conv(f"{p}.conv{j}.weight", w)
                norm(f"{p}.bn{j}", g, g * b + beta)
            if block == 0:  # timm adds a shortcut convolution: copy the old channels
                cin = state[f"{p}.conv1.weight"].shape[1]
                eye = np.zeros((width, cin, 1, 1), np.float32)
                old = 32 if stage == 1 else cin
                eye[np.arange(old), np.arange(old)] = 1
                conv(f"{p}.downsample.1.weight", eye)
                norm(f"{p}.downsample.2", np.ones(width, np.float32), np.zeros(width, np.float32))
    return state


def build_trunk(state: dict | None = None):
    """The timm trunk of :data:`TIMM_KWARGS` (grey input), in eval mode, with ``state`` loaded."""
    import timm

    trunk = timm.create_model(
        "resnet18", pretrained=False, num_classes=0, in_chans=1, **TIMM_KWARGS
    )
    if state is not None:
        trunk.load_state_dict(state)
    return trunk.eval()


def calibrate(state: dict, images) -> dict:
    """Norms re-expressed around the statistics of their inputs on ``images`` (N, 1, S, S),
    normalised: the same function in eval mode, and close to it with batch statistics."""
    import torch

    trunk = build_trunk(state)
    sums: dict[str, list] = {}

    def hook(name):
        def record(_module, inputs):
            x = inputs[0].detach().double()
            s = sums.setdefault(name, [0.0, 0.0, 0])
            s[0] = s[0] + x.sum((0, 2, 3))
            s[1] = s[1] + (x * x).sum((0, 2, 3))
            s[2] += x.numel() // x.shape[1]

        return record

    for name, module in trunk.named_modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.register_forward_pre_hook(hook(name))
    with torch.no_grad():
        for batch in torch.split(images, 256):
            trunk(batch)
    out = dict(state)
    for name, (s1, s2, n) in sums.items():
        mean = (s1 / n).float()
        var = (s2 / n - (s1 / n) ** 2).float().clamp_min(0)
        var = torch.where(var < 1e-8, torch.ones_like(var), var)  # the stem's zero channels
        scale = state[f"{name}.weight"] / torch.sqrt(state[f"{name}.running_var"] + BN_EPS)
        shift = state[f"{name}.bias"] - scale * state[f"{name}.running_mean"]
        out[f"{name}.running_mean"], out[f"{name}.running_var"] = mean, var
        out[f"{name}.weight"] = scale * torch.sqrt(var + BN_EPS)
        out[f"{name}.bias"] = scale * mean + shift
    return out


def calibration_faces(paths: Sequence[Path], size: int, count: int, seed: int = 0):
    """``count`` of ``paths`` (a seeded draw) through the package's one preprocessing path, as
    ``vnaw pretrain`` feeds them (grey, resized, normalised): the norms' calibration batch."""
    import torch

    from vnaw.models.preprocess import load_crop, normalize

    pick = np.random.default_rng(seed).choice(len(paths), min(count, len(paths)), replace=False)
    x = torch.from_numpy(np.stack([load_crop(paths[i], size, 1) for i in pick]))
    return normalize(x.float() / 255, [MEAN], [STD])


def pretrain_settings(path: str, size: int) -> list[str]:
    """The ``vnaw pretrain`` ``KEY=VALUE`` overrides that describe the trunk written to ``path``."""
    kwargs = "{layers: [3,4,3,3], channels: [32,64,128,256], avg_down: true}"
    return [
        f"model.pretrained={path}",
        f'"model.model_kwargs={kwargs}"',
        "model.stem_pool=true",
        f"model.input_size={size}",
        "model.channels=1",
        f'"model.mean=[{MEAN}]"',
        f'"model.std=[{STD}]"',
    ]


def write_trunk(
    layers: list, faces: Sequence[Path], out: str | Path, size: int = 96, images: int = 2048
) -> list[str]:
    """Port dlib's ``layers`` (:func:`read_dat`) to a timm trunk, recalibrate its norms on ``images`` of the face images
    ``faces`` (FERPlus's training faces for the shipped encoder) at ``size`` px, write it
    atomically to ``out`` (safetensors); return :func:`pretrain_settings`."""
    from safetensors.torch import save_file

    from vnaw.files import atomic_path

    state = calibrate(timm_state(layers), calibration_faces(faces, size, images))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(Path(out)) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp))
    return pretrain_settings(str(out), size)
