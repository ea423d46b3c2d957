"""How good is each proxy: the measurement on a couple of real images and on hand-made records."""

from __future__ import annotations

import json
import math
import zlib

import numpy as np
import pytest

from attention_center.core.centers import same_jxl_group
from ground_truth import filters as F
from ground_truth import training_use as T
from ground_truth.readers import SOURCES, read_source
from ground_truth.readers.bubbleview import SOURCE_NAMES
from ground_truth.records import Record
from ground_truth.studies import proxies as P


def click_record(image_id: str, points, hw=(600, 800)) -> Record:
    """One click per observer (no temporal drop for clicks)."""
    return Record(
        image_id=image_id,
        dataset="t",
        source="gdi_click_30x50",
        modality="click",
        image_path="/nonexistent.jpg",
        original_hw=hw,
        observers=[np.array([p], np.float64) for p in points],
    )


def test_split_half_per_definition():
    """Four observers, one click each, all kept; halves from the seeded generator."""
    points = [(100.0, 100.0), (110.0, 100.0), (100.0, 120.0), (130.0, 110.0)]
    record = click_record("t/one", points)
    errors, same = P.split_half([record], num_splits=3, seed=7)
    rng = np.random.default_rng([7, zlib.crc32(b"t/one")])
    expected = []
    for _ in range(3):
        a = set(rng.permutation(4)[:2].tolist())
        ca = np.mean([points[i] for i in a], axis=0)
        cb = np.mean([points[i] for i in range(4) if i not in a], axis=0)
        expected.append(np.hypot(*(ca - cb)) / 1000.0)  # diagonal of 600 x 800
    assert errors[0] == pytest.approx(np.mean(expected), abs=1e-12)
    assert same[0] == 1.0  # all in group (0, 0)
    # An odd count: n // 2 in the first half. One observer: no split (NaN).
    errors, _ = P.split_half(
        [click_record("t/odd", points[:3]), click_record("t/single", points[:1])], num_splits=2
    )
    assert np.isfinite(errors[0]) and math.isnan(errors[1])


def test_split_half_uses_the_kept_points():
    """A stray point is dropped by the full set's spatial filter before the halves are made."""
    points = [(100.0, 100.0), (102.0, 100.0), (100.0, 104.0), (101.0, 101.0), (700.0, 500.0)]
    record = click_record("t/stray", points)
    kept = P.kept_points_of([record])[1][0]
    assert len(kept) == 4 and [700.0, 500.0] not in kept.tolist()
    errors, _ = P.split_half([record], num_splits=20)
    assert errors[0] < 0.01  # halves of the four close points only


def test_compare_centers_across_sizes():
    """A proxy on a 640x480 copy of an 800x600 image is compared in the reference's pixels."""
    ref = np.array([[399.5, 299.5], [100.0, 100.0]])
    ref_hw = np.array([[600, 800], [600, 800]])
    # The same fractions of the picture at 640x480: ((x + 0.5) * 0.8 - 0.5).
    proxy = (ref + 0.5) * 0.8 - 0.5
    same = P.compare_centers(ref, ref_hw, proxy, [[480, 640]] * 2)
    assert same["mean_error"] == pytest.approx(0.0, abs=1e-12) and same["same_group"] == 1.0
    # 80 px right at 640x480 is 100 px at 800x600: 0.1 of the diagonal.
    shifted = P.compare_centers(ref[:1], ref_hw[:1], proxy[:1] + [80.0, 0.0], [[480, 640]])
    assert shifted["mean_error"] == pytest.approx(0.1) and shifted["num_images"] == 1
    assert shifted["same_group"] == float(same_jxl_group([[499.5, 299.5]], [[399.5, 299.5]])[0])


def test_density_cc():
    a = np.array([[100.0, 100.0], [300.0, 200.0]])
    assert P.density_cc(a, a, (600, 800)) == pytest.approx(1.0)
    far = P.density_cc(a, np.array([[700.0, 550.0]]), (600, 800))
    assert far < 0.1
    assert math.isnan(P.density_cc(a, np.zeros((0, 2)), (600, 800)))


def test_skill_and_weights_rule():
    assert P.skill(0.217, 0.217, 0.051) == 0.0 and P.skill(0.051, 0.217, 0.051) == 1.0
    assert T.weights_from(0.685, 0.795) == (0.5, 0.75)
    assert T.weights_from(0.188, 0.814) == (0.0, 0.75)
    assert T.weights_from(1.2, -0.1) == (1.0, 0.0)


def test_training_use_table():
    names = set(SOURCE_NAMES) | {"osie_mouse_lab", "osie_mouse_amt"}
    assert set(T.TRAINING_USE) == names and names <= set(SOURCES)
    for name, use in T.TRAINING_USE.items():
        assert use.target in ("center+density", "density", "none"), name
        if use.train:
            assert (use.center_weight, use.density_weight) == T.weights_from(
                use.skill, use.cc_ratio
            )
            assert use.target == ("center+density" if use.center_weight else "density")
        else:
            assert use.target == "none" and use.center_weight == use.density_weight == 0
    trained = sorted(n for n, u in T.TRAINING_USE.items() if u.train)
    assert trained == [
        "bv_salicon_click_30x30",
        "bv_salicon_mouse",
        "fiwi_eye",
        "gdi_click_30x50",
        "massvis_click_exp1_40x32",
        "massvis_click_exp2_40x32",
        "massvis_click_fv_40x32",
    ]
    assert (
        "| `gdi_click_30x50` | **yes** | center+density | 0.5 | 0.75 |" in P.training_use_markdown()
    )
    # What the trainer takes (--source_weights proxies): the trained sources only.
    weights = T.loss_weights()
    assert sorted(weights) == trained
    assert weights["bv_salicon_mouse"] == (0.0, 0.75) and weights["gdi_click_30x50"] == (0.5, 0.75)


@pytest.fixture(scope="module")
def fiwi(shared_data_dir):
    """FiWI eye and one click file, cut to two screenshots."""
    keep = {"fiwi/Amazon(2)", "fiwi/bbc_weather"}
    results = {
        name: read_source(name, shared_data_dir) for name in ("fiwi_eye", "fiwi_click_10x30")
    }
    for result in results.values():
        result.records = [r for r in result.records if r.image_id in keep]
    return results


def test_proxy_rows_on_two_images_by_hand(fiwi):
    comparison = P.Comparison("fiwi", "fiwi_eye", ("fiwi_click_10x30",))
    rows = P.proxy_rows(comparison, fiwi, counts=(1, 5), num_splits=4, seed=0)
    assert [(r["proxy"], r["k"]) for r in rows] == [
        ("fiwi_eye split-half", "3"),
        ("image centre", None),
        ("fiwi_click_10x30", "1"),
        ("fiwi_click_10x30", "5"),
    ]
    eye, clicks = fiwi["fiwi_eye"].records, fiwi["fiwi_click_10x30"].records
    assert [r.image_id for r in eye] == [r.image_id for r in clicks]
    t, s = F.params_for(eye[0])
    eye_c = F.filter_and_center(F.pad_records(eye), t, s).centers
    hw = np.array([r.original_hw for r in eye], np.float64)
    diagonal = np.hypot(hw[:, 0], hw[:, 1])
    for row, k in ((rows[2], 1), (rows[3], 5)):
        # By hand: each observer's first k clicks, the spatial filter, the mean.
        c = F.filter_and_center(
            F.pad_records(clicks),
            F.TemporalParams(drop_first=False, max_count=k),
            F.SpatialParams(),
        ).centers
        errors = np.hypot(*(c - eye_c).T) / diagonal
        assert row["mean_error"] == pytest.approx(errors.mean(), abs=1e-12)
        assert row["median_error"] == pytest.approx(np.median(errors), abs=1e-12)
        assert row["same_group"] == pytest.approx(same_jxl_group(c, eye_c).mean())
        assert row["num_images"] == 2 and row["default"] == (k == 5)
    middle = np.stack([(hw[:, 1] - 1) / 2, (hw[:, 0] - 1) / 2], axis=1)
    assert rows[1]["mean_error"] == pytest.approx((np.hypot(*(middle - eye_c).T) / diagonal).mean())
    errors, _ = P.split_half(eye, num_splits=4, seed=0)
    assert rows[0]["mean_error"] == pytest.approx(errors.mean()) and rows[0]["skill"] == 1.0
    assert rows[1]["skill"] == 0.0


def test_split_half_matches_the_evaluator(fiwi, shared_data_dir, tmp_path):
    """Same halves and the same numbers as the evaluator's human ceiling on index rows."""
    from attention_center.evaluation.baselines import split_half_consistency
    from ground_truth.build import records_to_rows

    eye = fiwi["fiwi_eye"].records
    rows = records_to_rows(eye, shared_data_dir, (480, 640), seed=0)
    theirs_e, theirs_s = split_half_consistency(rows, num_splits=10, seed=3)
    ours_e, ours_s = P.split_half(eye, num_splits=10, seed=3)
    np.testing.assert_allclose(ours_e, theirs_e, atol=1e-5)  # index rows round to 0.01 px
    np.testing.assert_allclose(ours_s, theirs_s)


def test_proxies_cli(shared_data_dir, tmp_path, capsys):
    from attention_center.cli.ground_truth import FLAGS, main

    FLAGS(
        [
            "ground_truth",
            "--data_dir",
            str(shared_data_dir),
            "--proxy_sets",
            "osie",
            "--noreliability",
            "--nopace",
            "--proxy_counts",
            "5",
            "--num_splits",
            "2",
            "--out",
            str(tmp_path),
        ]
    )
    try:
        assert main(["ground_truth", "proxies"]) == 0
    finally:
        FLAGS.unparse_flags()
    printed = capsys.readouterr().out
    assert (
        "**osie** (reference `bv_osie_eye`)" in printed
        and "| bv_osie_click_30x30 | click | **5** |" in printed
    )
    report = json.loads((tmp_path / "proxies.json").read_text())
    sources = {r["proxy"] for r in report["proxies"]}
    assert sources == {
        "bv_osie_eye split-half",
        "image centre",
        "bv_osie_mouse_lab",
        "osie_mouse_amt",
        "bv_osie_click_30x30",
        "bv_osie_mouse_mm30",
    }
    assert all(r["num_images"] == 51 for r in report["proxies"]) and not report["errors"]
    assert (tmp_path / "proxies.md").read_text().strip() == printed.strip()
