"""The ground-truth tf.data pipeline over TFRecords: the filters re-run in the graph agree
with the builder's centres, and split/source selection keeps what it names."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")

from conftest import FIXTURES  # noqa: E402

from attention_center.core.ground_truth_index import read_index  # noqa: E402
from ground_truth import filters as F  # noqa: E402
from ground_truth.build import build  # noqa: E402
from ground_truth.build.tfrecords import read_tfrecords  # noqa: E402

DOT = (290, 60)  # (x, y) of a white dot in a 300 x 400 (h x w) black image


@pytest.fixture(scope="module")
def dot_build(tmp_path_factory):
    """A build (with TFRecords) of synthetic images; each observer's first point is the
    cursor's start in the middle of the image, which the mouse filter drops."""
    root = tmp_path_factory.mktemp("dots")
    lines = ["image,observer,order,x,y,source"]
    for k, (h, w, x, y) in enumerate([(300, 400, *DOT), (400, 300, 40, 350), (240, 320, 160, 20)]):
        image = np.zeros((h, w, 3), np.uint8)
        image[y - 2 : y + 3, x - 2 : x + 3] = 255
        Image.fromarray(image).save(root / f"dot{k}.png")
        lines += [f"dot{k}.png,a,1,{w // 2},{h // 2},mouse"]
        lines += [f"dot{k}.png,{o},{i},{x},{y},mouse" for o in "ab" for i in (2, 3)]
    (root / "dots.csv").write_text("\n".join(lines) + "\n")
    report = build([str(root / "dots.csv")], root, root / "out", progress=False, tfrecords=True)
    assert report.ok, report.errors
    return root / "out"


def _by_image(ds):
    return {e["image_id"].numpy().decode(): e for e in ds}


def test_refiltering_in_tf_data_gives_the_builders_centres(dot_build):
    files = str(dot_build / "tfrecords" / "*.tfrecord")
    stored = _by_image(read_tfrecords(files))
    again = _by_image(read_tfrecords(files, refilter=True))
    rows = {r["image_id"]: r for r in read_index(dot_build)}
    assert set(stored) == set(again) == set(rows)
    for image_id, row in rows.items():
        np.testing.assert_allclose(stored[image_id]["center"].numpy(), row["center"], atol=1e-3)
        np.testing.assert_allclose(again[image_id]["center"].numpy(), row["center"], atol=1e-3)
        assert again[image_id]["points"].shape[1] == 2


def test_refilter_parameters_change_the_centre(dot_build):
    """Keeping every point (the cursor's start too) pulls the centre towards the middle:
    the parameters reach the filters, the test can fail."""
    files = str(dot_build / "tfrecords" / "*.tfrecord")
    keep_all = (F.TemporalParams(drop_first=False, max_count=None), F.SpatialParams(None))
    default = _by_image(read_tfrecords(files, refilter=True))
    loose = _by_image(read_tfrecords(files, refilter=keep_all))
    moved = [
        np.linalg.norm(loose[k]["center"].numpy() - default[k]["center"].numpy()) for k in default
    ]
    assert min(moved) > 5.0, moved


def test_split_and_source_selection(dot_build):
    files = str(dot_build / "tfrecords" / "*.tfrecord")
    rows = read_index(dot_build)
    for split in ("train", "val", "test"):
        got = [e["image_id"].numpy().decode() for e in read_tfrecords(files, split=split)]
        assert sorted(got) == sorted(r["image_id"] for r in rows if r["split"] == split)
    assert list(read_tfrecords(files, sources=["no_such_source"])) == []
    with pytest.raises(ValueError, match="no TFRecord files match"):
        read_tfrecords(str(dot_build / "nothing-*.tfrecord"))


def test_real_osie_record_round_trips(tmp_path):
    report = build(
        ["osie_mouse_lab"], FIXTURES / "ground_truth", tmp_path, progress=False, tfrecords=True
    )
    assert report.ok
    (row,) = read_index(tmp_path)
    (example,) = list(read_tfrecords(str(tmp_path / "tfrecords" / "*.tfrecord"), refilter=True))
    np.testing.assert_allclose(example["center"].numpy(), row["center"], atol=1e-3)
    image = tf.io.decode_image(example["image/encoded"]).numpy()
    assert image.shape[:2] == tuple(row["original_hw"])


def test_refiltering_sees_the_recorded_sequence_with_off_image_points(tmp_path):
    """An observer whose first sample is off the image: the builder drops that sample as the
    start (not the first real one); tf.data's re-filter, fed the recorded sequence with NaN in
    place of the dropped point, agrees, and never returns the NaN."""
    h, w, (x, y) = 300, 400, DOT
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(tmp_path / "dot.png")
    lines = ["image,observer,order,x,y,source", "dot.png,a,1,-50,150,mouse"]  # off the image
    lines += [f"dot.png,a,{i},{x + i},{y},mouse" for i in (2, 3, 4)]
    lines += ["dot.png,b,1,200,150,mouse", f"dot.png,b,2,{x + 1},{y},mouse"]
    (tmp_path / "p.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    report = build([str(tmp_path / "p.csv")], tmp_path, out, progress=False, tfrecords=True)
    assert report.ok, report.errors
    (row,) = read_index(out)
    # a: start off the image (dropped as the start), then x + 2, x + 3, x + 4; b: x + 1.
    assert row["num_points_kept"] == 4
    np.testing.assert_allclose(row["center"], [x + 2.5, y], atol=0.01)
    files = str(out / "tfrecords" / "*.tfrecord")
    (again,) = read_tfrecords(files, refilter=True)
    np.testing.assert_allclose(again["center"].numpy(), row["center"], atol=1e-3)
    points = again["points"].numpy()
    assert points.shape == (4, 2) and np.all(np.isfinite(points))
