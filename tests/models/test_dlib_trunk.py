"""vnaw.models.dlib_trunk: dlib's face-recognition ResNet read without dlib and ported to a timm
trunk. The reference is a direct implementation of dlib's layer semantics (convolution with bias,
fixed affine, ReLU, residual add with an average-pooled, zero-padded shortcut), written here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import torch
import torch.nn.functional as F

from vnaw.models import dlib_trunk

SCRIPT = Path(__file__).parents[2] / "scripts" / "dlib_trunk.py"


def _int(v: int) -> bytes:
    n = max(1, (v.bit_length() + 7) // 8)
    return bytes([n]) + v.to_bytes(n, "little")


def _tensor(values: np.ndarray, dims: tuple[int, ...]) -> bytes:
    return b"\x01\x02" + b"".join(_int(d) for d in dims) + values.astype("<f4").tobytes()


def _fake_dat(path: Path, seed: int = 0) -> list:
    """A file laid out as dlib writes the network (input first), with layer names, other fields
    and a decoy tensor header between the tensors; returns the layers it holds."""
    rng = np.random.default_rng(seed)
    chunks, layers, cin = [b"\x01\x0binput_rgb_image_sized", _int(150)], [], 3
    plan = [(32, 7, 2)] + [
        (w, 3, 2 if b == 0 and w != 32 else 1) for w, n in dlib_trunk.LEVELS for b in range(n)
    ]
    for cout, k, stride in plan:
        for conv_in, conv_stride in ((cin, stride), (cout, 1)) if k == 3 else ((cin, stride),):
            w = rng.normal(0, (2 / (conv_in * k * k)) ** 0.5, (cout, conv_in, k, k)).astype("f4")
            b = rng.normal(0, 0.1, cout).astype("f4")
            g = rng.uniform(0.5, 1.5, cout).astype("f4")
            beta = rng.normal(0, 0.1, cout).astype("f4")
            chunks += [b"\x01\x05con_5", _tensor(rng.normal(size=3), (3, 1, 1, 1))]  # decoy
            chunks += [_tensor(np.concatenate([w.ravel(), b]), (w.size + cout, 1, 1, 1))]
            chunks += [b"\x01\x07affine_", _tensor(np.concatenate([g, beta]), (2 * cout, 1, 1, 1))]
            layers.append((w, b, g, beta, conv_stride))
            k, cin = 3, cout
    chunks += [b"\x01\x03fc_", _tensor(rng.normal(size=256 * 128), (256, 128, 1, 1))]
    path.write_bytes(b"".join(chunks))
    return layers


def _dlib_forward(layers: list, x: torch.Tensor) -> torch.Tensor:
    """dlib's network up to level 1, in timm's padding (features pooled over the map)."""

    def conv_affine(x, layer, relu=True):
        w, b, g, beta, stride = (
            torch.from_numpy(np.asarray(a)) if i < 4 else a for i, a in enumerate(layer)
        )
        y = F.conv2d(x, w, b, stride=stride, padding=w.shape[-1] // 2)
        y = y * g[None, :, None, None] + beta[None, :, None, None]
        return F.relu(y) if relu else y

    x = F.max_pool2d(conv_affine(x, layers[0]), 3, 2, padding=1)
    i = 1
    for width, blocks in dlib_trunk.LEVELS[:4]:
        for _ in range(blocks):
            down = layers[i][4] == 2
            y = conv_affine(conv_affine(x, layers[i]), layers[i + 1], relu=False)
            i += 2
            short = F.avg_pool2d(x, 2, 2, ceil_mode=True, count_include_pad=False) if down else x
            short = F.pad(short, (0, 0, 0, 0, 0, width - short.shape[1]))  # zero new channels
            x = F.relu(y + short)
    return x.mean((2, 3))


def test_reader_finds_every_tensor_in_order(tmp_path):
    written = _fake_dat(tmp_path / "net.dat")
    read = dlib_trunk.read_dat(tmp_path / "net.dat")
    assert len(read) == len(written) == 29
    for (w0, b0, g0, s0, st0), (w1, b1, g1, s1, st1) in zip(written, read, strict=True):
        assert w1.shape == w0.shape and st1 == st0
        for a, b in ((w0, w1), (b0, b1), (g0, g1), (s0, s1)):
            np.testing.assert_array_equal(a, b)


def test_timm_trunk_computes_dlibs_network(tmp_path, monkeypatch):
    _fake_dat(tmp_path / "net.dat")
    layers = dlib_trunk.read_dat(tmp_path / "net.dat")
    grey = torch.rand(2, 1, 40, 40)
    # With equal channel means a grey face is exactly dlib's RGB input with R = G = B.
    monkeypatch.setattr(dlib_trunk, "MEAN_RGB", np.full(3, 117.0, np.float32))
    trunk = dlib_trunk.build_trunk(dlib_trunk.timm_state(layers))
    with torch.no_grad():
        ours = trunk(grey)
    ref = _dlib_forward(layers, grey.repeat(1, 3, 1, 1))
    assert ours.shape == (2, 256)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))


def test_grey_stem_keeps_dlibs_channel_means_inside_the_image(tmp_path):
    """Away from the border, the summed stem plus its bias equals dlib's RGB stem on a grey face."""
    _fake_dat(tmp_path / "net.dat")
    layers = dlib_trunk.read_dat(tmp_path / "net.dat")
    state = dlib_trunk.timm_state(layers)
    pixels = torch.rand(1, 1, 33, 33) * 255
    w, b, g, beta, _ = layers[0]
    rgb = (
        pixels.repeat(1, 3, 1, 1) - torch.from_numpy(dlib_trunk.MEAN_RGB)[None, :, None, None]
    ) / 256
    ref = F.conv2d(rgb, torch.from_numpy(w), torch.from_numpy(b), stride=2)
    ref = (
        ref * torch.from_numpy(g)[None, :, None, None] + torch.from_numpy(beta)[None, :, None, None]
    )
    x = (pixels / 255 - dlib_trunk.MEAN) / dlib_trunk.STD
    ours = F.conv2d(x, state["conv1.weight"][:32], stride=2)
    ours = ours * state["bn1.weight"][:32, None, None] + state["bn1.bias"][:32, None, None]
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)


def test_calibration_keeps_the_function_and_matches_batch_statistics(tmp_path):
    _fake_dat(tmp_path / "net.dat")
    layers = dlib_trunk.read_dat(tmp_path / "net.dat")
    state = dlib_trunk.timm_state(layers)
    faces = torch.randn(64, 1, 48, 48)
    before = dlib_trunk.build_trunk(state)
    after = dlib_trunk.build_trunk(dlib_trunk.calibrate(state, faces))
    with torch.no_grad():
        ref = before(faces)
        torch.testing.assert_close(after(faces), ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))
        after.train()  # batch statistics of the same faces: the converted network again
        rel = (after(faces) - ref).norm() / ref.norm()
    assert rel < 1e-3
    plain = dlib_trunk.build_trunk(state).train()
    with torch.no_grad():  # without calibration, batch norm changes the network outright
        assert (plain(faces) - ref).norm() / ref.norm() > 0.1


def test_wrong_file_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "model.dat"
    bad.write_bytes(b"\x01\x02\x01\x05" + bytes(100))
    with pytest.raises(dlib_trunk.DlibFileError, match=r"model\.dat: not dlib.s face-recognition"):
        dlib_trunk.read_dat(bad)
    run = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            str(bad),
            "--ferplus",
            str(tmp_path),
            "--out",
            str(tmp_path / "t.safetensors"),
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "model.dat" in run.stderr
    assert not (tmp_path / "t.safetensors").exists()


def test_write_trunk_saves_a_calibrated_trunk_that_pretrain_can_load(tmp_path):
    from PIL import Image
    from safetensors.torch import load_file

    _fake_dat(tmp_path / "net.dat")
    layers = dlib_trunk.read_dat(tmp_path / "net.dat")
    rng = np.random.default_rng(1)
    faces = []
    for i in range(12):
        faces.append(tmp_path / f"face{i}.png")
        Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(faces[-1])
    out = tmp_path / "trunk" / "t.safetensors"
    settings = dlib_trunk.write_trunk(layers, faces, out, size=40, images=8)
    assert f"model.pretrained={out}" in settings and "model.input_size=40" in settings
    assert [p.name for p in out.parent.iterdir()] == ["t.safetensors"]  # no temporary left
    written = dlib_trunk.build_trunk(load_file(str(out)))
    plain = dlib_trunk.build_trunk(dlib_trunk.timm_state(layers))
    x = dlib_trunk.calibration_faces(faces, 40, 12)
    assert x.shape == (12, 1, 40, 40)
    with torch.no_grad():  # recalibrated norms: the same function in eval mode
        ref = plain(x)
        torch.testing.assert_close(written(x), ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))
    # the norms did move: their running means are the batch statistics, not zero
    assert float(load_file(str(out))["bn1.running_mean"][:32].abs().max()) > 1e-3


def test_missing_file_is_a_model_file_error(tmp_path):
    from vnaw.errors import ModelFileError

    with pytest.raises(ModelFileError, match=r"nothere\.dat: no such file"):
        dlib_trunk.read_dat(tmp_path / "nothere.dat")
