"""RetinaFace, the paper's face detector (§4.2), for weights that the user supplies (design §4).

The network (Deng et al., *RetinaFace: Single-stage Dense Face Localisation in the Wild*, CVPR
2020) as in the widely used PyTorch release whose checkpoints researchers already have
(``mobilenet0.25_Final.pth``, ``Resnet50_Final.pth``): a backbone (MobileNetV1 ×0.25 or
ResNet-50) gives three feature maps at strides 8, 16 and 32; an FPN mixes them, an SSH context
module refines each, and per map position two anchors each get a face score, a box and five
landmarks. The module and parameter names follow that release so its checkpoints load as they
are; nothing is downloaded — the weights file is named by the user.

Decoding (:func:`decode`) follows the SSD convention with variances (0.1, 0.2): a prediction
``(dx, dy, dw, dh)`` relative to an anchor ``(cx, cy, w, h)`` is the box centre
``(cx + 0.1·dx·w, cy + 0.1·dy·h)`` and size ``(w·e^{0.2·dw}, h·e^{0.2·dh})``; landmarks are
offsets of the centre like the box centre. Input: BGR pixels minus the means (104, 117, 123),
unscaled, at the frame's own size.
"""

from __future__ import annotations

import os
from itertools import product

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vnaw.errors import ModelFileError
from vnaw.faces.align import with_crops
from vnaw.faces.track import overlap
from vnaw.faces.types import Face, FaceConfig
from vnaw.files import load_into, load_state_dict

STEPS = (8, 16, 32)  # strides of the three feature maps
ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))  # square anchors per map, pixels
VARIANCES = (0.1, 0.2)
BGR_MEAN = (104.0, 117.0, 123.0)
NMS_IOU = 0.4
MAX_OVERLAP = 0.3  # of the smaller box, as faces.dedupe
# backbone → (channels of the three maps, FPN/SSH width)
BACKBONES = {"mobilenet0.25": ((64, 128, 256), 64), "resnet50": ((512, 1024, 2048), 256)}


def _conv_bn(cin: int, cout: int, stride: int = 1, k: int = 3, leaky: float | None = 0.0):
    """Conv (no bias) + BatchNorm (+ LeakyReLU unless ``leaky`` is None)."""
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)]
    if leaky is not None:
        layers.append(nn.LeakyReLU(leaky, inplace=True))
    return nn.Sequential(*layers)


def _conv_dw(cin: int, cout: int, stride: int) -> nn.Sequential:
    """Depthwise-separable block of MobileNetV1: 3×3 depthwise, then 1×1 pointwise."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.LeakyReLU(0.1, inplace=True),
        nn.Conv2d(cin, cout, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.1, inplace=True),
    )


class MobileNetV1x025(nn.Module):
    """MobileNetV1 at width 0.25, cut into the three stages whose outputs feed the FPN."""

    def __init__(self) -> None:
        super().__init__()
        # (in, out, stride) per depthwise block
        s1 = [(8, 16, 1), (16, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1)]
        s2 = [(64, 128, 2)] + [(128, 128, 1)] * 5
        s3 = [(128, 256, 2), (256, 256, 1)]
        self.stage1 = nn.Sequential(_conv_bn(3, 8, 2, leaky=0.1), *(_conv_dw(*b) for b in s1))
        self.stage2 = nn.Sequential(*(_conv_dw(*b) for b in s2))
        self.stage3 = nn.Sequential(*(_conv_dw(*b) for b in s3))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        c1 = self.stage1(x)
        c2 = self.stage2(c1)
        return [c1, c2, self.stage3(c2)]


class ResNet50Body(nn.Module):
    """torchvision's ResNet-50 without its classifier; outputs of layer2, layer3 and layer4."""

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models import resnet50

        net = resnet50(weights=None)
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            setattr(self, name, getattr(net, name))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.layer1(self.maxpool(self.relu(self.bn1(self.conv1(x)))))
        c2 = self.layer2(x)
        c3 = self.layer3(c2)
        return [c2, c3, self.layer4(c3)]


class FPN(nn.Module):
    """Top-down feature pyramid: 1×1 lateral convs, nearest upsampling, 3×3 merge convs."""

    def __init__(self, channels: tuple[int, int, int], width: int) -> None:
        super().__init__()
        leaky = 0.1 if width <= 64 else 0.0
        self.output1, self.output2, self.output3 = (
            _conv_bn(c, width, k=1, leaky=leaky) for c in channels
        )
        self.merge1 = _conv_bn(width, width, leaky=leaky)
        self.merge2 = _conv_bn(width, width, leaky=leaky)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        p1, p2, p3 = self.output1(feats[0]), self.output2(feats[1]), self.output3(feats[2])
        p2 = self.merge2(p2 + F.interpolate(p3, size=p2.shape[-2:], mode="nearest"))
        p1 = self.merge1(p1 + F.interpolate(p2, size=p1.shape[-2:], mode="nearest"))
        return [p1, p2, p3]


class SSH(nn.Module):
    """Context module: parallel 3×3, 5×5 and 7×7 receptive fields (stacked 3×3s), concatenated."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        leaky = 0.1 if cout <= 64 else 0.0
        self.conv3X3 = _conv_bn(cin, cout // 2, leaky=None)
        self.conv5X5_1 = _conv_bn(cin, cout // 4, leaky=leaky)
        self.conv5X5_2 = _conv_bn(cout // 4, cout // 4, leaky=None)
        self.conv7X7_2 = _conv_bn(cout // 4, cout // 4, leaky=leaky)
        self.conv7x7_3 = _conv_bn(cout // 4, cout // 4, leaky=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mid = self.conv5X5_1(x)
        c5 = self.conv5X5_2(mid)
        c7 = self.conv7x7_3(self.conv7X7_2(mid))
        return F.relu(torch.cat([self.conv3X3(x), c5, c7], dim=1))


class _Head(nn.Module):
    """1×1 conv giving ``per_anchor`` numbers for each of the 2 anchors of every position."""

    def __init__(self, cin: int, per_anchor: int) -> None:
        super().__init__()
        self.per_anchor = per_anchor
        self.conv1x1 = nn.Conv2d(cin, 2 * per_anchor, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (N, A·k, H, W) → (N, H·W·A, k): row-major positions, anchors innermost (as priors()).
        return self.conv1x1(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1, self.per_anchor)


class RetinaFace(nn.Module):
    """Backbone → FPN → SSH ×3 → class / box / landmark heads. ``forward`` returns raw outputs:
    box offsets (N, A, 4), face probabilities (N, A) and landmark offsets (N, A, 10)."""

    def __init__(self, backbone: str = "mobilenet0.25") -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"unknown RetinaFace backbone {backbone!r}; choose {list(BACKBONES)}")
        self.backbone = backbone
        channels, width = BACKBONES[backbone]
        self.body = MobileNetV1x025() if backbone == "mobilenet0.25" else ResNet50Body()
        self.fpn = FPN(channels, width)
        self.ssh1, self.ssh2, self.ssh3 = (SSH(width, width) for _ in range(3))
        self.ClassHead = nn.ModuleList(_Head(width, 2) for _ in range(3))
        self.BboxHead = nn.ModuleList(_Head(width, 4) for _ in range(3))
        self.LandmarkHead = nn.ModuleList(_Head(width, 10) for _ in range(3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p = self.fpn(self.body(x))
        feats = [self.ssh1(p[0]), self.ssh2(p[1]), self.ssh3(p[2])]
        boxes = torch.cat([h(f) for h, f in zip(self.BboxHead, feats, strict=True)], dim=1)
        logits = torch.cat([h(f) for h, f in zip(self.ClassHead, feats, strict=True)], dim=1)
        marks = torch.cat([h(f) for h, f in zip(self.LandmarkHead, feats, strict=True)], dim=1)
        return boxes, logits.softmax(-1)[..., 1], marks


def priors(height: int, width: int) -> torch.Tensor:
    """Anchors ``(cx, cy, w, h)`` in pixels for an image of this size, in the heads' order."""
    rows = []
    for step, sizes in zip(STEPS, ANCHOR_SIZES, strict=True):
        # stride-2 convs with padding 1 give ceil(H / step) rows
        for i, j in product(range(-(-height // step)), range(-(-width // step))):
            rows += [((j + 0.5) * step, (i + 0.5) * step, s, s) for s in sizes]
    return torch.tensor(rows, dtype=torch.float32)


def decode(
    anchors: torch.Tensor, box_offsets: torch.Tensor, mark_offsets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Offsets → boxes ``(x0, y0, x1, y1)`` (A, 4) and landmarks (A, 5, 2), pixels (docstring)."""
    centre, size = anchors[:, :2], anchors[:, 2:]
    c = centre + VARIANCES[0] * box_offsets[:, :2] * size
    wh = size * torch.exp(VARIANCES[1] * box_offsets[:, 2:])
    boxes = torch.cat([c - wh / 2, c + wh / 2], dim=1)
    marks = centre[:, None] + VARIANCES[0] * mark_offsets.reshape(-1, 5, 2) * size[:, None]
    return boxes, marks


def load_retinaface(path: str | os.PathLike[str]) -> RetinaFace:
    """A RetinaFace from a checkpoint (``.pth``/``.pt`` state dict, read with ``weights_only``,
    or ``.safetensors``); the backbone is recognised from the parameter names."""
    state = load_state_dict(path)
    # checkpoints saved from nn.DataParallel carry a "module." prefix
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if any(k.startswith("body.stage1.") for k in state):
        backbone = "mobilenet0.25"
    elif any(k.startswith("body.layer1.") for k in state):
        backbone = "resnet50"
    else:
        raise ModelFileError(
            f"{path}: not a RetinaFace checkpoint (no body.stage1.* / body.layer1.* parameters; "
            "MobileNet-0.25 and ResNet-50 RetinaFace checkpoints are supported)"
        )
    model = RetinaFace(backbone)
    load_into(model, state, f"{path} (RetinaFace {backbone})")
    return model.eval()


class RetinaFaces:
    """Face detector for ``vnaw faces`` / ``vnaw predict``: RetinaFace on every frame.

    RetinaFace gives the five landmarks of the alignment template directly (image-left eye,
    image-right eye, nose tip, mouth corners), so no landmark model and no region tracking are
    needed; faces are linked across frames by the IoU tracker downstream. Per frame the most
    confident faces are kept, at most ``config.max_faces``, above ``min_detection_confidence``.
    """

    def __init__(self, weights: str | os.PathLike[str], config: FaceConfig) -> None:
        self.config = config
        self.model = load_retinaface(weights)
        self._anchors: dict[tuple[int, int], torch.Tensor] = {}

    @torch.no_grad()
    def __call__(self, rgb: np.ndarray) -> list[Face]:
        from torchvision.ops import nms

        h, w = rgb.shape[:2]
        bgr = rgb[:, :, ::-1].astype(np.float32) - np.array(BGR_MEAN, np.float32)
        x = torch.from_numpy(np.ascontiguousarray(bgr.transpose(2, 0, 1)))[None]
        box_off, scores, mark_off = self.model(x)
        if (h, w) not in self._anchors:
            self._anchors[(h, w)] = priors(h, w)
        boxes, marks = decode(self._anchors[(h, w)], box_off[0], mark_off[0])
        keep = scores[0] >= self.config.min_detection_confidence
        boxes, marks, scores = boxes[keep], marks[keep], scores[0][keep]
        faces: list[Face] = []
        for k in nms(boxes, scores, NMS_IOU).tolist():  # best score first
            box = boxes[k].double().numpy()
            # NMS leaves a small box inside a big one (a face part); the better-scored one stays
            if all(overlap(box, f.box) <= MAX_OVERLAP for f in faces):
                faces.append(Face(box, marks[k].double().numpy(), float(scores[k])))
                if len(faces) == self.config.max_faces:
                    break
        return faces

    def many(self, frames) -> list[list[Face]]:
        """The faces of each frame with their crops (every frame is detected on its own)."""
        return [with_crops(rgb, self(rgb), self.config) for rgb in frames]

    def close(self) -> None:
        pass
