"""Distillation, loss weights per source, leave-one-dataset-out and warm starts, on real data.

A tiny build of real OSIE images (their real fixations, through the generic JSONL reader)
and a real teacher whose centre is, by construction, the brightness centroid of its input
(``conftest.save_centroid_model``), so every soft target can be checked against pixels.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from conftest import save_centroid_model  # noqa: E402
from small_ground_truth import two_dataset_build  # noqa: E402

from attention_center.core.density import density_map  # noqa: E402
from attention_center.training.dataset import CenterDataset  # noqa: E402
from attention_center.training.teacher import (  # noqa: E402
    blended_target,
    map_to_weighted_points,
    teacher_targets,
)
from attention_center.training.warm_start import warm_start  # noqa: E402


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory, shared_data_dir):
    """A portable build of 4 real OSIE images in 2 datasets (to exclude one)."""
    return two_dataset_build(tmp_path_factory, shared_data_dir)


@pytest.fixture(scope="module")
def teacher_path(tmp_path_factory):
    return save_centroid_model(
        tmp_path_factory.mktemp("teacher") / "teacher.keras", frame_hw=(480, 640)
    )


def _records(build_dir):
    from attention_center.core.ground_truth_index import read_index

    return sorted(read_index(build_dir), key=lambda r: r["image_id"])


def test_a_map_becomes_weighted_points_at_its_cells_centres():
    grid = np.zeros((60, 80))
    grid[10, 20], grid[30, 70], grid[0, 0] = 3.0, 1.0, 0.001
    points, weights = map_to_weighted_points(grid, (480, 640), mass=0.9)
    # Stride 8: cell (row 10, col 20) is centred at (20 * 8 + 3.5, 10 * 8 + 3.5) frame pixels.
    np.testing.assert_allclose(points[0], [163.5, 83.5])
    np.testing.assert_allclose(weights.sum(), 1.0, rtol=1e-6)
    assert len(points) == 2  # 0.9 of the mass: the two large cells, not the speck
    np.testing.assert_allclose(weights, [0.75, 0.25], rtol=1e-3)
    mixed, mixed_weights = blended_target(
        np.array([[1.0, 2.0]]), None, type("T", (), {"points": points, "weights": weights})(), 0.25
    )
    np.testing.assert_allclose(mixed_weights, [0.75, 0.25 * 0.75, 0.25 * 0.25], rtol=1e-5)


def test_teacher_targets_are_its_predictions_and_are_cached(tiny_build, teacher_path):
    from PIL import Image

    records = _records(tiny_build)
    targets = teacher_targets(teacher_path, tiny_build, records)
    assert set(targets) == {r["image_id"] for r in records}
    for record in records:
        frame = np.asarray(
            Image.open(tiny_build / record["frame_path"]).convert("RGB"), np.float64
        ).mean(axis=-1)
        ys, xs = np.mgrid[: frame.shape[0], : frame.shape[1]]
        centroid = [(frame * xs).sum() / frame.sum(), (frame * ys).sum() / frame.sum()]
        target = targets[record["image_id"]]
        np.testing.assert_allclose(target.center, centroid, atol=0.5)
        np.testing.assert_allclose(target.weights.sum(), 1.0, rtol=1e-5)
    (cache,) = (tiny_build / "teacher").glob("*.npz")
    stamp = cache.stat().st_mtime_ns
    again = teacher_targets(teacher_path, tiny_build, records)
    assert cache.stat().st_mtime_ns == stamp  # read, not recomputed
    for key in targets:
        np.testing.assert_array_equal(again[key].points, targets[key].points)


def test_soft_targets_weights_and_exclusion_in_the_batches(tiny_build, teacher_path):
    records = _records(tiny_build)
    teacher = teacher_targets(teacher_path, tiny_build, records)
    common = dict(frame_hw=(240, 320), batch_size=4, map_stride=4, density_sigma=12.0)
    plain = CenterDataset(tiny_build, records, **common)
    only_teacher = CenterDataset(tiny_build, records, teacher=teacher, teacher_weight=1.0, **common)
    half = CenterDataset(
        tiny_build,
        records,
        teacher=teacher,
        teacher_weight=0.5,
        loss_weights={records[0]["source"]: (0.25, 0.75)},
        **common,
    )
    _, human = plain[0]
    _, soft = only_teacher[0]
    frames, mixed, weights = half[0]
    for i, record in enumerate(records):
        # 240x320 is the stored 480x640 frame halved: centres scale by 1/2 (pixel centres).
        expected = (teacher[record["image_id"]].center + 0.5) / 2 - 0.5
        np.testing.assert_allclose(soft["center"][i], expected, atol=1e-4)
        np.testing.assert_allclose(
            mixed["center"][i], (human["center"][i] + soft["center"][i]) / 2, atol=1e-4
        )
        np.testing.assert_allclose(mixed["weight_map"][i].sum(), 1.0, rtol=1e-4)
    assert not np.allclose(mixed["weight_map"], human["weight_map"])
    # The generic reader names a source <dataset>_<modality>: osie_eye, other_eye (default 1, 1).
    assert [r["source"] for r in records] == ["osie_eye", "osie_eye", "other_eye", "other_eye"]
    assert weights["center"].tolist() == [0.25, 0.25, 1.0, 1.0]
    assert weights["weight_map"].tolist() == [0.75, 0.75, 1.0, 1.0]
    assert frames.shape == (4, 240, 320, 3)
    # A density of weighted points is the weighted sum of the points' densities.
    a = density_map([[10, 10]], (20, 20), 2.0, normalize=None)
    b = density_map([[5, 15]], (20, 20), 2.0, normalize=None)
    np.testing.assert_allclose(
        density_map([[10, 10], [5, 15]], (20, 20), 2.0, normalize=None, weights=[0.8, 0.2]),
        0.8 * a + 0.2 * b,
        atol=1e-6,
    )


def test_leave_one_dataset_out_keeps_the_other_datasets(tiny_build):
    from attention_center.training.trainer import TrainConfig, Trainer

    trainer = Trainer(
        TrainConfig(
            data_dir=str(tiny_build),
            out_dir=str(tiny_build / "run"),
            sources=("osie_eye", "other_eye"),
            train_splits=("train", "val", "test"),
            val_split="",
            exclude_datasets=("other",),
            batch_size=2,
            input_hw=(96, 128),
        )
    )
    train, _ = trainer.datasets(map_stride=None)
    assert {r["dataset"] for r in train.records} == {"osie"} and len(train.records) == 2
    everything = Trainer(
        TrainConfig(
            data_dir=str(tiny_build),
            out_dir=str(tiny_build / "run2"),
            sources=("osie_eye", "other_eye"),
            train_splits=("train", "val", "test"),
            val_split="",
            exclude_datasets=("osie", "other"),
            input_hw=(96, 128),
        )
    )
    with pytest.raises(ValueError, match="no records left"):
        everything.datasets(map_stride=None)


def test_a_warm_start_copies_the_shared_layers_only():
    import attention_center as ac

    teacher = ac.build_model(
        "mobilenet_v2", input_shape=(96, 128, 3), alpha=0.35, backbone_weights=None, head_width=16
    )
    student = ac.build_model(
        "mobilenet_v2",
        input_shape=(96, 128, 3),
        alpha=0.35,
        backbone_weights=None,
        head_width=16,
        levels=("P2", "P3", "P4"),
    )
    report = warm_start(student, teacher)
    shared = {v.path for v in teacher.weights} & {v.path for v in student.weights}
    assert set(report.copied) == shared and not report.kept
    by_path = {v.path: np.asarray(v) for v in teacher.weights}
    for variable in student.weights:
        np.testing.assert_array_equal(np.asarray(variable), by_path[variable.path])
    other = ac.build_model(
        "mobilenet_v3_small",
        input_shape=(96, 128, 3),
        alpha=0.75,
        backbone_weights=None,
        head_width=8,
    )
    report = warm_start(other, teacher)
    assert len(report.kept) > 0 and len(report.skipped) > 0  # head names match, shapes do not
