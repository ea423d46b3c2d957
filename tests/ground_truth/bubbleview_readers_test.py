"""BubbleView readers on the real files in ../shared/data/bubbleview, every one of them.

The figures in ``EXPECTED`` (images, observers, raw points, points outside the
image) were established independently of the reader: a script that opened
every file with ``scipy.io.loadmat``, took ``enc`` x first, subtracted the
file's origin and counted the points outside ``[-0.5, w - 0.5] x [-0.5, h -
0.5]`` of the image ``impath`` names (docs/ground_truth.md, "BubbleView");
``test_independent_recount`` repeats that count here for four files through
another loading path (``struct_as_record=True``, no squeezing). The hand-worked
cases copy raw numbers from the files and convert and filter them by hand.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from ground_truth import filters as F
from ground_truth.readers import SOURCES, bubbleview, read_source
from ground_truth.readers.bubbleview import (
    FILES,
    FILES_BY_SOURCE,
    SOURCE_NAMES,
    load_bubble,
    read_bubbleview,
    read_bubbleview_all,
    wall_clock_seconds,
)
from ground_truth.readers.common import load_mat
from ground_truth.readers.matfile import MatUnsupported, read_variable
from ground_truth.records import MODALITIES, Record, RecordError

#: source -> (images, observers, raw points in the file, points outside their image).
EXPECTED = {
    "fiwi_eye": (51, 561, 10060, 0),
    "fiwi_click_10x30": (51, 754, 13444, 0),
    "fiwi_click_10x50": (51, 806, 12419, 0),
    "fiwi_click_10x70": (51, 1016, 12932, 0),
    "fiwi_click_30x30": (51, 761, 35169, 1),
    "fiwi_click_30x50": (51, 736, 29449, 2),
    "fiwi_click_30x70": (51, 948, 27082, 4),
    "fiwi_click_dx30": (51, 699, 59862, 1),
    "bv_salicon_mouse": (51, 2961, 360012, 0),
    "bv_salicon_click_30x30": (51, 780, 9006, 0),
    "bv_salicon_click_30x50": (51, 737, 10436, 0),
    "bv_salicon_click_30x70": (51, 762, 7206, 0),
    "bv_salicon_click_50x30": (51, 773, 10371, 0),
    "bv_salicon_click_50x50": (51, 765, 11366, 0),
    "bv_salicon_click_50x70": (51, 766, 10320, 1),
    "bv_salicon_click_70x30": (51, 774, 9618, 0),
    "bv_salicon_click_70x50": (51, 796, 12432, 0),
    "bv_salicon_click_70x70": (51, 802, 11110, 0),
    "bv_salicon_mouse_mm30": (51, 707, 119563, 4),
    "bv_salicon_mouse_mm50": (51, 781, 124134, 1),
    "bv_osie_eye": (51, 765, 7117, 0),
    "bv_osie_mouse_lab": (51, 723, 74409, 0),
    "bv_osie_click_30x30": (51, 2975, 36286, 0),
    "bv_osie_mouse_mm30": (51, 2916, 478022, 22),
    "massvis_click_exp1_40x16": (51, 2208, 226196, 2),
    "massvis_click_exp1_40x24": (51, 2155, 172570, 2),
    "massvis_click_exp1_40x32": (51, 2169, 140513, 0),
    "massvis_click_exp2_40x24": (51, 1197, 83945, 1),
    "massvis_click_exp2_40x32": (51, 1184, 76369, 1),
    "massvis_click_exp2_40x40": (51, 713, 39844, 0),
    "massvis_click_fv_40x32": (30, 1734, 25122, 1),
    "gdi_click_30x50": (51, 758, 11508, 0),
}


@pytest.fixture(scope="module")
def results(shared_data_dir):
    """Every BubbleView source read once, through ``readers.SOURCES``."""
    return {name: read_source(name, shared_data_dir) for name in SOURCE_NAMES}


def record_of(results, source: str, image_id: str) -> Record:
    return next(r for r in results[source].records if r.image_id == image_id)


def one_observer(record: Record, index: int) -> Record:
    pick = lambda values: None if values is None else [values[index]]  # noqa: E731
    return Record(
        image_id=record.image_id,
        dataset=record.dataset,
        source=record.source,
        modality=record.modality,
        image_path=record.image_path,
        original_hw=record.original_hw,
        observers=[record.observers[index]],
        duration_ms=pick(record.duration_ms),
    )


def center_of(record: Record):
    t, s = F.params_for(record)
    result = F.filter_and_center(F.pad_records([record]), t, s)
    return result.centers[0], result


def test_one_source_per_file_registered_with_defaults(shared_data_dir):
    files = sorted(p.name for p in (shared_data_dir / "bubbleview").glob("*.mat"))
    assert sorted(f.file for f in FILES) == files and len(files) == 32
    assert set(SOURCE_NAMES) == set(EXPECTED) and set(SOURCE_NAMES) <= set(SOURCES)
    assert "click" in MODALITIES
    for spec in FILES:
        assert spec.source in F.SOURCE_DEFAULTS, spec.source
        # pipeline.py's refilter knows only the modality: the per-source kind must agree.
        assert F.params_for(spec.source) == F.params_for(spec.modality), spec.source
        assert (spec.modality == "click") == ("_click_" in spec.source)
    click_t, _ = F.params_for("click")
    assert click_t.drop_first is False and click_t.max_count == 5
    assert F.params_for("fiwi_eye") == F.DEFAULTS["eye"]


@pytest.mark.parametrize("source", sorted(EXPECTED))
def test_figures(results, shared_data_dir, source):
    shared_root = shared_data_dir.resolve()
    images, observers, raw_points, outside = EXPECTED[source]
    result = results[source]
    assert len(result.records) == images and not result.errors
    assert sum(r.num_observers for r in result.records) == observers
    assert sum(r.num_points for r in result.records) == raw_points - outside
    assert {k: v for k, v in result.drops.items() if v} == (
        {"points_outside": outside} if outside else {}
    )
    spec = FILES_BY_SOURCE[source]
    for record in result.records:
        assert record.source == source and record.modality == spec.modality
        assert record.image_id == f"{spec.dataset}/{Path(record.image_path).stem}"
        assert Path(record.image_path).parent.parent == shared_root / "bubbleview"
        assert (record.duration_ms is not None) == (spec.modality == "eye")
        assert record.onset_ms is None
        h, w = record.original_hw
        points = np.concatenate(record.observers)
        assert points[:, 0].min() >= -0.5 and points[:, 0].max() <= w - 0.5
        assert points[:, 1].min() >= -0.5 and points[:, 1].max() <= h - 0.5


def test_x_first(results):
    """Read the other way round, 9.5 - 33 % of every file's points would leave the image."""
    fractions = {}
    for source, result in results.items():
        swapped = total = 0
        for record in result.records:
            h, w = record.original_hw
            p = np.concatenate(record.observers)
            swapped += int(np.sum((p[:, 1] > w - 0.5) | (p[:, 0] > h - 0.5)))
            total += len(p)
        fractions[source] = swapped / total
    assert min(fractions.values()) > 0.09, fractions
    assert fractions["fiwi_click_30x70"] > 0.33 and fractions["massvis_click_fv_40x32"] < 0.10


def _recount(path, root, offset):
    """Observers, points and points outside, loaded without squeezing (``[1, 1]`` cells)."""
    bubble = scipy.io.loadmat(path, struct_as_record=True)["bubble"].ravel()
    observers = points = outside = 0
    for entry in bubble:
        w, h = Image.open(root / str(entry["impath"].ravel()[0])).size
        for user in entry["userdata"].ravel():
            enc = np.asarray(user["fixations"]["enc"][0, 0], np.float64).reshape(-1, 2) - offset
            observers += 1
            points += len(enc)
            outside += int(
                np.sum(
                    (enc[:, 0] < -0.5)
                    | (enc[:, 0] > w - 0.5)
                    | (enc[:, 1] < -0.5)
                    | (enc[:, 1] > h - 0.5)
                )
            )
    return len(bubble), observers, points, outside


@pytest.mark.parametrize(
    "source", ["gdi_click_30x50", "fiwi_click_30x70", "bv_salicon_click_50x70", "bv_osie_eye"]
)
def test_independent_recount(results, shared_data_dir, source):
    spec = FILES_BY_SOURCE[source]
    root = shared_data_dir / "bubbleview"
    assert _recount(root / spec.file, root, spec.offset) == EXPECTED[source]


def test_fiwi_eye_amazon_observer_1_by_hand(results):
    record = record_of(results, "fiwi_eye", "fiwi/Amazon(2)")
    assert record.original_hw == (768, 1366) and record.num_observers == 11
    # Raw enc (1-based) 377.1 272.7 / 203.0 198.5 / 93.1 78.2 / 88.6 75.1; enc_time (fixation
    # end times, ms) 334 448 534 641 -> durations 334 114 86 107.
    np.testing.assert_allclose(
        record.observers[0][:4], [[376.1, 271.7], [202.0, 197.5], [92.1, 77.2], [87.6, 74.1]]
    )
    np.testing.assert_allclose(record.duration_ms[0][:4], [334, 114, 86, 107])
    # Temporal: drop the first (in progress when the page appeared); onsets 334, 448, 534 ms
    # <= 1500: keep the next 3. Spatial: median (92.1, 77.2); distances 162.93, 0, 5.46;
    # median 5.46, cut 13.66: (202.0, 197.5) dropped. Centre: mean of the other two.
    center, result = center_of(one_observer(record, 0))
    np.testing.assert_allclose(center, [89.85, 75.65], atol=1e-9)
    assert result.temporal.sum() == 3 and result.spatial.sum() == 2


def test_fiwi_click_amazon_observer_1_by_hand(results):
    record = record_of(results, "fiwi_click_10x30", "fiwi/Amazon(2)")
    assert record.modality == "click" and record.num_observers == 15
    # Raw enc (0-based browser coordinates, kept as they are).
    first = [
        [119.525, 45.078],
        [73.081, 53.274],
        [914.537, 443.95],
        [671.389, 490.394],
        [578.501, 401.604],
    ]
    np.testing.assert_allclose(record.observers[0][:5], first, atol=1e-9)
    # Temporal: the first 5 clicks, nothing dropped. Spatial: median (578.501, 401.604);
    # distances 581.2, 613.8, 338.7, 128.5, 0; median 338.7, cut 846.7: all kept.
    center, result = center_of(one_observer(record, 0))
    np.testing.assert_allclose(center, np.mean(first, axis=0), atol=1e-9)
    assert result.temporal.sum() == 5 and result.spatial.sum() == 5


def test_bv_osie_eye_is_osie_eye_at_640x480(results, shared_data_dir):
    """BubbleView's OSIE eye file is OSIE's own data, coordinates x 0.8 (all 765 observers)."""
    record = record_of(results, "bv_osie_eye", "osie/1004")
    assert record.original_hw == (480, 640) and record.image_path.endswith("targets_osie/1004.jpg")
    # Raw enc 269.84 149.6 / 230.0 118.8 = OSIE's fix_x, fix_y 337.3 187.0 / 287.5 148.5 x 0.8;
    # 0-based in the 640 image: (x1 - 1 + 0.5) * 0.8 - 0.5 = enc - 0.9.
    np.testing.assert_allclose(record.observers[0][:2], [[268.94, 148.7], [229.1, 117.9]])
    np.testing.assert_allclose(
        record.observers[0][:2], (np.array([[337.3, 187.0], [287.5, 148.5]]) - 0.5) * 0.8 - 0.5
    )
    np.testing.assert_allclose(record.duration_ms[0][:4], [80, 177, 130, 138])
    # The same pictures, so their ids are OSIE's and every centre maps onto osie_eye's exactly.
    from attention_center.core.centers import normalized_centers

    osie = {r.image_id: r for r in read_source("osie_eye", shared_data_dir).records}
    bv = results["bv_osie_eye"].records
    assert all(r.image_id in osie for r in bv)
    full = [osie[r.image_id] for r in bv]
    t, s = F.params_for("eye")
    c_bv = F.filter_and_center(F.pad_records(bv), t, s).centers
    c_osie = F.filter_and_center(F.pad_records(full), t, s).centers
    np.testing.assert_allclose(
        normalized_centers(c_bv, [r.original_hw for r in bv]),
        normalized_centers(c_osie, [r.original_hw for r in full]),
        atol=1e-9,
    )


def test_bv_osie_mouse_lab_first_sample(results):
    record = record_of(results, "bv_osie_mouse_lab", "osie/1004")
    # Raw 320.0 240.0 (OSIE lab's cursor start [300, 400] x 0.8), then 239.2 131.2.
    np.testing.assert_allclose(record.observers[0][:2], [[319.1, 239.1], [238.3, 130.3]])


def test_bv_salicon_mouse_first_samples(results):
    record = record_of(results, "bv_salicon_mouse", "salicon/COCO_train2014_000000001014")
    assert record.original_hw == (480, 640) and record.num_observers == 57
    # Raw uint16, 1-based (values reach w and h exactly): 295 247 / 295 248 / 292 258.
    np.testing.assert_allclose(record.observers[0][:3], [[294, 246], [294, 247], [291, 257]])
    assert len(record.observers[0]) == 146


def test_single_point_observers(results):
    """A one-point observer comes as a flat [2] enc and a scalar enc_time string."""
    record = record_of(results, "bv_osie_eye", "osie/1373")
    np.testing.assert_allclose(record.observers[7], [[328.08 - 0.9, 194.4 - 0.9]])
    np.testing.assert_allclose(record.duration_ms[7], [1890])
    ones = [
        (r.image_id, j)
        for r in results["bv_salicon_mouse"].records
        for j, o in enumerate(r.observers)
        if len(o) == 1
    ]
    assert len(ones) == 5 and ("salicon/COCO_train2014_000000008776", 26) in ones
    assert record_of(results, "bv_salicon_mouse", "salicon/COCO_train2014_000000008776").observers[
        26
    ].tolist() == [[336.0, 332.0]]


def test_massvis_first_clicks_and_shared_ids(results):
    record = record_of(results, "massvis_click_exp1_40x16", "massvis/economist_daily_chart_124")
    assert record.original_hw == (494, 500) and record.num_observers == 43
    np.testing.assert_allclose(
        record.observers[0][:3],
        [
            [29.09000015258789, 387.52999997138977],
            [53.09000015258789, 389.52999997138977],
            [73.09000015258789, 393.52999997138977],
        ],
    )
    # The free-viewing file shows the same chart enlarged (targets_massvis30): the same id.
    fv = record_of(results, "massvis_click_fv_40x32", "massvis/economist_daily_chart_124")
    assert fv.original_hw == (588, 595) and fv.image_path.endswith(
        "targets_massvis30/economist_daily_chart_124.png"
    )
    np.testing.assert_allclose(fv.observers[0][:2], [[29.5, 463.0], [64.5, 463.0]])
    fv_ids = {r.image_id for r in results["massvis_click_fv_40x32"].records}
    exp1_ids = {r.image_id for r in results["massvis_click_exp1_40x16"].records}
    exp2_ids = {r.image_id for r in results["massvis_click_exp2_40x24"].records}
    assert (len(fv_ids & exp1_ids), len(fv_ids & exp2_ids), len(exp1_ids & exp2_ids)) == (9, 8, 2)


def test_gdi_observer_1_by_hand(results):
    record = record_of(results, "gdi_click_30x50", "gdi/132_345386348_504248b68a_z")
    first = [[54.5, 46.0], [151.5, 61.0], [230.5, 73.0], [306.5, 59.0], [378.5, 57.0]]
    np.testing.assert_allclose(record.observers[0][:5], first)
    # Median (230.5, 59.0); distances 176.5, 79.0, 14.0, 76.0, 148.0; median 79.0, cut 197.5:
    # all five kept.
    center, result = center_of(one_observer(record, 0))
    np.testing.assert_allclose(center, [224.3, 59.2], atol=1e-9)
    assert result.spatial.sum() == 5


@pytest.mark.parametrize("file", ["gdi30x50.mat", "osie-eye-official.mat", "salicon30x70.mat"])
def test_fast_path_reads_what_load_mat_reads(shared_data_dir, file):
    """The points-only reader gives loadmat's structure and values (all 32 files were checked
    once; these three include a one-point observer and a uint16-free float file)."""
    path = shared_data_dir / "bubbleview" / file
    fast, full = load_bubble(path, points_only=True), np.atleast_1d(load_mat(path, "bubble"))
    assert len(fast) == len(full)
    for a, b in zip(fast, full):
        assert (a.filename, a.impath, a._fieldnames) == (b.filename, b.impath, b._fieldnames)
        users_a, users_b = np.atleast_1d(a.userdata), np.atleast_1d(b.userdata)
        assert len(users_a) == len(users_b)
        for u, v in zip(users_a, users_b):
            assert u.fixations._fieldnames == v.fixations._fieldnames
            assert u.fixations.enc_time is None  # skipped unread
            enc_a, enc_b = np.asarray(u.fixations.enc), np.asarray(v.fixations.enc)
            assert enc_a.shape == enc_b.shape and enc_a.dtype == enc_b.dtype
            np.testing.assert_array_equal(enc_a, enc_b)


def test_fast_path_falls_back_to_load_mat(results, shared_data_dir, monkeypatch):
    def unsupported(path, variable, fields=None):
        raise MatUnsupported("forced")

    monkeypatch.setattr(bubbleview, "read_variable", unsupported)
    slow = read_bubbleview("bv_salicon_click_50x70", shared_data_dir)
    fast = results["bv_salicon_click_50x70"]
    assert [r.image_id for r in slow.records] == [r.image_id for r in fast.records]
    for a, b in zip(slow.records, fast.records):
        assert len(a.observers) == len(b.observers)
        for p, q in zip(a.observers, b.observers):
            np.testing.assert_array_equal(p, q)
    assert slow.drops == fast.drops


def test_wall_clock_seconds():
    np.testing.assert_array_equal(
        wall_clock_seconds(["2016-04-30 20:07:31", "2016-04-30 20:07:31", "2016-04-30 20:08:02"]),
        [0, 0, 31],
    )
    np.testing.assert_array_equal(wall_clock_seconds("2016/04/08 11:45:10"), [0])
    with pytest.raises(RecordError, match="not a wall-clock time"):
        wall_clock_seconds(["yesterday"], "f.mat", "image 1")


# --- quirks and errors, on small synthetic files (no data copied) ---------------------------


def _struct(**fields):
    return fields


def _bubble(entries):
    array = np.zeros(
        (1, len(entries)), dtype=[("filename", "O"), ("impath", "O"), ("userdata", "O")]
    )
    for i, entry in enumerate(entries):
        array[0, i] = entry
    return array


def _users(*fixations):
    array = np.zeros((1, len(fixations)), dtype=[("fixations", "O")])
    for i, f in enumerate(fixations):
        array[0, i] = (f,)
    return array


def _fake_root(tmp_path):
    (tmp_path / "targets_gdi").mkdir()
    for name in ("a", "b", "c", "e", "f"):
        Image.new("RGB", (40, 30)).save(tmp_path / "targets_gdi" / f"{name}.png")
    return tmp_path


def test_quirks_counted(tmp_path):
    root = _fake_root(tmp_path)
    clock = np.array(["2016-01-01 00:00:00", "2016-01-01 00:00:01"], dtype=object)
    good = _struct(enc=np.array([[10.0, 20.0], [30.0, 25.0]]), enc_time=clock)
    bubble = _bubble(
        [
            ("a.png", "targets_gdi/a.png", _struct(fixations=good)),  # a single struct
            (
                "b.png",
                "targets_gdi/b.png",
                _users(
                    good,
                    np.zeros((0, 0)),  # an empty cell
                    _struct(enc=np.array([[39.6, 10.0], [5.0, 5.0]]), enc_time=clock),  # 1 outside
                    _struct(enc=np.ones((2, 3)), enc_time=clock),
                ),
            ),  # malformed
            ("c.png", "targets_gdi/c.png", np.zeros((0, 0))),  # no observer
            ("d.png", "targets_gdi/d.png", _struct(fixations=good)),  # missing image
            ("e.png", "targets_gdi/a.png", _struct(fixations=good)),  # impath names another
            ("f.png", "targets_gdi/f.png", np.array([[1.0, 2.0]])),  # userdata not structs
        ]
    )
    scipy.io.savemat(root / "gdi30x50.mat", {"bubble": bubble})
    assert (
        len(read_variable(root / "gdi30x50.mat", "bubble", bubbleview.POINT_FIELDS)) == 6
    )  # the fast path, no fallback
    result = read_bubbleview("gdi_click_30x50", root)
    assert [r.image_id for r in result.records] == ["gdi/a", "gdi/b"]
    assert [r.num_observers for r in result.records] == [1, 2]
    assert result.records[1].observers[1].tolist() == [[5.0, 5.0]]
    assert {k: v for k, v in result.drops.items() if v} == {
        "points_outside": 1,
        "observers_empty": 1,
        "observers_malformed": 1,
        "records_empty": 1,
        "images_missing": 1,
        "images_name_mismatch": 1,
        "images_malformed": 1,
    }
    assert len(result.errors) == 5
    assert any("image 6 (f.png): userdata is not a struct array" in e for e in result.errors)
    assert any("image 2 (b.png) observer 4: enc has shape (2, 3)" in e for e in result.errors)
    assert any("targets_gdi/d.png" in e for e in result.errors)


def test_eye_times_must_fit(tmp_path):
    root = tmp_path
    (root / "targets_fiwi").mkdir()
    Image.new("RGB", (40, 30)).save(root / "targets_fiwi" / "a.png")
    bubble = _bubble(
        [
            (
                "a.png",
                "targets_fiwi/a.png",
                _users(
                    _struct(
                        enc=np.array([[10.0, 20.0], [30.0, 25.0]]),
                        enc_time=np.array(["300", "520"], dtype=object),
                    ),
                    _struct(
                        enc=np.array([[10.0, 20.0], [30.0, 25.0]]),
                        enc_time=np.array(["300"], dtype=object),
                    ),  # one time for two points
                    _struct(
                        enc=np.array([[10.0, 20.0], [30.0, 25.0]]),
                        enc_time=np.array(["300", "200"], dtype=object),
                    ),
                ),
            )
        ]
    )  # end times go back
    scipy.io.savemat(root / "fiwi_eyetrack.mat", {"bubble": bubble})
    result = read_bubbleview("fiwi_eye", root)
    (record,) = result.records
    assert record.num_observers == 1 and record.image_id == "fiwi/a"
    np.testing.assert_allclose(record.observers[0], [[9.0, 19.0], [29.0, 24.0]])  # 1-based
    np.testing.assert_allclose(record.duration_ms[0], [300, 220])
    assert result.drops["observers_malformed"] == 2
    assert any("1 enc_time values for 2 points" in e for e in result.errors)
    assert any("negative or non-finite" in e for e in result.errors)


def test_bad_files_raise_and_do_not_stop_the_others(tmp_path):
    root = _fake_root(tmp_path)
    with pytest.raises(RecordError, match="gdi30x50.mat: no such file"):
        read_bubbleview("gdi_click_30x50", root)
    (root / "gdi30x50.mat").write_bytes(b"not a MATLAB file")
    with pytest.raises(RecordError, match="gdi30x50.mat: not a readable MATLAB file"):
        read_bubbleview("gdi_click_30x50", root)
    scipy.io.savemat(root / "osie30x30.mat", {"other": np.ones(2)})
    with pytest.raises(RecordError, match=r"osie30x30.mat: no variable 'bubble'"):
        read_bubbleview("bv_osie_click_30x30", root)
    no_userdata = np.zeros((1, 1), dtype=[("filename", "O"), ("impath", "O")])
    no_userdata[0, 0] = ("a.png", "targets_gdi/a.png")
    scipy.io.savemat(root / "massvis_fv_40x32.mat", {"bubble": no_userdata})
    with pytest.raises(RecordError, match="no field 'userdata'"):
        read_bubbleview("massvis_click_fv_40x32", root)
    with pytest.raises(ValueError, match="unknown BubbleView source"):
        read_bubbleview("fiwi_click_99x99", root)
    good = _bubble(
        [
            (
                "a.png",
                "targets_gdi/a.png",
                _struct(
                    fixations=_struct(enc=np.array([[1.0, 2.0]]), enc_time="2016-01-01 00:00:00")
                ),
            )
        ]
    )
    scipy.io.savemat(root / "salicon30x30.mat", {"bubble": good})
    results = read_bubbleview_all(root, ["gdi_click_30x50", "bv_salicon_click_30x30"])
    assert results["gdi_click_30x50"].drops["files_unreadable"] == 1
    assert not results["gdi_click_30x50"].records
    assert [r.image_id for r in results["bv_salicon_click_30x30"].records] == ["salicon/a"]


def test_build_cli_without_keras_or_tensorflow(shared_data_dir, tmp_path):
    """``python -m ground_truth build`` on BubbleView sources, in a fresh interpreter."""
    code = (
        "import runpy, sys, json\n"
        "sys.argv = ['ground_truth', 'build', '--source', 'bv_osie_eye,bv_osie_click_30x30',"
        f" '--data_dir', {str(shared_data_dir)!r}, '--out', {str(tmp_path / 'gt')!r}, '--noprogress']\n"  # noqa: E501
        "try:\n    runpy.run_module('ground_truth', run_name='__main__')\n"
        "except SystemExit as e:\n    status = e.code\n"
        "print(json.dumps({'status': status, 'keras': 'keras' in sys.modules,"
        " 'tensorflow': 'tensorflow' in sys.modules}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"status": 0, "keras": False, "tensorflow": False}, done.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "gt" / "index.jsonl").read_text().splitlines()]
    assert len(rows) == 102 and {r["source"] for r in rows} == {
        "bv_osie_eye",
        "bv_osie_click_30x30",
    }
    assert {r["modality"] for r in rows} == {"eye", "click"}
    assert len(list((tmp_path / "gt" / "frames").glob("osie_*.jpg"))) == 51
