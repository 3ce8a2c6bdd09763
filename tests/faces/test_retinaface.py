"""RetinaFace as the alternative detector of `vnaw faces` / `vnaw predict` (design §4).

No trained RetinaFace weights can be shipped or downloaded here, so the tests check what does not
need them: the anchors line up with the network's outputs, decoding against hand-computed values,
checkpoints in the released layout load (``module.`` prefix, .pth and .safetensors), bad files get
clear errors, and — with the network's output planted at known faces — the whole `vnaw faces`
path from pixels to named tracks and CSV boxes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

import torch

pytest.importorskip("skimage")

from helpers.face_video import write_video
from vnaw.cli import main
from vnaw.faces.align import template
from vnaw.faces.pipeline import FACES_DIR
from vnaw.faces.retinaface import RetinaFace, decode, load_retinaface, priors


@pytest.mark.parametrize(
    "backbone", ["mobilenet0.25", pytest.param("resnet50", marks=pytest.mark.slow)]
)
def test_anchors_line_up_with_the_heads(backbone):
    torch.manual_seed(0)
    model = RetinaFace(backbone).eval()
    h, w = 97, 131  # odd sizes: the maps have ceil(H / stride) rows
    with torch.no_grad():
        boxes, scores, marks = model(torch.randn(1, 3, h, w))
    expected = sum(2 * math.ceil(h / s) * math.ceil(w / s) for s in (8, 16, 32))
    assert boxes.shape == (1, expected, 4) and marks.shape == (1, expected, 10)
    assert scores.shape == (1, expected) and ((scores >= 0) & (scores <= 1)).all()
    a = priors(h, w)
    assert a.shape == (expected, 4)
    # first map: row-major positions, the two anchor sizes innermost
    assert a[:3].tolist() == [[4, 4, 16, 16], [4, 4, 32, 32], [12, 4, 16, 16]]
    assert a[-1].tolist() == [4 * 32 + 16, 3 * 32 + 16, 512, 512]  # last cell of the third map


def test_resnet50_matches_the_released_checkpoint_size():
    # Resnet50_Final.pth, the released ResNet-50 RetinaFace, is 109,497,761 bytes of fp32 tensors
    # plus pickle overhead: the same layers hold the same number of values.
    state = RetinaFace("resnet50").state_dict()
    nbytes = sum(v.numel() * v.element_size() for v in state.values())
    assert 0 < 109_497_761 - nbytes < 0.002 * 109_497_761


def test_decode_matches_hand_computed_values():
    anchor = torch.tensor([[100.0, 50.0, 64.0, 64.0]])
    offsets = torch.tensor([[1.0, -2.0, math.log(2) / 0.2, 0.0]])
    marks = torch.tensor([[1.0, 1.0, 0, 0, -1, 0, 0, -1, 0.5, 0.5]])
    box, pts = decode(anchor, offsets, marks)
    # centre 100 + 0.1·1·64, 50 − 0.1·2·64; size 64·2 × 64
    assert torch.allclose(box, torch.tensor([[42.4, 5.2, 170.4, 69.2]]))
    want = [[106.4, 56.4], [100, 50], [93.6, 50], [100, 43.6], [103.2, 53.2]]
    assert torch.allclose(pts[0], torch.tensor(want))


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_released_checkpoint_layout_loads(tmp_path, suffix):
    torch.manual_seed(1)
    model = RetinaFace("mobilenet0.25").eval()
    path = tmp_path / f"mobilenet0.25_Final{suffix}"
    if suffix == ".pth":  # as released: saved from nn.DataParallel
        torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, path)
    else:
        from safetensors.torch import save_file

        save_file(model.state_dict(), str(path))
    loaded = load_retinaface(path)
    assert loaded.backbone == "mobilenet0.25" and not loaded.training
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        for a, b in zip(model(x), loaded(x), strict=True):
            assert torch.equal(a, b)


def test_bad_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"nothere\.pth: file not found"):
        load_retinaface(tmp_path / "nothere.pth")
    text = tmp_path / "notes.pth"
    text.write_text("not weights\n")
    with pytest.raises(ValueError, match=r"notes\.pth: not a readable weights file"):
        load_retinaface(text)
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3)}, other)
    with pytest.raises(ValueError, match=r"other\.pth: not a RetinaFace checkpoint"):
        load_retinaface(other)
    state = RetinaFace("mobilenet0.25").state_dict()
    state["ClassHead.0.conv1x1.weight"] = torch.zeros(6, 64, 1, 1)  # 3 anchors, not 2
    del state["fpn.merge1.0.weight"]
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    with pytest.raises(ValueError) as err:
        load_retinaface(bad)
    msg = str(err.value)
    assert "bad.pth" in msg and "1 missing (e.g. fpn.merge1.0.weight)" in msg
    assert "1 wrong shape (e.g. ClassHead.0.conv1x1.weight: file (6, 64, 1, 1) vs model" in msg


def _planted_forward(faces: list[tuple[float, float, float, float]]):
    """A RetinaFace.forward whose outputs say: these boxes are faces (score 0.99, and a weaker
    duplicate one cell away that NMS must remove), landmarks on the template inside each box."""

    def forward(self, x):
        h, w = x.shape[-2:]
        a = priors(h, w)
        boxes = torch.zeros(1, len(a), 4)
        marks = torch.zeros(1, len(a), 10)
        scores = torch.full((1, len(a)), 0.01)
        unit = torch.tensor(template(1), dtype=torch.float32)  # template in a unit square
        for x0, y0, x1, y1 in faces:
            centre = torch.tensor([(x0 + x1) / 2, (y0 + y1) / 2])
            size = torch.tensor([x1 - x0, y1 - y0])
            dist = (a[:, :2] - centre).norm(dim=1) + 1e3 * (a[:, 2] != 128)
            for rank, score in ((0, 0.99), (1, 0.9)):
                i = int(dist.argsort()[rank])
                # the inverse of decode(): offsets that reproduce this exact box and landmarks
                boxes[0, i, :2] = (centre - a[i, :2]) / (0.1 * a[i, 2:])
                boxes[0, i, 2:] = torch.log(size / a[i, 2:]) / 0.2
                pts = torch.tensor([x0, y0]) + unit * size
                marks[0, i] = ((pts - a[i, :2]) / (0.1 * a[i, 2:])).reshape(-1)
                scores[0, i] = score
        return boxes, scores, marks

    return forward


@pytest.mark.slow
def test_faces_cli_with_retinaface(tmp_path, monkeypatch, capsys):
    video = write_video(tmp_path / "pair.mp4", 5, faces=2)  # 150 px faces at y = 105
    weights = tmp_path / "Resnet50_Final.pth"
    torch.save({f"module.{k}": v for k, v in RetinaFace("resnet50").state_dict().items()}, weights)
    planted = [(20.0, 105.0, 170.0, 255.0), (470.0, 105.0, 620.0, 255.0)]
    monkeypatch.setattr(RetinaFace, "forward", _planted_forward(planted))
    args = ["faces", str(video), "--out", str(tmp_path / "root"), "--quiet"]
    assert main([*args, "--detector", "retinaface", "--detector-weights", str(weights)]) == 0
    table = pd.read_csv(tmp_path / "root" / FACES_DIR / "pair.csv")
    assert len(table) == 10 and (table["face_found"] == 1).all()  # 5 frames × 2 faces
    for side, box in zip(("left", "right"), planted, strict=True):
        rows = table[table["track"] == f"pair_{side}"]
        assert len(rows) == 5 and (rows["score"] == 0.99).all()
        assert np.allclose(rows[["x0", "y0", "x1", "y1"]].to_numpy(), box, atol=0.01)
        eye = template(1)[0] * 150 + box[:2]
        assert np.allclose(rows[["eye_l_x", "eye_l_y"]].to_numpy(), eye, atol=0.01)
        crops = sorted((tmp_path / "root" / "cropped_aligned" / f"pair_{side}").glob("*.jpg"))
        assert [c.name for c in crops] == [f"{k:05d}.jpg" for k in range(1, 6)]
    # predict streams through the same detector: one table, a track per face, every frame found
    out = tmp_path / "pred"
    args = ["predict", str(video), "--out", str(out), "--quiet", "--detector", "retinaface"]
    assert main([*args, "--detector-weights", str(weights)]) == 0
    pred = pd.read_csv(out / "pair.csv")
    for track, box in zip((1, 2), planted, strict=True):  # numbered left to right
        rows = pred[pred["track"] == track]
        assert len(rows) == 5 and (rows["face_found"] == 1).all()
        assert np.allclose(rows[["x0", "y0", "x1", "y1"]].to_numpy(), box, atol=0.01)


def test_retinaface_needs_a_weights_file(tmp_path, capsys):
    video = write_video(tmp_path / "v.mp4", 2, faces=0)
    for extra, words in [
        ([], "needs --detector-weights FILE"),
        (["--detector-weights", str(tmp_path / "nothere.pth")], "nothere.pth: file not found"),
    ]:
        for cmd in ("faces", "predict"):
            out = ["--out", str(tmp_path / cmd)]
            assert main([cmd, str(video), *out, "--detector", "retinaface", *extra]) == 2
            assert words in capsys.readouterr().err
    assert not (tmp_path / "faces" / FACES_DIR).exists()  # nothing written
