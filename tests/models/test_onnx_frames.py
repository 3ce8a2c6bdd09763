"""The shipped encoder's ONNX copy, which `vnaw predict` runs without PyTorch (ONNX Runtime)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from vnaw.errors import ModelFileError
from vnaw.models.meta import EncoderMeta, default_encoder_path, encoder_paths, read_meta
from vnaw.models.onnx_frames import OnnxFrameModel, int8_path, onnx_path


def _crops(n: int = 20, seed: int = 0) -> list[np.ndarray]:
    """Crops of mixed sizes and channels, as predict and predict_proba get them."""
    rng = np.random.default_rng(seed)
    sizes = [(112, 112, 3), (48, 48), (130, 97, 3), (64, 64, 1)]
    return [rng.integers(0, 256, sizes[i % 4], dtype=np.uint8) for i in range(n)]


def test_numpy_preprocessing_equals_the_torch_path():
    pytest.importorskip("torch")  # the training stack
    import torch

    from vnaw.models.preprocess import crop_to_input_size, preprocess_array, to_input

    for meta in (
        EncoderMeta(),
        EncoderMeta(channels=3, mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.25)),
    ):
        crops = _crops()
        batch = np.stack([crop_to_input_size(c, meta.input_size, meta.channels) for c in crops])
        ref = to_input(torch.from_numpy(batch), meta).numpy()
        np.testing.assert_array_equal(preprocess_array(crops, meta), ref)
    assert preprocess_array([], EncoderMeta()).shape == (0, 1, 48, 48)


def test_shipped_onnx_copy_equals_the_pytorch_encoder():
    pytest.importorskip("torch")  # the training stack
    from vnaw.models.artifact import default_video_model
    from vnaw.models.encoder import ImageClassifier

    # The copy stores its (batch-norm-folded) weights in fp16: within 5e-3, not bit for bit.
    crops = _crops(40)
    got = OnnxFrameModel(threads=1, int8=False).frame_outputs(crops)
    ref = default_video_model().frame_outputs(crops)
    assert got.shape == (40, 8)
    np.testing.assert_allclose(got, ref, atol=5e-3)
    np.testing.assert_allclose(
        got, ImageClassifier.from_default().predict_proba(crops, flip=False), atol=5e-3
    )
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)


def test_the_shipped_int8_copy_is_the_default_and_close_to_float32():
    """`vnaw predict` runs the int8 copy (FERPlus test within 0.3 points: 87.03 against 87.09 %,
    benchmarks/quantize_encoder.py); on the same crops it stays near the float32 copy."""
    assert int8_path(default_encoder_path()).is_file()
    model = OnnxFrameModel(threads=1)
    assert "int8" in model.description
    crops = [c for c in _crops(40) if c.ndim == 2 or c.shape[-1] == 1]  # grey, as it sees faces
    got = model.frame_outputs(crops)
    ref = OnnxFrameModel(threads=1, int8=False).frame_outputs(crops)
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)
    assert np.abs(got - ref).max() < 0.15
    assert np.abs(got - ref).max() > 0  # it is another graph, not the float32 one


def _copy_default(dest) -> object:
    stem = dest / "enc"
    src = default_encoder_path()
    for suffix in (".safetensors", ".json", ".onnx"):
        shutil.copy(src.with_suffix(suffix), stem.with_suffix(suffix))
    return stem


def test_a_copy_made_from_other_weights_is_refused(tmp_path):
    from safetensors.numpy import load_file, save_file

    stem = _copy_default(tmp_path)
    assert OnnxFrameModel(stem).meta == read_meta(encoder_paths(stem)[1])  # an intact copy loads
    weights = encoder_paths(stem)[0]
    state = load_file(weights)
    state["head.bias"] = state["head.bias"] + np.float16(0.5)  # retrained since the export
    save_file(state, weights)
    with pytest.raises(ModelFileError, match=r"made from other weights.*export --onnx"):
        OnnxFrameModel(stem)


def test_missing_or_broken_copy_is_one_clear_error(tmp_path):
    stem = _copy_default(tmp_path)
    onnx_path(stem).write_bytes(b"not a graph")
    with pytest.raises(ModelFileError, match=r"enc\.onnx: not a loadable ONNX graph"):
        OnnxFrameModel(stem)
    onnx_path(stem).unlink()
    with pytest.raises(ModelFileError, match=r"enc\.onnx: no ONNX copy"):
        OnnxFrameModel(stem)


@pytest.mark.slow
def test_export_writes_a_copy_that_equals_pytorch(tmp_path):
    """`export_encoder_onnx` (`vnaw pretrain export --onnx`): another encoder, RGB at 40 px."""
    import torch

    from vnaw.inference.export import export_encoder_onnx
    from vnaw.models.encoder import ImageClassifier

    torch.manual_seed(0)
    meta = EncoderMeta(input_size=40, channels=3, mean=(0.4, 0.5, 0.6), std=(0.2, 0.3, 0.25))
    stem = tmp_path / "enc"
    ImageClassifier(meta).save(stem)
    assert export_encoder_onnx(stem) == tmp_path / "enc.onnx"
    crops = _crops(9)
    want = ImageClassifier.from_file(stem).predict_proba(crops, flip=False)
    got = OnnxFrameModel(stem, threads=1).frame_outputs(crops)
    np.testing.assert_allclose(got, want, atol=1e-5)
    fp32_bytes = onnx_path(stem).stat().st_size
    # --half: fp16 weights, cast back to fp32 on loading; half the file, same numbers to ~1e-3.
    export_encoder_onnx(stem, half=True)
    assert onnx_path(stem).stat().st_size < 0.6 * fp32_bytes
    half = OnnxFrameModel(stem, threads=1).frame_outputs(crops)
    np.testing.assert_allclose(half, want, atol=5e-3)
    assert np.abs(half - got).max() > 0  # the weights were rounded
