"""Frame skipping (eq. 3) and in-frame erasing (eq. 4–5) — design §7.1."""

import pytest

pytest.importorskip("torch")

import torch

from vnaw import frame_skip, in_frame_erase
from vnaw.augment.video import apply_frame_skip, erase_mask


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_pixel_erasing_exact_count_same_across_frames():
    t, c, h, w = 6, 3, 17, 23
    clip = torch.rand(t, c, h, w) + 1.0  # strictly positive so erased = exactly zero
    out = in_frame_erase(clip, ratio=0.2, generator=_gen(0))
    erased = out == 0  # (T, C, H, W)
    expected = round(0.2 * h * w)
    for f in range(t):
        # all channels of an erased position are zero, so count positions on channel 0
        assert erased[f, 0].sum().item() == expected
        assert torch.equal(erased[f, 0], erased[f, 1]) and torch.equal(erased[f, 0], erased[f, 2])
        assert torch.equal(erased[f, 0], erased[0, 0])
    assert torch.equal(out[~erased], clip[~erased])  # nothing else touched
    assert clip.min() > 0  # input not modified in place


def test_pixel_erasing_seed_dependence_and_batch():
    clip = torch.ones(2, 1, 16, 16)
    a = in_frame_erase(clip, generator=_gen(1))
    b = in_frame_erase(clip, generator=_gen(1))
    c = in_frame_erase(clip, generator=_gen(2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    batch = in_frame_erase(torch.ones(4, 3, 1, 10, 10), generator=_gen(3))
    per_clip = (batch == 0)[:, :, 0]  # (B, T, H, W)
    assert (per_clip.sum(dim=(2, 3)) == 20).all()
    assert not torch.equal(per_clip[0, 0], per_clip[1, 0])  # clips draw their own Ω
    assert torch.equal(per_clip[2, 0], per_clip[2, 2])


@pytest.mark.parametrize("mode", ["rectangle", "cutout"])
def test_rectangle_modes(mode):
    clip = torch.ones(5, 3, 40, 40)
    out = in_frame_erase(clip, ratio=0.2, mode=mode, generator=_gen(4))
    masks = out[:, 0] == 0
    for m in masks:
        rows, cols = m.any(dim=1).nonzero(), m.any(dim=0).nonzero()
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert box.item() == m.sum().item()  # one solid rectangle
        assert abs(m.sum().item() - 320) <= 0.2 * 320  # about ratio·H·W
    same = all(torch.equal(masks[0], m) for m in masks)
    assert same == (mode == "rectangle")


def test_erase_mask_validation():
    with pytest.raises(ValueError, match="mode"):
        erase_mask(4, 4, mode="blur")
    with pytest.raises(ValueError, match="ratio"):
        erase_mask(4, 4, ratio=1.5)


def test_frame_skip_rate_and_never_empty():
    keep = frame_skip(100, 0.2, 0.4, generator=_gen(5), batch_size=2000)
    assert keep.shape == (2000, 100) and keep.dtype == torch.bool
    drop = 1 - keep.float().mean(dim=1)
    assert 0.28 < drop.mean().item() < 0.32  # E[λ] = 0.3
    assert (
        drop.min().item() > 0.05 and drop.max().item() < 0.55
    )  # λ ∈ [0.2, 0.4] plus binomial spread
    tiny = frame_skip(1, 0.9, 1.0, generator=_gen(6), batch_size=500)
    assert tiny.all()  # a 1-frame clip always keeps its frame
    few = frame_skip(3, 1.0, 1.0, generator=_gen(7), batch_size=500)
    assert (few.sum(dim=1) == 1).all()  # λ = 1 drops all, then exactly one is rescued


def test_frame_skip_single_clip_repeatable():
    a = frame_skip(50, generator=_gen(8))
    b = frame_skip(50, generator=_gen(8))
    assert a.shape == (50,) and torch.equal(a, b)
    with pytest.raises(ValueError):
        frame_skip(0)


def test_apply_frame_skip_modes():
    feats = torch.ones(2, 4, 3)
    keep = torch.tensor([[True, False, True, True], [False, True, True, False]])
    same, present = apply_frame_skip(feats, keep, "drop")
    assert same is feats and torch.equal(present, keep)
    zeroed, present = apply_frame_skip(feats, keep, "zero")
    assert present.all()
    assert torch.equal(zeroed.sum(-1), keep.float() * 3)
    with pytest.raises(ValueError, match="mode"):
        apply_frame_skip(feats, keep, "blank")
    with pytest.raises(ValueError, match="match"):
        apply_frame_skip(feats, keep[:, :3])
