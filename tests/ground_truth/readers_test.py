"""Readers on real records from every shared format, with centres worked out by hand.

Each hand-worked case copies the raw numbers from the file into the test,
converts them (1-based [row, col] or MATLAB x/y -> 0-based (x, y)), applies
the temporal filter by hand, then the spatial rule (keep points within 2.5 x
the median distance from the coordinate-wise median), and takes the mean.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
from conftest import FIXTURES

from ground_truth import filters as F
from ground_truth.readers import (
    read_generic,
    read_osie_eye,
    read_osie_mouse,
    read_salicon,
    read_scene_eye,
    read_source,
)
from ground_truth.records import Record, RecordError

GT_FIXTURES = FIXTURES / "ground_truth"


def one_observer(record: Record, index: int) -> Record:
    """The record restricted to one observer."""
    pick = lambda values: None if values is None else [values[index]]  # noqa: E731
    return Record(
        image_id=record.image_id,
        dataset=record.dataset,
        source=record.source,
        modality=record.modality,
        image_path=record.image_path,
        original_hw=record.original_hw,
        observers=[record.observers[index]],
        onset_ms=pick(record.onset_ms),
        duration_ms=pick(record.duration_ms),
    )


def center_of(record: Record, temporal=None, spatial=None):
    t, s = F.params_for(record)
    result = F.filter_and_center(F.pad_records([record]), temporal or t, spatial or s)
    return result.centers[0], result


@pytest.fixture(scope="module")
def osie_eye(shared_data_dir):
    return read_osie_eye(shared_data_dir)


def test_osie_eye_1001_subject_1_by_hand(osie_eye):
    record = next(r for r in osie_eye.records if r.image_id == "osie/1001")
    assert record.original_hw == (600, 800) and record.num_observers == 15
    # Raw: fix_x 395.5 390.6 370.8 341.2, fix_y 265.7 326.4 404.2 402.5, durations 246 136 179 433.
    np.testing.assert_allclose(
        record.observers[0][:4], [[394.5, 264.7], [389.6, 325.4], [369.8, 403.2], [340.2, 401.5]]
    )
    np.testing.assert_allclose(record.duration_ms[0][:4], [246, 136, 179, 433])
    # Temporal: drop the pre-stimulus fixation; onsets 246, 382, 561 ms <= 1500: keep the next 3.
    # Spatial: median (369.8, 401.5); distances 78.63, 1.70, 29.60; median 29.60, cut 74.0:
    # (389.6, 325.4) is dropped. Centre = mean of (369.8, 403.2) and (340.2, 401.5).
    center, result = center_of(one_observer(record, 0))
    np.testing.assert_allclose(center, [355.0, 402.35], atol=1e-9)
    assert result.temporal.sum() == 3 and result.spatial.sum() == 2


def test_osie_eye_whole_set(osie_eye):
    assert len(osie_eye.records) == 700 and not osie_eye.errors
    assert all(r.num_observers == 15 and r.modality == "eye" for r in osie_eye.records)
    assert osie_eye.drops["points_outside"] == 0 and osie_eye.drops["points_nan"] == 0
    points = np.concatenate([o for r in osie_eye.records for o in r.observers])
    assert points[:, 0].min() >= -0.5 and points[:, 0].max() <= 799.5
    assert points[:, 1].min() >= -0.5 and points[:, 1].max() <= 599.5


def test_osie_mouse_lab_1001_by_hand():
    result = read_osie_mouse(GT_FIXTURES / "osie", "lab")
    (record,) = result.records
    assert record.image_id == "osie/1001" and record.source == "osie_mouse_lab"
    assert record.modality == "mouse" and record.num_observers == 13
    # Raw coord [row, col]: [300 400] (the cursor's start, image centre), [212 173], [212 172],
    # [211 171], [210 170] -> (x, y) = (col - 1, row - 1).
    np.testing.assert_allclose(
        record.observers[0][:5], [[399, 299], [172, 211], [171, 211], [170, 210], [169, 209]]
    )
    # k = 3 after the start: (172, 211), (171, 211), (170, 210); median (171, 211);
    # distances 1, 0, 1.41; cut 2.5: all kept. Centre (171, 632 / 3).
    temporal = F.TemporalParams(drop_first=True, max_count=3)
    center, _ = center_of(one_observer(record, 0), temporal)
    np.testing.assert_allclose(center, [171.0, 632.0 / 3.0], atol=1e-9)


def test_osie_mouse_amt_1001_by_hand():
    result = read_osie_mouse(GT_FIXTURES / "osie", "amt")
    (record,) = result.records
    assert record.observer_ids[0] == 321
    # Raw [row, col]: [402 293] (start), [403 293], [407 293], [408 293].
    # k = 3 after the start: (292, 402), (292, 406), (292, 407); median (292, 406);
    # distances 4, 0, 1; median 1, cut 2.5: (292, 402) dropped. Centre (292, 406.5).
    temporal = F.TemporalParams(drop_first=True, max_count=3)
    center, result2 = center_of(one_observer(record, 0), temporal)
    np.testing.assert_allclose(center, [292.0, 406.5], atol=1e-9)
    assert result2.spatial.sum() == 2


def test_osie_mouse_amt_repeated_worker_is_two_observers(shared_data_dir):
    # In mouse_amt/1011.mat worker 254 appears in two runs, each restarting `order` at 1.
    from ground_truth.readers.common import ReadResult
    from ground_truth.readers.osie import read_osie_mouse_file

    result = ReadResult(records=[])
    root = shared_data_dir / "osie"
    read_osie_mouse_file(root / "data/mouse_amt/1011.mat", root, "osie_mouse_amt", result, {})
    (record,) = result.records
    fx = scipy.io.loadmat(
        shared_data_dir / "osie/data/mouse_amt/1011.mat", squeeze_me=True, struct_as_record=False
    )["fixations"]
    assert record.observer_ids.count(254) == 2
    assert record.num_points == len(fx.subj)
    assert record.num_observers > len(np.unique(fx.subj))


def test_scene_001_subject_1_by_hand(shared_data_dir):
    result = read_scene_eye(shared_data_dir)
    assert len(result.records) == 500 and not result.errors
    assert result.drops["observers_empty"] == 52  # empty cells of the 500 x 12 array
    assert result.drops["points_outside"] == 2
    record = result.records[0]
    assert record.image_id == "scene/001" and record.original_hw == (256, 256)
    # Raw [y, x, onset_s, duration_s]:
    # [118.4711111, 49.7777778, 0.334, 0.134], [119.9644444, 32.1896296, 0.493, 0.367],
    # [90.3111111, 60.2311111, 0.908, 0.441], [85.0014815, 87.7748148, 1.392, 0.196]
    np.testing.assert_allclose(record.onset_ms[0][:4], [334, 493, 908, 1392])
    # Onsets >= 100 ms: nothing is pre-stimulus; k = 3: the first three, all <= 1500 ms.
    # (x, y) = (48.7777778, 117.4711111), (31.1896296, 118.9644444), (59.2311111, 89.3111111);
    # median (48.78, 117.47), distances 0, 17.65, 30.04; cut 44.1: all kept.
    center, _ = center_of(one_observer(record, 0))
    np.testing.assert_allclose(center, [139.1985185185 / 3, 325.7466666667 / 3], atol=1e-6)


def test_scene_sizes_agree_with_images(shared_data_dir):
    from PIL import Image

    result = read_scene_eye(shared_data_dir)
    for record in result.records[::50]:
        with Image.open(record.image_path) as image:
            assert (image.height, image.width) == record.original_hw


def test_salicon_123855_worker_128_by_hand(shared_data_dir):
    result = read_salicon(shared_data_dir)
    assert len(result.records) == 10 and not result.errors
    record = next(r for r in result.records if r.image_id == "salicon/COCO_train2014_000000123855")
    assert record.original_hw == (480, 640) and record.num_observers == 60
    assert record.observer_ids[0] == 128
    # Raw [row, col]: [242, 314] (start), [242, 315], [242, 318], [243, 319].
    # k = 3 after the start: (314, 241), (317, 241), (318, 242); median (317, 241);
    # distances 3, 0, 1.41; median 1.41, cut 3.54: all kept. Centre (949/3, 724/3).
    temporal = F.TemporalParams(drop_first=True, max_count=3)
    center, _ = center_of(one_observer(record, 0), temporal)
    np.testing.assert_allclose(center, [949 / 3, 724 / 3], atol=1e-9)


def test_generic_csv_and_jsonl_agree_with_osie_eye(osie_eye):
    csv_result = read_generic(GT_FIXTURES / "osie_eye_1001.csv")
    jsonl_result = read_generic(GT_FIXTURES / "osie_eye_1001.jsonl")
    (csv_record,), (jsonl_record,) = csv_result.records, jsonl_result.records
    assert csv_record.image_id == "osiecsv/1001" and csv_record.source == "osiecsv_eye"
    assert jsonl_record.onset_ms is not None and csv_record.duration_ms is not None
    osie = next(r for r in osie_eye.records if r.image_id == "osie/1001")
    three = Record(
        image_id="x",
        dataset="x",
        source="x",
        modality="eye",
        image_path=osie.image_path,
        original_hw=osie.original_hw,
        observers=[o[:5] for o in osie.observers[:3]],
        duration_ms=[d[:5] for d in osie.duration_ms[:3]],
    )
    expected, _ = center_of(three)
    # CSV: order + durations ("eye" defaults: drop the first). JSONL: onsets from 0 ms
    # ("eye_onsets" defaults: drop onsets < 100 ms, i.e. the same first fixation).
    np.testing.assert_allclose(center_of(csv_record)[0], expected, atol=1e-6)
    np.testing.assert_allclose(center_of(jsonl_record)[0], expected, atol=1e-6)


def test_read_source_names(shared_data_dir):
    assert len(read_source("salicon", shared_data_dir).records) == 10
    with pytest.raises(ValueError, match="unknown source"):
        read_source("nope", shared_data_dir)


# --- validation: a clear error or a counted drop, never silence ----------------------------


def test_missing_file_names_it(tmp_path):
    with pytest.raises(RecordError, match="no such file"):
        read_osie_eye(tmp_path)


def test_corrupt_mat(tmp_path):
    path = tmp_path / "data" / "eye" / "fixations.mat"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"MATLAB 5.0 MAT-file, truncated garbage")
    with pytest.raises(RecordError, match="fixations.mat: not a readable MATLAB file"):
        read_osie_eye(tmp_path)


def test_wrong_variable(tmp_path):
    path = tmp_path / "data" / "eye" / "fixations.mat"
    path.parent.mkdir(parents=True)
    scipy.io.savemat(path, {"something_else": np.zeros(3)})
    with pytest.raises(RecordError, match="no variable 'fixations'"):
        read_osie_eye(tmp_path)


def test_mouse_nan_outside_empty_and_corrupt_counted(tmp_path):
    root = tmp_path / "osie"
    (root / "data" / "mouse_lab").mkdir(parents=True)
    (root / "data" / "stimuli").mkdir(parents=True)
    (root / "data" / "stimuli" / "1001.jpg").write_bytes(
        (GT_FIXTURES / "osie/data/stimuli/1001.jpg").read_bytes()
    )
    coord = np.array([[300, 400], [10, 10], [np.nan, 5], [700, 5], [12, 12]], float)
    scipy.io.savemat(
        root / "data/mouse_lab/1001.mat",
        {
            "fixations": {
                "subj": np.array([1, 1, 1, 1, 1]),
                "coord": coord,
                "order": np.arange(1, 6),
            }
        },
    )
    (root / "data/mouse_lab/1002.mat").write_bytes(b"not a mat file")
    result = read_osie_mouse(root, "lab")
    (record,) = result.records
    assert record.num_points == 3
    assert result.drops["points_nan"] == 1 and result.drops["points_outside"] == 1
    assert result.drops["files_unreadable"] == 1
    assert any("1002.mat" in e for e in result.errors)


def test_missing_image_counted(tmp_path):
    root = tmp_path / "osie"
    (root / "data" / "mouse_lab").mkdir(parents=True)
    scipy.io.savemat(
        root / "data/mouse_lab/1001.mat",
        {
            "fixations": {
                "subj": np.array([1, 1]),
                "coord": np.array([[1, 1], [2, 2]]),
                "order": np.array([1, 2]),
            }
        },
    )
    result = read_osie_mouse(root, "lab")
    assert not result.records and result.drops["images_missing"] == 1
    assert "1001.jpg" in result.errors[0]


def test_unreadable_and_missing_images_are_counted_and_the_rest_is_read(tmp_path):
    import shutil

    good = tmp_path / "good.jpg"
    shutil.copy(GT_FIXTURES / "osie/data/stimuli/1001.jpg", good)
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    rows = [
        {"image": name, "observer": "a", "order": k, "x": 10.0 + k, "y": 20.0, "source": "eye"}
        for name in ("good.jpg", "corrupt.jpg", "missing.jpg")
        for k in range(3)
    ]
    path = tmp_path / "points.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = read_generic(path)
    assert [r.image_id for r in result.records] == ["custom/good"]
    assert result.drops["images_missing"] == 2
    assert any("corrupt.jpg" in e and "not a readable image" in e for e in result.errors)
    assert any("missing.jpg" in e and "not found" in e for e in result.errors)


def test_empty_observers_dropped_and_counted(tmp_path):
    image = GT_FIXTURES / "osie/data/stimuli/1001.jpg"
    path = tmp_path / "points.csv"
    path.write_text(
        "image,observer,order,x,y,source\n"
        f"{image},a,1,10,10,eye\n"
        f"{image},b,1,nan,5,eye\n"
        f"{image},c,1,900,5,eye\n"
    )
    result = read_generic(path)
    (record,) = result.records
    assert record.num_observers == 1
    assert result.drops["observers_empty"] == 2
    assert result.drops["points_nan"] == 1 and result.drops["points_outside"] == 1


@pytest.mark.parametrize(
    "text, message",
    [
        ("image,observer,x,y,source\na.jpg,1,1,1,eye\n", "needs onset_ms or order"),
        ("image,observer,order,x,y\na.jpg,1,1,1,1\n", "missing \\['source'\\]"),
        ("image,observer,order,x,y,source\na.jpg,1,1,one,1,eye\n", "x='one' is not a number"),
        ("image,observer,order,x,y,source\na.jpg,1,1,1,1,nose\n", "expected eye or mouse"),
    ],
)
def test_generic_bad_rows(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(RecordError, match=message):
        read_generic(path)


def test_salicon_bad_json(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "fixations_x.json").write_text("{not json")
    with pytest.raises(RecordError, match="not valid JSON"):
        read_salicon(tmp_path)
    (tmp_path / "annotations" / "fixations_x.json").write_text(json.dumps({"images": []}))
    with pytest.raises(RecordError, match="no 'annotations'"):
        read_salicon(tmp_path)
