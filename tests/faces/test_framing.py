"""Face framing (design §4): the two templates, the framing an encoder declares, and the one
`vnaw predict` crops with."""

from __future__ import annotations

import types

import cv2
import numpy as np
import pytest

from vnaw.data.static import framing_of
from vnaw.errors import ConfigError, ModelFileError
from vnaw.faces.align import align, template, umeyama
from vnaw.faces.types import FaceConfig
from vnaw.inference.predict import input_framing
from vnaw.models.meta import EncoderMeta


def _dot_centres(img: np.ndarray, near: np.ndarray, radius: int = 12) -> np.ndarray:
    """Brightness-weighted centre of the dot found around each point of ``near``."""
    grey = img[..., 0].astype(np.float64)
    out = []
    for x, y in near:
        x0, y0 = int(x) - radius, int(y) - radius
        win = grey[y0 : y0 + 2 * radius, x0 : x0 + 2 * radius]
        ys, xs = np.mgrid[y0 : y0 + 2 * radius, x0 : x0 + 2 * radius]
        out.append([(xs * win).sum() / win.sum(), (ys * win).sum() / win.sum()])
    return np.array(out)


@pytest.mark.parametrize("framing", ["arcface", "ferplus"])
def test_align_puts_the_five_points_on_the_framings_template(framing):
    # A face of the template's shape, 1.3× its size, turned 0.2 rad and shifted: 5 dots.
    angle = 0.2
    rot = 1.3 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = template(150, framing) @ rot.T + np.array([90.0, 40.0])
    frame = np.zeros((360, 360, 3), np.uint8)
    for x, y in points:
        cv2.circle(frame, (round(x * 16), round(y * 16)), 3 * 16, (255, 255, 255), -1, shift=4)
    crop = align(frame, points, 224, framing)
    want = template(224, framing)
    assert np.abs(_dot_centres(crop, want) - want).max() < 1.0


def test_ferplus_framing_sits_higher_and_larger_than_arcface():
    arc, fer = template(1, "arcface"), template(1, "ferplus")
    m = umeyama(arc, fer)  # the ArcFace crop → the FERPlus crop
    assert 1.02 < np.hypot(*m[:, 0]) < 1.06  # faces 4 % larger
    assert fer[:2, 1].mean() < arc[:2, 1].mean() - 0.06  # eyes ≥ 6 % of the side higher
    assert np.allclose(fer[[1, 0, 2, 4, 3], 0], 1 - fer[:, 0])  # mirror-symmetric


def test_training_data_decides_the_framing():
    assert framing_of(["ferplus:/a"]) == "ferplus"
    assert framing_of(["ferplus:/a", "muxspace:/b", "muxspace@train:/b"]) == "ferplus"
    assert framing_of(["ferplus:/a", "affwild2:/c"]) == "arcface"  # mixed: the standard crop
    assert framing_of(["folder:/d"]) == "arcface"


def test_unknown_framings_are_refused_naming_the_source():
    with pytest.raises(ConfigError, match="unknown face framing 'wide'"):
        FaceConfig(framing="wide")
    fields = {
        "backbone": "resnet18",
        "input_size": 48,
        "channels": 1,
        "mean": [0.5],
        "std": [0.25],
        "classes": list(EncoderMeta().classes),
    }
    assert EncoderMeta.from_dict(fields, "old.json").framing == "arcface"  # files before framing
    with pytest.raises(ModelFileError, match=r"enc\.json: framing must be one of"):
        EncoderMeta.from_dict({**fields, "framing": "wide"}, "enc.json")


def test_predict_frames_faces_as_the_model_learned_them():
    from vnaw.models.onnx_frames import OnnxFrameModel

    assert input_framing(OnnxFrameModel()) == "ferplus"  # the shipped encoder, alone
    alone = types.SimpleNamespace(temporal=None, meta=EncoderMeta(framing="arcface"))
    assert input_framing(alone) == "arcface"
    # A temporal model learned its features on `vnaw faces` crops, whatever its encoder saw.
    video = types.SimpleNamespace(temporal=object(), meta=EncoderMeta(framing="ferplus"))
    assert input_framing(video) == "arcface"


def test_still_image_points_find_a_face_that_fills_its_image():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("skimage")
    from helpers.face_video import astronaut_face
    from vnaw.faces.detectors import MediaPipeFaces, still_image_points

    face = astronaut_face(150)
    detector = MediaPipeFaces(FaceConfig(max_faces=1))
    try:
        wide = np.pad(face, ((100, 100), (100, 100), (0, 0)), mode="edge")
        reference = still_image_points(detector, wide) - 100  # found with a margin around it
        tight = face[20:-20, 20:-20]  # the face fills the image, as in FERPlus
        small = cv2.resize(tight, (48, 48), interpolation=cv2.INTER_AREA)
        assert np.abs(still_image_points(detector, tight) - (reference - 20)).max() < 2
        on_small = still_image_points(detector, small) * (
            110 / 48
        )  # back to the tight crop's pixels
        assert np.abs(on_small - (reference - 20)).max() < 3
        assert still_image_points(detector, np.full((48, 48, 3), 128, np.uint8)) is None
    finally:
        detector.close()
