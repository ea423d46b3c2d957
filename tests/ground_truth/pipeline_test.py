"""tf.data pipeline and TFRecords: targets follow the pixels through every augmentation."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")

from conftest import FIXTURES  # noqa: E402

from attention_center.core.ground_truth_index import read_index  # noqa: E402
from ground_truth.build import build  # noqa: E402
from ground_truth.pipeline import make_dataset  # noqa: E402

DOT = (290, 60)  # (x, y) of a white dot in a 300 x 400 (h x w) black image


@pytest.fixture(scope="module")
def dot_build(tmp_path_factory):
    """A build of synthetic images with a white dot where every point is."""
    root = tmp_path_factory.mktemp("dots")
    lines = ["image,observer,order,x,y,source"]
    for k, (h, w, x, y) in enumerate([(300, 400, *DOT), (400, 300, 40, 350), (240, 320, 160, 20)]):
        image = np.zeros((h, w, 3), np.uint8)
        image[y - 2:y + 3, x - 2:x + 3] = 255
        Image.fromarray(image).save(root / f"dot{k}.png")
        lines += [f"dot{k}.png,a,1,{w // 2},{h // 2},mouse"]  # the cursor's start: dropped
        lines += [f"dot{k}.png,{o},{i},{x},{y},mouse" for o in "ab" for i in (2, 3)]
    (root / "dots.csv").write_text("\n".join(lines) + "\n")
    report = build([str(root / "dots.csv")], root, root / "out", progress=False, tfrecords=True)
    assert report.ok, report.errors
    return root / "out"


@pytest.mark.parametrize("kind", ["portable", "tfrecords"])
def test_augmented_centre_stays_on_the_dot(dot_build, kind):
    source = dot_build if kind == "portable" else str(dot_build / "tfrecords" / "*.tfrecord")
    ds = make_dataset(source, frame_hw=(240, 320), training=True, deterministic=True,
                      batch_size=3, seed=1, max_zoom=1.5, repeat=True)
    flips, checked = set(), 0
    for frames, targets in ds.take(6):
        for frame, center, density in zip(frames.numpy(), targets["center"].numpy(),
                                          targets["density"].numpy()):
            gray = frame.mean(-1)
            ys, xs = np.nonzero(gray > 0.5 * gray.max())
            assert len(xs), "the crop lost the centre"
            assert 0 <= center[0] <= 319 and 0 <= center[1] <= 239
            if xs.min() == 0 or ys.min() == 0 or xs.max() == 319 or ys.max() == 239:
                continue  # the dot is cut by the crop: its centroid moves
            w = gray[ys, xs]
            dot = np.array([np.sum(xs * w) / w.sum(), np.sum(ys * w) / w.sum()])
            assert np.linalg.norm(dot - center) < 1.5, (dot, center)
            checked += 1
            peak = np.unravel_index(np.argmax(density[..., 0]), density.shape[:2])
            assert np.linalg.norm((np.array(peak[::-1]) + 0.5) * 4 - 0.5 - center) < 4.5
            np.testing.assert_allclose(density.sum(), 1.0, rtol=1e-4)
            flips.add(bool(center[0] > 160))
    assert flips == {True, False}  # both flipped and unflipped examples were seen
    assert checked >= 12


def test_eval_mode_matches_the_index(dot_build):
    rows = read_index(dot_build)
    ds = make_dataset(dot_build, frame_hw=(480, 640), batch_size=8, deterministic=True)
    frames, targets = next(iter(ds))
    assert frames.shape == (3, 480, 640, 3) and frames.dtype == tf.float32
    assert targets["density"].shape == (3, 120, 160, 1)
    np.testing.assert_allclose(targets["center"].numpy(), [r["center_frame"] for r in rows], atol=1e-3)


def test_tfrecords_match_portable_and_refilter(dot_build):
    kw = dict(frame_hw=(240, 320), batch_size=8, deterministic=True)
    a = next(iter(make_dataset(dot_build, **kw)))[1]["center"].numpy()
    files = str(dot_build / "tfrecords" / "*.tfrecord")
    b = next(iter(make_dataset(files, **kw)))[1]["center"].numpy()
    c = next(iter(make_dataset(files, refilter=True, **kw)))[1]["center"].numpy()
    key = lambda m: m[np.lexsort(m.T)]  # noqa: E731  (TFRecords are grouped by split)
    np.testing.assert_allclose(key(a), key(b), atol=1e-3)
    np.testing.assert_allclose(b, c, atol=1e-3)


def test_deterministic_mode_repeats_exactly(dot_build):
    def first():
        ds = make_dataset(dot_build, training=True, deterministic=True, batch_size=3, seed=5)
        frames, targets = next(iter(ds))
        return frames.numpy(), targets["center"].numpy()

    (f1, c1), (f2, c2) = first(), first()
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(c1, c2)


def test_real_build_osie_frames(tmp_path):
    report = build(["osie_mouse_lab"], FIXTURES / "ground_truth", tmp_path, progress=False)
    assert report.ok
    frames, targets = next(iter(make_dataset(tmp_path, frame_hw=(240, 320), batch_size=1)))
    assert frames.shape == (1, 240, 320, 3)
    assert 0.0 <= float(frames.numpy().min()) and float(frames.numpy().max()) <= 1.0
    (row,) = read_index(tmp_path)
    np.testing.assert_allclose(targets["center"].numpy()[0],
                               (np.array(row["center_frame"]) + 0.5) / 2 - 0.5, atol=1e-3)
