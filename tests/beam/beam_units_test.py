"""The Beam building blocks on their own: model handler, names, atomic writes, the PTransform
in a user's own pipeline (FnApiRunner, real Kodak photos and the bundled model)."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest

pytest.importorskip("apache_beam")

import apache_beam as beam  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402
from apache_beam.testing.util import assert_that  # noqa: E402

from attention_center.beam import io as beam_io  # noqa: E402
from attention_center.beam.model_handler import CenterModelHandler, model_version  # noqa: E402
from attention_center.beam.records import OutputLayout, dead_letter  # noqa: E402
from attention_center.beam.transforms import ImageCenters, is_image_path  # noqa: E402
from attention_center.core.images import load_image, resize_with_pad  # noqa: E402


def test_handler_pickles_without_a_model_and_runs_a_batch(kodak_paths):
    handler = pickle.loads(pickle.dumps(CenterModelHandler("default", max_batch_size=3)))
    assert handler.batch_elements_kwargs() == {"min_batch_size": 1, "max_batch_size": 3}
    loaded = handler.load_model()
    frames = [resize_with_pad(load_image(p))[0] for p in kodak_paths[:2]]
    results = list(handler.run_inference(frames, loaded))
    assert len(results) == 2
    for result, frame in zip(results, frames):
        assert result.example is None and result.model_id == model_version(loaded.predictor)
        assert result.inference.dtype == np.float64 and result.inference.shape == (2,)
        np.testing.assert_array_equal(
            result.inference, loaded.predictor.predict_frames(frame[None])["center"][0]
        )
    assert handler.get_num_bytes(frames) == 2 * 480 * 640 * 3 * 4


def test_models_without_our_metadata_get_a_content_hash(google_model_path):
    loaded = CenterModelHandler(str(google_model_path)).load_model()
    assert loaded.version.startswith("sha256:") and loaded.name == "google_center.tflite"


@pytest.mark.parametrize(
    "pattern,base",
    [
        ("/data/photos/**/*.jpg", "/data/photos"),
        ("gs://b/in/*.png", "gs://b/in"),
        ("/data/one.jpg", "/data"),
        ("/data/2024-0[1-6]/*.jpg", "/data"),
        ("*.jpg", "."),
    ],
)
def test_glob_base(pattern, base):
    assert beam_io.glob_base(pattern) == base


def test_names_are_deterministic_and_mirror_the_tree():
    assert beam_io.relative_name("/data/p/a/b.jpg", "/data/p") == "a/b.jpg"
    assert beam_io.relative_name("gs://b/in/x.png", "gs://b/in") == "x.png"
    outside = beam_io.relative_name("/elsewhere/x.png", "/data/p")
    assert outside == beam_io.relative_name("/elsewhere/x.png", "/data/p")
    assert outside.startswith("_outside/") and outside.endswith("/x.png")
    layout = OutputLayout("gs://b/out", num_shards=2)
    assert layout.jxl("a/b.jpg") == "gs://b/out/jxl/a/b.jpg.jxl"
    assert layout.record("a/b.jpg") == "gs://b/out/records/a/b.jpg.json"
    assert layout.centers() == [
        "gs://b/out/centers-00000-of-00002.jsonl",
        "gs://b/out/centers-00001-of-00002.jsonl",
    ]
    assert beam_io.stable_hash("a") == beam_io.stable_hash("a") != beam_io.stable_hash("b")


def test_inputs_are_images_not_temporaries_or_outputs():
    assert is_image_path("/in/a.JPG") and is_image_path("gs://b/in/x.webp")
    assert not is_image_path("/in/notes.txt") and not is_image_path("/in/.hidden.jpg")
    assert not is_image_path("/in/.a.jpg.123-0badf00d.ac-tmp")
    assert not is_image_path("/in/out/jxl/a.png", exclude="/in/out")


def test_write_if_changed_leaves_an_identical_file_alone(tmp_path):
    path = str(tmp_path / "sub" / "f.jsonl")
    assert beam_io.write_if_changed(path, b"a\n")
    stamp = (tmp_path / "sub" / "f.jsonl").stat().st_mtime_ns
    assert not beam_io.write_if_changed(path, b"a\n")
    assert (tmp_path / "sub" / "f.jsonl").stat().st_mtime_ns == stamp
    assert beam_io.write_if_changed(path, b"b\n")
    assert beam_io.read_bytes(path) == b"b\n"
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["f.jsonl"]  # no temporaries


def test_dead_letter_rows_are_one_line_with_a_known_stage():
    row = dead_letter("/in/a.jpg", "decode", "bad\n  header")
    assert row == {"file": "/in/a.jpg", "stage": "decode", "message": "bad header"}
    with pytest.raises(ValueError, match="stage"):
        dead_letter("/in/a.jpg", "somewhere", "x")


def test_image_centers_in_your_own_pipeline(kodak_paths, tmp_path):
    """Paths from beam.Create, no output folder: rows only; a missing file is a dead letter."""
    from attention_center.inference.prediction import predict_images
    from attention_center.inference.predictors import load_predictor

    paths = [str(p) for p in kodak_paths[:3]] + [str(tmp_path / "missing.png")]
    expected = {str(p.source): p for p in predict_images(paths[:3], load_predictor("default"))}

    def check_centers(rows):
        assert sorted(r["file"] for r in rows) == sorted(expected)
        for row in rows:
            want = expected[row["file"]]
            assert (row["x"], row["y"]) == tuple(float(v) for v in want.center)
            assert (row["height"], row["width"]) == want.original_hw
            assert "jxl" not in row

    def check_errors(rows):
        assert [(r["file"], r["stage"]) for r in rows] == [(paths[3], "decode")]
        assert "no such file" in rows[0]["message"]

    options = PipelineOptions(["--runner=FnApiRunner"])
    with beam.Pipeline(options=options) as pipeline:
        out = pipeline | beam.Create(paths) | ImageCenters("default", batch_size=2)
        assert_that(out["centers"], check_centers, label="centers")
        assert_that(out["errors"], check_errors, label="errors")
    assert json.dumps(dead_letter(paths[3], "read", "x"))  # rows are JSON-serializable


@pytest.mark.skipif(shutil.which("cjxl") is None, reason="cjxl not installed")
def test_exif_rotated_jpeg_centre_is_displayed_and_cjxl_gets_the_stored_one(kodak_paths, tmp_path):
    """EXIF orientation 6: rows are in the upright image, cjxl's centre in the stored one."""
    from PIL import Image

    from attention_center.inference.prediction import predict_images
    from attention_center.inference.predictors import load_predictor
    from attention_center.jxl.encoder import encoder_center

    source = tmp_path / "in" / "rotated.jpg"
    source.parent.mkdir()
    with Image.open(kodak_paths[0]) as image:  # stored 768x512, displayed 512x768
        exif = image.getexif()
        exif[0x0112] = 6
        image.convert("RGB").save(source, quality=90, exif=exif)
    [want] = list(predict_images([source], load_predictor("default")))
    assert want.original_hw == (768, 512)

    def no_errors(rows):
        assert list(rows) == []

    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as pipeline:
        out = (
            pipeline
            | beam.Create([str(source)])
            | ImageCenters(
                "default", base=str(source.parent), output_dir=str(tmp_path / "out"), encode=True
            )
        )
        assert_that(out["errors"], no_errors, label="no errors")
    row = json.loads((tmp_path / "out" / "records" / "rotated.jpg.json").read_text())
    assert (row["height"], row["width"]) == (768, 512)
    assert (row["x"], row["y"]) == tuple(float(v) for v in want.center)
    assert row["jxl_center"] == list(encoder_center(want.center, want.original_hw, 6))
    assert (tmp_path / "out" / "jxl" / "rotated.jpg.jxl").stat().st_size == row["bytes_out"]


def test_a_failing_model_dead_letters_its_batch_and_the_job_goes_on(kodak_paths, monkeypatch):
    """A model that raises: each image of the failed batch is a 'predict' row (the handler
    returns the failure as a result: no tagged output, so the same on every runner)."""

    def explode(self, batch, model, inference_args=None):
        raise RuntimeError("the interpreter exploded")

    monkeypatch.setattr(CenterModelHandler, "run_inference", explode)
    paths = [str(p) for p in kodak_paths[:2]]

    def no_centers(rows):
        assert list(rows) == []

    def two_errors(rows):
        assert sorted((r["file"], r["stage"]) for r in rows) == [(p, "predict") for p in paths]
        assert all("exploded" in r["message"] for r in rows)

    with beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"])) as pipeline:
        out = pipeline | beam.Create(paths) | ImageCenters("default")
        assert_that(out["centers"], no_centers, label="centers")
        assert_that(out["errors"], two_errors, label="errors")


@pytest.mark.skipif(shutil.which("cjxl") is None, reason="cjxl not installed")
def test_encode_jxl_keeps_the_alpha_of_a_file_cjxl_cannot_read(kodak_paths, tmp_path):
    """An RGBA WebP goes to cjxl as a PNG of its own pixels: the JPEG XL keeps the alpha and
    the half-transparent part keeps its colours (not the model's input, composited on white)."""
    import subprocess

    from PIL import Image

    from attention_center.beam.encode import encode_jxl
    from attention_center.jxl.encoder import find_encoder

    with Image.open(kodak_paths[3]) as photo:
        rgba = np.asarray(photo.convert("RGBA").resize((192, 128))).copy()
    rgba[:, :96, 3] = 128
    source = tmp_path / "half.webp"
    Image.fromarray(rgba).save(source, lossless=True)
    destination = tmp_path / "half.webp.jxl"
    center, size = encode_jxl(
        str(source), str(destination), (40.0, 30.0), (128, 192), find_encoder()
    )
    assert center == (40, 30) and size == destination.stat().st_size > 0
    decoded_path = tmp_path / "decoded.png"
    subprocess.run(["djxl", str(destination), str(decoded_path)], check=True, capture_output=True)
    with Image.open(decoded_path) as decoded:
        pixels = np.asarray(decoded)
    assert pixels.shape == (128, 192, 4)
    assert np.abs(pixels[..., 3].astype(int) - rgba[..., 3]).max() <= 8
    half, photo = pixels[:, :96, :3].astype(float), rgba[:, :96, :3]
    assert abs(half.mean() - photo.mean()) < 4  # composited on white: 60 levels lighter
