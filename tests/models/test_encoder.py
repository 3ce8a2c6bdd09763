"""Image encoder (design §5): shipped weights, file format, preprocessing, evaluation end to end."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

import torch
from sklearn.metrics import accuracy_score, f1_score

from helpers.ferplus_fake import make_ferplus
from vnaw import ImageClassifier
from vnaw.data.static import read_ferplus
from vnaw.errors import ModelFileError
from vnaw.models.encoder import EncoderMeta
from vnaw.models.frame_encoder import load_encoder
from vnaw.models.preprocess import preprocess
from vnaw.training.pretrain_data import load_images

TINY = EncoderMeta(model_kwargs={"channels": [8, 16, 32, 64], "stem_width": 8}, input_size=24)


def _crops(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.integers(0, 256, (48, 48), dtype=np.uint8),  # FERPlus-like grey
        rng.integers(0, 256, (112, 90, 3), dtype=np.uint8),  # RGB, other size and aspect
        rng.integers(0, 256, (20, 20), dtype=np.uint8),  # smaller than the input
    ]


@pytest.fixture(scope="module")
def default_model() -> ImageClassifier:
    torch.set_num_threads(1)
    return ImageClassifier.from_default()


def test_shipped_weights_give_deterministic_probabilities(default_model: ImageClassifier) -> None:
    probs = default_model.predict_proba(_crops())
    assert probs.shape == (3, 8) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (probs >= 0).all()
    np.testing.assert_array_equal(probs, ImageClassifier.from_default().predict_proba(_crops()))
    # Batching does not change a row.
    np.testing.assert_allclose(default_model.predict_proba(_crops()[:1]), probs[:1], atol=1e-5)


def test_mirror_average(default_model: ImageClassifier) -> None:
    """The default scores a crop by the mean of its and its mirror's single-pass softmax, then
    applies the shipped decision offsets."""
    from vnaw.models.preprocess import apply_logit_bias

    crops = _crops()
    mirrors = [np.ascontiguousarray(c[:, ::-1]) for c in crops]
    bias, default_model.logit_bias = default_model.logit_bias, None
    try:
        single = default_model.predict_proba(crops, flip=False)
        mirrored = default_model.predict_proba(mirrors, flip=False)
    finally:
        default_model.logit_bias = bias
    assert np.abs(single - mirrored).max() > 1e-3  # the mirror does change the prediction
    both = default_model.predict_proba(crops)
    expected = apply_logit_bias((single + mirrored) / 2, bias)
    np.testing.assert_allclose(both, expected, atol=1e-5)
    # Hence a crop and its mirror get the same probabilities.
    np.testing.assert_allclose(default_model.predict_proba(mirrors), both, atol=1e-5)


def test_shipped_meta_and_feature_extractor(default_model: ImageClassifier) -> None:
    meta = default_model.meta
    assert meta.classes == (
        "Neutral",
        "Anger",
        "Disgust",
        "Fear",
        "Happiness",
        "Sadness",
        "Surprise",
        "Other",
    )
    enc = load_encoder("default")
    trunk, meta2 = enc.trunk, enc.meta
    x = preprocess(_crops(), meta2)
    assert x.shape == (3, meta2.channels, meta2.input_size, meta2.input_size)
    with torch.no_grad():
        assert trunk(x).shape == (3, meta2.feature_size)


def test_save_load_roundtrip_fp16(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = ImageClassifier(EncoderMeta(**{**TINY.__dict__}))
    w, m = model.save(tmp_path / "enc", half=True)
    assert w.name == "enc.safetensors" and json.loads(m.read_text())["feature_size"] == 64
    loaded = ImageClassifier.from_file(tmp_path / "enc.json")
    np.testing.assert_allclose(
        loaded.predict_proba(_crops()), model.eval().predict_proba(_crops()), atol=2e-2
    )


def test_channels_last_trunk_computes_what_the_nchw_trunk_computes(tmp_path: Path) -> None:
    """The NHWC layout (encoder.channels_last) changes speed only: same logits and gradients as
    the same weights in NCHW, and the weight file is the same either way."""
    torch.manual_seed(0)
    nhwc = ImageClassifier(EncoderMeta(**{**TINY.__dict__})).train()
    nchw = copy.deepcopy(nhwc)
    nchw.trunk._forward_pre_hooks.clear()
    nchw.to(memory_format=torch.contiguous_format)
    conv = nhwc.trunk.layer1[0].conv1.weight  # the stem has one input channel: both layouts
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert nchw.trunk.layer1[0].conv1.weight.is_contiguous()
    nhwc.save(tmp_path / "nhwc")
    nchw.save(tmp_path / "nchw")
    a, b = (ImageClassifier.from_file(tmp_path / n).state_dict() for n in ("nchw", "nhwc"))
    for name, v in a.items():
        torch.testing.assert_close(b[name], v, rtol=0, atol=0)
    x = torch.randn(6, 1, 24, 24)
    out = [m(x) for m in (nchw, nhwc)]
    torch.testing.assert_close(out[1], out[0], rtol=1e-5, atol=1e-5)
    for o in out:
        o.square().sum().backward()
    for (name, p), q in zip(nchw.named_parameters(), nhwc.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-5, msg=name)


def test_wrong_shape_weights_and_bad_json_are_clear(tmp_path: Path) -> None:
    ImageClassifier(EncoderMeta(**{**TINY.__dict__})).save(tmp_path / "enc")
    meta = json.loads((tmp_path / "enc.json").read_text())
    meta["model_kwargs"]["channels"] = [8, 16, 32, 32]
    (tmp_path / "enc.json").write_text(json.dumps(meta))
    with pytest.raises(
        ModelFileError, match=r"enc\.safetensors: weights do not fit the model: .*wrong shape"
    ):
        ImageClassifier.from_file(tmp_path / "enc")
    meta["colour"] = 1
    (tmp_path / "enc.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match=r"enc\.json: unknown encoder field"):
        ImageClassifier.from_file(tmp_path / "enc")
    with pytest.raises(ModelFileError, match="encoder file not found"):
        ImageClassifier.from_file(tmp_path / "nothing")


def test_preprocess_rejects_bad_crops() -> None:
    with pytest.raises(ValueError, match="uint8"):
        preprocess([np.zeros((8, 8), dtype=np.float32)], TINY)
    with pytest.raises(ValueError, match="H×W or H×W×3"):
        preprocess([np.zeros((8, 8, 4), dtype=np.uint8)], TINY)


@pytest.mark.parametrize("flip", [True, False])
def test_evaluate_on_generated_ferplus_end_to_end(
    tmp_path: Path, default_model: ImageClassifier, capsys: pytest.CaptureFixture[str], flip: bool
) -> None:
    """Reader (majority protocol) → pixels → classifier → metrics, against an independent path."""
    from vnaw.cli import build_parser

    kept = make_ferplus(tmp_path, repeats=2)
    parser = build_parser()
    argv = ["pretrain", "evaluate", "--data", f"ferplus:{tmp_path}"]
    args = parser.parse_args(argv if flip else [*argv, "--no-flip"])
    assert args.func(args) == 0
    out = capsys.readouterr().out

    labels = np.array([y for _, y in kept["FER2013Test"]])
    test_set = read_ferplus(tmp_path, "test")
    np.testing.assert_array_equal(test_set.labels, labels)
    crops = list(load_images(test_set.paths, 48, 1))
    pred = default_model.predict_proba(crops, flip=flip).argmax(1)
    acc = accuracy_score(labels, pred)
    f1 = f1_score(labels, pred, labels=list(range(8)), average="macro", zero_division=0)
    assert re.search(rf"n=16 +accuracy {100 * acc:.2f} % +macro-F1 {100 * f1:.2f} %", out), out


def test_predict_relative_reads_images_against_the_persons_baseline():
    from vnaw.inference.baseline import BaselineConfig, log_probs, relative_probs
    from vnaw.models.encoder import ImageClassifier

    model = ImageClassifier.from_default()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64]
    face = (60 + 1.2 * xx + 0.8 * yy).astype(np.uint8)  # a smooth picture with a clear layout
    other = rng.integers(60, 200, (64, 64), dtype=np.uint8)
    # Too few images for a baseline (round(0.2 · 4) = 1 < 3): the raw probabilities
    few = [face, face, other, other]
    np.testing.assert_allclose(model.predict_relative(few), model.predict_proba(few), atol=1e-6)
    # The same image as its own calibration: nothing rises above the baseline → Neutral
    rel = model.predict_relative([face], baseline_images=[face] * 3)
    assert rel.shape == (1, 8) and rel.argmax() == 0
    cfg = BaselineConfig()
    np.testing.assert_allclose(rel[0, 0], 1 / (1 + 7 * np.exp(-cfg.margin)), rtol=1e-5)
    # A slightly changed face (same framing and light) is read relative to the baseline
    moved = face.copy()
    moved[44:50, 20:44] -= 40  # a darker band where a mouth opens
    p = model.predict_proba([moved, face])
    rel = model.predict_relative([moved], baseline_images=[face] * 3)
    expected = relative_probs(log_probs(p[:1]), log_probs(p[1]), cfg.margin)
    np.testing.assert_allclose(rel, expected, atol=1e-5)
    # An unrelated picture (other session): the guard falls back to its raw probabilities
    rel = model.predict_relative([other], baseline_images=[face] * 3)
    np.testing.assert_allclose(rel, model.predict_proba([other]), atol=1e-6)


def test_shipped_logit_bias_moves_probability_toward_its_classes():
    from vnaw.models.meta import default_encoder_path, read_logit_bias
    from vnaw.models.preprocess import apply_logit_bias

    bias = read_logit_bias(default_encoder_path())
    assert bias is not None and len(bias) == 8 and bias[0] == 0.0  # Neutral: no offset
    p = np.array([[0.5, 0, 0, 0.5, 0, 0, 0, 0]], np.float32)
    # p_k·e^{b_k}, renormalised: Fear gets e^{b_F} / (1 + e^{b_F}) of the two
    fear = np.exp(bias[3]) / (1 + np.exp(bias[3]))
    np.testing.assert_allclose(apply_logit_bias(p, bias), [[1 - fear, 0, 0, fear, 0, 0, 0, 0]])
    assert apply_logit_bias(p, None) is p
