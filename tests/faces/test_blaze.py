"""MediaPipe's pre/post-processing around the face models (vnaw.faces.blaze), on hand values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vnaw.faces import blaze


def test_full_range_anchors_are_a_48_grid_of_cell_centres():
    a = blaze.ssd_anchors()
    assert a.shape == (2304, 2)
    # row-major: the first anchors run along x in the top row, in units of the 192 px input
    np.testing.assert_allclose(a[0], [0.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(a[1], [1.5 / 48, 0.5 / 48])
    np.testing.assert_allclose(a[48], [0.5 / 48, 1.5 / 48])
    np.testing.assert_allclose(a[-1], [47.5 / 48, 47.5 / 48])


def test_two_layer_anchors_repeat_per_cell():
    a = blaze.ssd_anchors(128, strides=(8, 16), per_cell=2)
    assert a.shape == (16 * 16 * 2 + 8 * 8 * 2, 2)
    np.testing.assert_allclose(a[0], a[1])  # two anchors per cell, same centre
    np.testing.assert_allclose(a[512], [0.5 / 8, 0.5 / 8])


def test_decode_a_known_tensor():
    anchors = np.array([[0.25, 0.5], [0.75, 0.75]])
    raw = np.zeros((2, 16))
    # anchor 0: centre moved +19.2 px in x (0.1 of the input), 96 × 48 px box, keypoint 0 at −9.6 px
    raw[0, :4] = [19.2, 0.0, 96.0, 48.0]
    raw[0, 4:6] = [-9.6, 9.6]
    scores = np.array([2.0, -3.0])  # sigmoid: 0.881, 0.047
    boxes, kps, s = blaze.decode(raw, scores, anchors, min_score=0.5)
    assert boxes.shape == (1, 4) and kps.shape == (1, 6, 2)
    np.testing.assert_allclose(boxes[0], [0.35 - 0.25, 0.5 - 0.125, 0.35 + 0.25, 0.5 + 0.125])
    np.testing.assert_allclose(kps[0, 0], [0.2, 0.55])
    np.testing.assert_allclose(kps[0, 1], [0.25, 0.5])  # zero offset: the anchor centre
    np.testing.assert_allclose(s, [1 / (1 + math.exp(-2.0))])


def test_scores_are_clipped_before_the_sigmoid():
    assert blaze.sigmoid(np.array([1e4]))[0] == pytest.approx(1.0)
    assert np.isfinite(blaze.sigmoid(np.array([-1e4]))).all()


def test_weighted_nms_averages_overlapping_boxes_by_score():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], float)
    kps = np.zeros((3, 6, 2))
    kps[1] += 3.0
    scores = np.array([0.9, 0.6, 0.7])
    b, k, s = blaze.weighted_nms(boxes, kps, scores, threshold=0.3)
    assert len(b) == 2
    np.testing.assert_allclose(s, [0.9, 0.7])  # best first, each keeps its best score
    np.testing.assert_allclose(b[0], [0.4, 0, 10.4, 10])  # (0·0.9 + 1·0.6) / 1.5
    np.testing.assert_allclose(k[0], np.full((6, 2), 3.0 * 0.6 / 1.5))
    np.testing.assert_allclose(b[1], boxes[2])


def test_weighted_nms_of_nothing():
    b, k, s = blaze.weighted_nms(np.zeros((0, 4)), np.zeros((0, 6, 2)), np.zeros(0))
    assert b.shape == (0, 4) and k.shape == (0, 6, 2) and s.shape == (0,)


def test_iou_matrix():
    a = np.array([[0, 0, 2, 2]], float)
    b = np.array([[1, 0, 3, 2], [5, 5, 6, 6], [0, 0, 2, 2]], float)
    np.testing.assert_allclose(blaze.iou_matrix(a, b), [[2 / 6, 0, 1]])


def test_letterbox_centres_a_wide_frame_and_maps_back():
    m = blaze.letterbox(360, 640)
    k = 192 / 640
    np.testing.assert_allclose(m, [[k, 0, 0], [0, k, (192 - 360 * k) / 2]])
    frame_pts = np.array([[0.0, 0.0], [640.0, 360.0], [100.0, 50.0]])
    inp = frame_pts @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(inp[1], [192, 192 - (192 - 360 * k) / 2])
    np.testing.assert_allclose(blaze.to_frame(m, inp), frame_pts)


def test_eye_angle_levels_the_eyes():
    assert blaze.eye_angle(np.array([0, 0]), np.array([10, 0])) == 0
    # image y points down: the right eye lower → positive angle
    assert blaze.eye_angle(np.array([0, 0]), np.array([10, 10])) == pytest.approx(math.pi / 4)


def test_roi_is_a_square_1_5_times_the_longer_side():
    r = blaze.roi(np.array([10, 20, 50, 100]), 0.3)
    np.testing.assert_allclose(r, [30, 60, 120, 0.3])


def test_roi_matrix_maps_the_input_corners_onto_the_turned_square():
    r = np.array([100.0, 50.0, 40.0, math.pi / 2])
    m = blaze.roi_matrix(r, 192)
    corners = np.array([[0, 0], [192, 0], [96, 96]], float) @ m[:, :2].T + m[:, 2]
    # turned a quarter: the input's top edge runs down the square's right side
    np.testing.assert_allclose(corners, [[120, 30], [120, 70], [100, 50]], atol=1e-9)
    unturned = blaze.roi_matrix(np.array([100.0, 50.0, 40.0, 0.0]), 192)
    np.testing.assert_allclose(unturned, [[40 / 192, 0, 80], [0, 40 / 192, 30]])


def test_landmarks_to_frame_and_their_next_region():
    r = np.array([100.0, 50.0, 192.0, 0.0])  # 1 input px = 1 frame px, input (0, 0) at (4, -46)
    raw = np.zeros((468, 3))
    raw[:, 0] = np.linspace(40, 140, 468)
    raw[:, 1] = 96
    raw[33, :2] = [60, 90]
    raw[263, :2] = [120, 90]
    xy = blaze.landmarks_to_frame(raw.reshape(-1), r)
    np.testing.assert_allclose(xy[0], [44, 50])
    np.testing.assert_allclose(xy[33], [64, 44])
    nxt = blaze.landmark_roi(xy)
    np.testing.assert_allclose(nxt[2], 1.5 * 100)  # 1.5 × the landmarks' width
    assert nxt[3] == 0.0  # eyes level


def test_region_shift():
    a = np.array([0.0, 0.0, 100.0, 0.0])
    assert blaze.region_shift(a, np.array([3.0, 4.0, 100.0, 0.0])) == pytest.approx(0.05)
    assert blaze.region_shift(a, np.array([0.0, 0.0, 110.0, 0.0])) == pytest.approx(0.1)
