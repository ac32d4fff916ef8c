"""Every decoder against output tensors built by inverting its encoding for known boxes."""

from face_detector_ros.detection.decoders import make_decoder, retinaface_priors, ssd_anchors
import numpy as np
import pytest

SHORT_RANGE = {
    'decoder': 'blazeface', 'input_size': [128, 128], 'labels': ['face'], 'num_layers': 4,
    'strides': [8, 16, 16, 16], 'min_scale': 0.1484375, 'max_scale': 0.75,
    'anchor_offset_x': 0.5, 'anchor_offset_y': 0.5, 'aspect_ratios': [1.0],
    'interpolated_scale_aspect_ratio': 1.0, 'fixed_anchor_size': True, 'x_scale': 128.0,
    'y_scale': 128.0, 'w_scale': 128.0, 'h_scale': 128.0, 'num_keypoints': 6,
    'reverse_output_order': True, 'score_clipping_thresh': 100.0,
}
FULL_RANGE = dict(SHORT_RANGE, input_size=[192, 192], num_layers=1, strides=[4],
                  interpolated_scale_aspect_ratio=0.0, x_scale=192.0, y_scale=192.0,
                  w_scale=192.0, h_scale=192.0)
MASK_YOLO = {
    'decoder': 'yolo', 'layout': 'darknet', 'input_size': [416, 416], 'labels': ['good', 'bad'],
    'anchors': [[10, 13], [16, 30], [33, 23], [30, 61], [62, 45], [59, 119], [116, 90],
                [156, 198], [373, 326]],
    'masks': [[6, 7, 8], [3, 4, 5], [0, 1, 2]], 'strides': [32, 16, 8],
}
FAR = -30.0  # a logit whose score is ~1e-13


def _logit(p):
    return float(np.log(p / (1 - p)))


def _decode(card, outputs, threshold=0.5, iou=0.3, max_detections=100):
    return make_decoder(card)(outputs, threshold, iou, max_detections)


# BlazeFace anchors (MediaPipe SsdAnchorsCalculator)

def _anchors(card, **changes):
    keys = ('num_layers', 'anchor_offset_x', 'anchor_offset_y', 'aspect_ratios',
            'interpolated_scale_aspect_ratio', 'fixed_anchor_size')
    options = dict({key: card[key] for key in keys}, **changes)
    return ssd_anchors(card['input_size'], card['strides'], card['min_scale'],
                       card['max_scale'], **options)


def test_short_range_anchors_two_per_cell_on_16x16_then_six_on_8x8():
    anchors = _anchors(SHORT_RANGE)
    assert anchors.shape == (896, 4)
    np.testing.assert_allclose(anchors[0], [0.5 / 16, 0.5 / 16, 1, 1])
    np.testing.assert_allclose(anchors[1], anchors[0])
    np.testing.assert_allclose(anchors[2], [1.5 / 16, 0.5 / 16, 1, 1])
    np.testing.assert_allclose(anchors[511], [15.5 / 16, 15.5 / 16, 1, 1])
    np.testing.assert_allclose(anchors[512:518], [[0.5 / 8, 0.5 / 8, 1, 1]] * 6)
    np.testing.assert_allclose(anchors[-1], [7.5 / 8, 7.5 / 8, 1, 1])


def test_full_range_anchors_one_per_cell_on_48x48():
    anchors = _anchors(FULL_RANGE)
    assert anchors.shape == (2304, 4)
    np.testing.assert_allclose(anchors[0], [0.5 / 48, 0.5 / 48, 1, 1])
    np.testing.assert_allclose(anchors[48], [0.5 / 48, 1.5 / 48, 1, 1])
    np.testing.assert_allclose(anchors[-1], [47.5 / 48, 47.5 / 48, 1, 1])


def test_anchor_sizes_follow_mediapipe_scales():
    short = _anchors(SHORT_RANGE, fixed_anchor_size=False)
    scales = [0.1484375 + (0.75 - 0.1484375) * layer / 3 for layer in range(4)]
    first_cell = [scales[0], np.sqrt(scales[0] * scales[1])]
    np.testing.assert_allclose(short[:2, 2], first_cell, rtol=1e-6)
    np.testing.assert_allclose(short[:2, 3], first_cell, rtol=1e-6)
    merged = [scales[1], np.sqrt(scales[1] * scales[2]), scales[2],
              np.sqrt(scales[2] * scales[3]), scales[3], np.sqrt(scales[3] * 1.0)]
    np.testing.assert_allclose(short[512:518, 2], merged, rtol=1e-6)
    full = _anchors(FULL_RANGE, fixed_anchor_size=False)
    np.testing.assert_allclose(full[0, 2:], [(0.1484375 + 0.75) / 2] * 2)
    wide = _anchors(FULL_RANGE, fixed_anchor_size=False, aspect_ratios=[2.0])
    np.testing.assert_allclose(wide[0, 2:], [0.44921875 * 2 ** 0.5, 0.44921875 / 2 ** 0.5])
    reduced = ssd_anchors([64, 64], [32], 0.2, 0.6, reduce_boxes_in_lowest_layer=True)
    np.testing.assert_allclose(reduced[:3, 2:], [[0.1, 0.1], [0.4 * 2 ** 0.5, 0.4 / 2 ** 0.5],
                                                 [0.4 / 2 ** 0.5, 0.4 * 2 ** 0.5]], rtol=1e-6)


def test_anchor_strides_must_match_the_layer_count():
    with pytest.raises(ValueError, match='4 layers need 4 strides'):
        ssd_anchors([128, 128], [8, 16], 0.1, 0.7, num_layers=4)


# BlazeFace decoding (MediaPipe TensorsToDetections)

def _blazeface_tensors(card, faces):
    """Return (regressors, scores) encoding faces {anchor: (score, box, keypoints)}."""
    anchors = _anchors(card)
    width, height = card['input_size']
    regressors = np.zeros((1, len(anchors), 4 + 2 * card['num_keypoints']), np.float32)
    scores = np.full((1, len(anchors), 1), FAR, np.float32)
    for index, (score, box, keypoints) in faces.items():
        x_center, y_center, anchor_w, anchor_h = anchors[index]
        x1, y1, x2, y2 = box
        xy = [((x1 + x2) / 2 / width - x_center) * card['x_scale'] / anchor_w,
              ((y1 + y2) / 2 / height - y_center) * card['y_scale'] / anchor_h]
        wh = [(x2 - x1) / width * card['w_scale'] / anchor_w,
              (y2 - y1) / height * card['h_scale'] / anchor_h]
        points = [[(x / width - x_center) * card['x_scale'] / anchor_w,
                   (y / height - y_center) * card['y_scale'] / anchor_h] for x, y in keypoints]
        values = np.array([xy, wh] + points)
        if not card['reverse_output_order']:
            values = values[:, ::-1]
        regressors[0, index] = values.ravel()
        scores[0, index] = _logit(score)
    return regressors, scores


FACE_POINTS = [(40, 40), (60, 41), (50, 50), (50, 60), (32, 45), (68, 46)]


@pytest.mark.parametrize('card, anchor', [(SHORT_RANGE, 37), (SHORT_RANGE, 700),
                                          (FULL_RANGE, 1000)])
def test_blazeface_decodes_box_score_and_keypoints(card, anchor):
    box = (30.0, 28.0, 72.5, 77.0)
    regressors, scores = _blazeface_tensors(card, {anchor: (0.9, box, FACE_POINTS)})
    found = _decode(card, [regressors, scores])
    assert len(found) == 1
    np.testing.assert_allclose(found.boxes[0], box, atol=1e-4)
    np.testing.assert_allclose(found.scores, [0.9], atol=1e-6)
    np.testing.assert_allclose(found.keypoints[0], FACE_POINTS, atol=1e-4)
    assert found.class_ids.tolist() == [0]


def test_blazeface_mediapipe_default_order_and_own_scales():
    card = dict(SHORT_RANGE, reverse_output_order=False, fixed_anchor_size=False,
                x_scale=10.0, y_scale=20.0, w_scale=5.0, h_scale=8.0, input_size=[128, 96])
    box = (10.0, 20.0, 50.0, 44.0)
    regressors, scores = _blazeface_tensors(card, {600: (0.7, box, FACE_POINTS)})
    # Scores first: the decoder tells the tensors apart by their shapes.
    found = _decode(card, [scores, regressors])
    np.testing.assert_allclose(found.boxes, [box], atol=1e-4)
    np.testing.assert_allclose(found.keypoints[0], FACE_POINTS, atol=1e-4)


def test_blazeface_blends_overlapping_anchors_by_score():
    near = (32.0, 28.0, 74.5, 77.0)
    regressors, scores = _blazeface_tensors(SHORT_RANGE, {
        100: (0.9, (30.0, 28.0, 72.5, 77.0), FACE_POINTS),
        101: (0.6, near, [(x + 2, y) for x, y in FACE_POINTS]),
        800: (0.8, (100.0, 100.0, 120.0, 124.0), FACE_POINTS)})
    found = _decode(SHORT_RANGE, [regressors, scores])
    np.testing.assert_allclose(found.scores, [0.9, 0.8], atol=1e-6)
    np.testing.assert_allclose(found.boxes[0], [30.8, 28.0, 73.3, 77.0], atol=1e-4)
    np.testing.assert_allclose(found.keypoints[0, 0], [40.8, 40.0], atol=1e-4)
    hard = _decode(dict(SHORT_RANGE, nms='hard'), [regressors, scores])
    np.testing.assert_allclose(hard.boxes[0], [30.0, 28.0, 72.5, 77.0], atol=1e-4)


def test_blazeface_threshold_max_detections_and_empty_result():
    faces = {i * 100: (0.55 + i * 0.05, (i * 12.0, 0.0, i * 12.0 + 10, 10.0), FACE_POINTS)
             for i in range(1, 8)}
    tensors = list(_blazeface_tensors(SHORT_RANGE, faces))
    assert len(_decode(SHORT_RANGE, tensors, threshold=0.72)) == 4
    top = _decode(SHORT_RANGE, tensors, max_detections=2)
    np.testing.assert_allclose(top.scores, [0.9, 0.85], atol=1e-6)
    empty = _decode(SHORT_RANGE, tensors, threshold=0.95)
    assert len(empty) == 0 and empty.keypoints.shape == (0, 6, 2)


def test_blazeface_clips_score_logits():
    regressors, scores = _blazeface_tensors(SHORT_RANGE, {})
    scores[0, 5] = 5.0
    found = _decode(dict(SHORT_RANGE, score_clipping_thresh=2.0), [regressors, scores], 0.5)
    np.testing.assert_allclose(found.scores, [1 / (1 + np.exp(-2.0))], atol=1e-6)
    scores[0, 5] = -1e4
    with np.errstate(all='raise'):
        assert len(_decode(dict(SHORT_RANGE, score_clipping_thresh=None),
                           [regressors, scores], 0.0, max_detections=1)) == 1


def test_blazeface_malformed_outputs_raise():
    regressors, scores = _blazeface_tensors(SHORT_RANGE, {})
    with pytest.raises(ValueError, match=r'expected shape \(1, 896, 16\), got \(1, 895, 16\)'):
        _decode(SHORT_RANGE, [regressors[:, :895], scores])
    with pytest.raises(ValueError, match=r'scores: expected shape \(1, 896, 1\), got \(896, 1\)'):
        _decode(SHORT_RANGE, [regressors, scores[0]])
    with pytest.raises(ValueError, match='expected 2 output tensors'):
        _decode(SHORT_RANGE, [regressors])


# RetinaFace (Pytorch_Retinaface's PriorBox and decode)

RETINAFACE = {
    'decoder': 'retinaface', 'input_size': [64, 48], 'labels': ['face'], 'strides': [8, 16, 32],
    'min_sizes': [[16, 32], [64, 128], [256, 512]], 'variances': [0.1, 0.2], 'num_keypoints': 5,
}


def test_retinaface_priors_per_cell_row_by_row_finest_stride_first():
    priors = retinaface_priors(64, 48, (8, 16, 32), ((16, 32), (64, 128), (256, 512)))
    # 8 x 6 cells at stride 8, 4 x 3 at 16, 2 x 2 at 32 (ceil), two sizes per cell.
    assert len(priors) == 2 * (48 + 12 + 4)
    np.testing.assert_array_equal(priors[:3], [[4, 4, 16, 16], [4, 4, 32, 32], [12, 4, 16, 16]])
    np.testing.assert_array_equal(priors[2 * 8], [4, 12, 16, 16])  # second row
    np.testing.assert_array_equal(priors[96], [8, 8, 64, 64])
    np.testing.assert_array_equal(priors[-1], [48, 48, 512, 512])
    assert retinaface_priors(64, 48, (8, 16, 32), ((16, 32), (64, 128), (256, 512))) is priors


def _retinaface_tensors(count, faces):
    """Return loc, conf, landmarks with background everywhere but {prior: (score, loc, points)}."""
    loc = np.zeros((1, count, 4), np.float32)
    conf = np.tile(np.array([[[1.0, 0.0]]], np.float32), (1, count, 1))
    points = np.zeros((1, count, 10), np.float32)
    for prior, (score, box, landmarks) in faces.items():
        loc[0, prior] = box
        conf[0, prior] = [1 - score, score]
        points[0, prior] = landmarks
    return loc, conf, points


def test_retinaface_decodes_box_score_and_landmarks():
    # Prior 2: centre (12, 4), size 16. Offsets 0.5 x 0.1 x 16 = 0.8 px; exp(0.2 log 2) = 2^0.2.
    size = 16 * 2 ** 0.2
    loc, conf, points = _retinaface_tensors(128, {
        2: (0.9, [0.5, -1.0, np.log(2), np.log(2)], [-2, -1, 2, -1, 0, 0, -1, 1, 1, 1])})
    found = _decode(RETINAFACE, [loc, conf, points])
    assert len(found) == 1 and found.class_ids[0] == 0
    np.testing.assert_allclose(found.scores, [0.9], atol=1e-6)
    centre = np.array([12 + 0.8, 4 - 1.6])
    np.testing.assert_allclose(found.boxes[0], [*(centre - size / 2), *(centre + size / 2)],
                               atol=1e-4)
    np.testing.assert_allclose(found.keypoints[0], [[8.8, 2.4], [15.2, 2.4], [12, 4],
                                                    [10.4, 5.6], [13.6, 5.6]], atol=1e-4)


def test_retinaface_outputs_found_by_width_in_any_order_and_nms():
    loc, conf, points = _retinaface_tensors(128, {0: (0.95, [0, 0, 0, 0], [0] * 10),
                                                  1: (0.7, [0, 0, -0.1, -0.1], [0] * 10),
                                                  127: (0.8, [0, 0, 0, 0], [0] * 10)})
    found = _decode(RETINAFACE, [points, loc, conf], iou=0.4)
    # Priors 0 and 1 share a centre (16 px and 32 px boxes, IoU 0.26 after the size offset).
    np.testing.assert_allclose(found.scores, [0.95, 0.8, 0.7], atol=1e-6)
    assert len(_decode(RETINAFACE, [points, loc, conf], threshold=0.9)) == 1


def test_retinaface_drops_non_finite_values_and_refuses_wrong_shapes():
    loc, conf, points = _retinaface_tensors(128, {0: (0.9, [0] * 4, [0] * 10),
                                                  5: (0.9, [np.nan, 0, 0, 0], [0] * 10),
                                                  9: (0.9, [0] * 4, [np.inf] + [0] * 9)})
    conf[0, 7] = np.nan
    found = _decode(RETINAFACE, [loc, conf, points])
    assert len(found) == 1 and np.isfinite(found.boxes).all()
    with pytest.raises(ValueError, match=r'retinaface loc: expected shape \(1, 128, 4\), got '
                       r'\(1, 127, 4\)'):
        _decode(RETINAFACE, [loc[:, :127], conf, points])
    with pytest.raises(ValueError, match=r'expected 3 output tensors .*got \[\(1, 128, 4\)\]'):
        _decode(RETINAFACE, [loc])
    with pytest.raises(ValueError, match='3 strides need as many min_sizes'):
        make_decoder(dict(RETINAFACE, min_sizes=[[16, 32]]))


# SSD DetectionOutput

SSD = {'decoder': 'ssd', 'input_size': [300, 200], 'labels': ['face'], 'label_offset': 1}


def test_ssd_detection_output_rows_end_at_image_id_minus_one():
    rows = [[0, 1, 0.9, 0.1, 0.2, 0.5, 0.6],
            [0, 0, 0.95, 0.0, 0.0, 1.0, 1.0],  # background
            [0, 1, 0.3, 0.6, 0.6, 0.7, 0.7],  # under the threshold
            [0, 1, 0.8, 0.6, 0.1, 0.9, 0.4],
            [-1, 0, 0, 0, 0, 0, 0],
            [0, 1, 0.99, 0.2, 0.2, 0.3, 0.3]]  # after the end: stale memory
    found = _decode(SSD, [np.array(rows, np.float32)[None, None]])
    np.testing.assert_allclose(found.boxes, [[30, 40, 150, 120], [180, 20, 270, 80]],
                               atol=1e-4)
    np.testing.assert_allclose(found.scores, [0.9, 0.8], atol=1e-6)
    assert found.class_ids.tolist() == [0, 0] and found.keypoints.shape == (2, 0, 2)


def test_ssd_labels_map_through_the_offset_and_nms_is_class_aware():
    card = dict(SSD, labels=['good', 'bad'], label_offset=0)
    rows = [[0, 1, 0.9, 0.1, 0.1, 0.5, 0.5], [0, 0, 0.8, 0.1, 0.1, 0.5, 0.5],
            [0, 0, 0.7, 0.11, 0.1, 0.5, 0.5], [0, 2, 0.9, 0.1, 0.1, 0.5, 0.5]]
    found = _decode(card, [np.array(rows, np.float32)[None, None]])
    assert found.class_ids.tolist() == [1, 0]


def test_ssd_count_first_buffer_of_the_compute_stick():
    keep_top_k = 100
    flat = np.full(7 * (keep_top_k + 1), 0.5, np.float32)  # stale values beyond the count
    flat[0] = 3
    flat[7:28] = [0, 1, 0.9, 0.1, 0.2, 0.5, 0.6,
                  0, 1, np.nan, 0.1, 0.2, 0.5, 0.6,  # the stick emits NaN rows at times
                  0, 1, 0.7, 0.6, 0.1, 0.9, 0.4]
    card = dict(SSD, layout='count_first')
    found = _decode(card, [flat])
    np.testing.assert_allclose(found.boxes, [[30, 40, 150, 120], [180, 20, 270, 80]],
                               atol=1e-4)
    np.testing.assert_allclose(found.scores, [0.9, 0.7], atol=1e-6)
    flat[0] = 1000  # a count past the buffer reads what there is
    assert len(_decode(card, [flat.reshape(1, -1)], threshold=0.6)) == 2
    flat[0] = 0
    assert len(_decode(card, [flat])) == 0


def test_ssd_malformed_outputs_raise():
    with pytest.raises(ValueError, match=r'expected shape \(1, 1, N, 7\), got \(1, 100, 7\)'):
        _decode(SSD, [np.zeros((1, 100, 7))])
    with pytest.raises(ValueError, match=r'7 \* \(keep_top_k \+ 1\) floats, got shape \(706,\)'):
        _decode(dict(SSD, layout='count_first'), [np.zeros(706)])
    with pytest.raises(ValueError, match='ssd layout must be one of'):
        make_decoder(dict(SSD, layout='yolo'))


# YOLO

def test_yolo_v8_single_tensor_head():
    card = {'decoder': 'yolo', 'layout': 'v8', 'input_size': [640, 640],
            'labels': ['good', 'bad']}
    columns = [[100, 120, 40, 60, 0.9, 0.1],
               [102, 120, 40, 60, 0.2, 0.8],  # overlaps the first, other class: kept
               [104, 120, 40, 60, 0.7, 0.1],  # overlaps the first, same class: dropped
               [500, 500, 20, 20, 0.3, 0.4]]  # under the threshold
    found = _decode(card, [np.array(columns, np.float32).T[None]])
    np.testing.assert_allclose(found.boxes, [[80, 90, 120, 150], [82, 90, 122, 150]], atol=1e-4)
    np.testing.assert_allclose(found.scores, [0.9, 0.8], atol=1e-6)
    assert found.class_ids.tolist() == [0, 1]


def test_yolo_v8_pose_head_carries_keypoints():
    card = {'decoder': 'yolo', 'layout': 'v8', 'input_size': [640, 640], 'labels': ['face'],
            'num_keypoints': 2}
    column = [100, 120, 40, 60, 0.9, 90, 110, 0.99, 111, 112, 0.5]
    found = _decode(card, [np.array([column], np.float32).T[None]])
    np.testing.assert_allclose(found.keypoints, [[[90, 110], [111, 112]]], atol=1e-4)


def test_yolo_v5_head_multiplies_objectness_and_class():
    card = {'decoder': 'yolo', 'layout': 'v5', 'input_size': [320, 320],
            'labels': ['good', 'bad']}
    rows = [[50, 60, 20, 30, 0.9, 0.2, 0.9],
            [200, 200, 10, 10, 0.6, 0.7, 0.1]]  # 0.42: under the threshold
    found = _decode(card, [np.array(rows, np.float32)[None]])
    np.testing.assert_allclose(found.boxes, [[40, 45, 60, 75]], atol=1e-4)
    np.testing.assert_allclose(found.scores, [0.81], atol=1e-6)
    assert found.class_ids.tolist() == [1]


def _darknet_grids(card, boxes, activated=False):
    """
    Return one grid per mask, in the card's order, encoding the boxes.

    Each box is (stride, anchor slot in the mask, cx, cy, w, h, objectness, class probabilities).
    """
    width, height = card['input_size']
    channels = 5 + len(card['labels'])
    anchors = np.array(card['anchors'])
    scale = card.get('scale_x_y', 1.0)
    fill = 0.0 if activated else FAR
    grids = {stride: np.full((1, len(mask) * channels, height // stride, width // stride), fill,
                             np.float32)
             for mask, stride in zip(card['masks'], card['strides'])}
    for stride, slot, cx, cy, w, h, objectness, probs in boxes:
        anchor_w, anchor_h = anchors[card['masks'][card['strides'].index(stride)][slot]]
        column, row = int(cx // stride), int(cy // stride)
        offsets = [(cx / stride - column + (scale - 1) / 2) / scale,
                   (cy / stride - row + (scale - 1) / 2) / scale]
        activated_values = offsets + [None, None, objectness] + list(probs)
        values = [v if activated or v is None else _logit(v) for v in activated_values]
        values[2:4] = [np.log(w / anchor_w), np.log(h / anchor_h)]
        grids[stride][0, slot * channels:(slot + 1) * channels, row, column] = values
    return [grids[stride] for stride in card['strides']]


DARKNET_BOXES = [(16, 1, 120.0, 90.0, 70.0, 50.0, 0.9, [0.1, 0.8]),
                 (32, 2, 200.0, 210.0, 300.0, 280.0, 0.95, [0.9, 0.05]),
                 (8, 0, 20.0, 300.0, 12.0, 14.0, 0.6, [0.9, 0.1])]  # 0.54: under 0.6


@pytest.mark.parametrize('changes', [{}, {'scale_x_y': 1.05}, {'sigmoid_applied': True}])
def test_yolo_darknet_grids_with_anchors(changes):
    card = dict(MASK_YOLO, **changes)
    grids = _darknet_grids(card, DARKNET_BOXES, activated=card.get('sigmoid_applied', False))
    found = _decode(card, grids[::-1], threshold=0.6)  # any output order
    np.testing.assert_allclose(found.boxes, [[50, 70, 350, 350], [85, 65, 155, 115]], atol=1e-4)
    np.testing.assert_allclose(found.scores, [0.95 * 0.9, 0.9 * 0.8], atol=1e-5)
    assert found.class_ids.tolist() == [0, 1] and found.keypoints.shape == (2, 0, 2)
    assert len(_decode(card, grids, threshold=0.99)) == 0


def test_yolo_malformed_outputs_raise():
    grids = _darknet_grids(MASK_YOLO, [])
    with pytest.raises(ValueError, match=r'expected output shapes .*\(1, 21, 13, 13\).*got '
                                         r'\(1, 21, 13, 12\)'):
        _decode(MASK_YOLO, [grids[0][..., :12], grids[1], grids[2]])
    with pytest.raises(ValueError, match='expected 3 output tensors'):
        _decode(MASK_YOLO, grids[:2])
    v8 = {'decoder': 'yolo', 'layout': 'v8', 'input_size': [640, 640], 'labels': ['face']}
    with pytest.raises(ValueError,
                       match=r'yolo v8: expected shape \(1, 5, N\), got \(1, 8400, 5\)'):
        _decode(v8, [np.zeros((1, 8400, 5))])
    with pytest.raises(ValueError, match=r'yolo v5: expected shape \(1, N, 6\)'):
        _decode(dict(v8, layout='v5'), [np.zeros((1, 5, 8400))])


def test_cards_with_unknown_decoder_or_missing_keys_are_refused():
    with pytest.raises(ValueError, match="decoder must be one of .* got 'centerface'"):
        make_decoder({'decoder': 'centerface'})
    with pytest.raises(ValueError, match=r"needs the keys \['masks'\]"):
        make_decoder({key: value for key, value in MASK_YOLO.items() if key != 'masks'})
    with pytest.raises(ValueError, match=r"needs the keys \['input_size'\]"):
        make_decoder({'decoder': 'ssd', 'labels': ['face']})
    with pytest.raises(ValueError, match="nms must be 'hard' or 'weighted', got 'soft'"):
        make_decoder(dict(SHORT_RANGE, nms='soft'))
