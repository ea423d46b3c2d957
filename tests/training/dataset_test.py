"""The one training input pipeline (:class:`CenterDataset`): targets follow the pixels through
every augmentation, the tf.data view gives the same batches, and a model trains through it."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

from attention_center.core.ground_truth_index import read_index  # noqa: E402
from attention_center.training.dataset import CenterDataset  # noqa: E402
from ground_truth.build import build  # noqa: E402


@pytest.fixture(scope="module")
def dot_build(tmp_path_factory):
    """A portable build of synthetic images, a white dot where every kept point is."""
    root = tmp_path_factory.mktemp("dots")
    lines = ["image,observer,order,x,y,source"]
    spots = [(300, 400, 290, 60), (400, 300, 40, 350), (240, 320, 160, 20), (480, 640, 100, 400)]
    for k, (h, w, x, y) in enumerate(spots):
        image = np.zeros((h, w, 3), np.uint8)
        image[y - 3 : y + 4, x - 3 : x + 4] = 255
        Image.fromarray(image).save(root / f"dot{k}.png")
        lines += [f"dot{k}.png,a,1,{w // 2},{h // 2},mouse"]  # the cursor's start: dropped
        lines += [f"dot{k}.png,{o},{i},{x},{y},mouse" for o in "ab" for i in (2, 3)]
    (root / "dots.csv").write_text("\n".join(lines) + "\n")
    report = build([str(root / "dots.csv")], root, root / "out", progress=False)
    assert report.ok, report.errors
    return root / "out"


def _dot_centroid(frame):
    gray = frame.mean(-1)
    ys, xs = np.nonzero(gray > 0.5 * gray.max())
    w = gray[ys, xs]
    return np.array([np.sum(xs * w) / w.sum(), np.sum(ys * w) / w.sum()]), (xs, ys)


def test_augmented_centre_stays_on_the_dot(dot_build):
    records = read_index(dot_build)
    ds = CenterDataset(
        dot_build,
        records,
        frame_hw=(240, 320),
        batch_size=4,
        training=True,
        seed=3,
        map_stride=4,
        min_scale=0.7,
    )
    flips, checked = set(), 0
    for _ in range(4):
        frames, targets = ds[0]
        for frame, center, density in zip(frames, targets["center"], targets["weight_map"]):
            dot, (xs, ys) = _dot_centroid(frame)
            assert 0 <= center[0] <= 319 and 0 <= center[1] <= 239
            if xs.min() == 0 or ys.min() == 0 or xs.max() == 319 or ys.max() == 239:
                continue  # the dot is cut by the crop: its centroid moves
            assert np.linalg.norm(dot - center) < 2.0, (dot, center)
            peak = np.unravel_index(np.argmax(density[..., 0]), density.shape[:2])
            assert np.linalg.norm((np.array(peak[::-1]) + 0.5) * 4 - 0.5 - center) < 5.0
            np.testing.assert_allclose(density.sum(), 1.0, rtol=1e-4)
            flips.add(bool(center[0] > 160))
            checked += 1
        ds.on_epoch_end()
    assert checked >= 10 and len(flips) == 2


def test_no_flip_datasets_are_never_mirrored(dot_build):
    # Web pages, charts and designs are read from the top left: a mirrored one with mirrored
    # targets would teach a symmetric prior. Their datasets are left unflipped; the others
    # still are (the control), and both keep their targets on the dot.
    records = read_index(dot_build)
    (dataset,) = {r["dataset"] for r in records}
    xs = {}
    for no_flip in ((), (dataset,)):
        ds = CenterDataset(
            dot_build,
            records,
            frame_hw=(240, 320),
            training=True,
            min_scale=1.0,
            no_flip_datasets=no_flip,
        )
        rng = np.random.default_rng(7)
        for i in range(len(records)):
            plain_x = ds.example(i)[1][0, 0]
            for _ in range(12):
                frame, points = ds.example(i, rng)
                assert np.linalg.norm(_dot_centroid(frame / 255.0)[0] - points[0]) < 2.0
                mirrored = abs(points[0, 0] - (319 - plain_x)) < 1e-3
                assert mirrored or abs(points[0, 0] - plain_x) < 1e-3
                xs.setdefault(no_flip, []).append(mirrored)
    assert any(xs[()]) and not all(xs[()])
    assert not any(xs[(dataset,)])


def test_tf_dataset_view_gives_the_same_batches(dot_build):
    pytest.importorskip("tensorflow")
    records = read_index(dot_build)
    ds = CenterDataset(dot_build, records, frame_hw=(120, 160), batch_size=3, map_stride=8)
    direct = [ds[i] for i in range(len(ds))]
    viewed = list(ds.as_tf_dataset())
    assert len(viewed) == len(direct) == 2
    for (frames, targets), (tf_frames, tf_targets) in zip(direct, viewed):
        np.testing.assert_array_equal(frames, tf_frames.numpy())
        np.testing.assert_array_equal(targets["center"], tf_targets["center"].numpy())
        np.testing.assert_array_equal(targets["weight_map"], tf_targets["weight_map"].numpy())


def test_a_model_trains_one_step_through_it(dot_build):
    from attention_center import GravityCenter

    records = read_index(dot_build)
    ds = CenterDataset(
        dot_build, records, frame_hw=(48, 64), batch_size=4, training=True, map_stride=4
    )
    image = keras.Input((48, 64, 3))
    weight_map = keras.layers.Conv2D(1, 4, strides=4, activation="sigmoid", name="map")(image)
    model = keras.Model(image, {"center": GravityCenter()(weight_map), "weight_map": weight_map})
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2), loss={"center": "mse", "weight_map": "mse"}
    )
    before = [w.copy() for w in model.get_layer("map").get_weights()]
    history = model.fit(ds, epochs=1, steps_per_epoch=1, verbose=0)
    after = model.get_layer("map").get_weights()
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
