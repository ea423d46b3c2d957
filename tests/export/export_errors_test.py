"""``python -m export`` on bad input: a clear message naming the file, a non-zero exit,
and never a (half-)written ``.tflite``.

Most cases call :func:`export.pipeline.run_export` (what the command runs,
returning its exit status) in-process; the parity failure runs the real command
in a subprocess, to check the exit status end to end.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "tensorflow":
    pytest.skip("TFLite export needs KERAS_BACKEND=tensorflow", allow_module_level=True)

from conftest import REPO  # noqa: E402
from export_models import save_small_model  # noqa: E402

from export import images  # noqa: E402
from export.errors import ExportError  # noqa: E402
from export.images import load_frames  # noqa: E402
from export.pipeline import run_export  # noqa: E402

INPUT_HW = (96, 128)


@pytest.fixture(scope="module")
def small_model(tmp_path_factory, kodak_paths) -> Path:
    """A valid attention-centre ``.keras`` (96x128, MobileNetV2 alpha 0.35, structured head)."""
    path = tmp_path_factory.mktemp("export_errors") / "model.keras"
    _, frames = load_frames(kodak_paths[:4], INPUT_HW)
    save_small_model(path, frames, input_hw=INPUT_HW)
    return path


def export(out, **kwargs) -> tuple[int, str]:
    """Runs the export in-process: ``(exit status, stderr)``."""
    stdout, stderr = io.StringIO(), io.StringIO()
    kwargs.setdefault("input_hw", INPUT_HW)
    kwargs.setdefault("internal_hw", None)
    status = run_export(out=out, progress=False, stdout=stdout, stderr=stderr, **kwargs)
    return status, stderr.getvalue()


def assert_nothing_written(folder: Path, keep=()):
    """No output and no temporary file left in ``folder`` (other than ``keep``)."""
    left = sorted(p.name for p in folder.iterdir() if p.name not in keep)
    assert left == [], left


def test_missing_model(tmp_path):
    status, message = export(tmp_path / "center.tflite", model=tmp_path / "nope.keras")
    assert status == 2  # a usage error before any work (README)
    assert f"{tmp_path / 'nope.keras'}: no such model file" in message
    assert_nothing_written(tmp_path)


def test_bundled_model_absent_says_so(tmp_path, monkeypatch):
    from attention_center import presets

    folder = tmp_path / "assets" / "default_model"
    monkeypatch.setattr(
        presets, "_registry", lambda: {"default": presets.Preset("default", folder, "test")}
    )
    status, message = export(tmp_path / "center.tflite")  # no --model: the default preset
    assert status == 2
    assert "preset 'default' has no keras model installed" in message and str(folder) in message
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize("damage", ["random_bytes", "truncated", "no_weights"])
def test_corrupt_model(tmp_path, small_model, damage):
    bad = tmp_path / "bad.keras"
    content = small_model.read_bytes()
    if damage == "random_bytes":
        bad.write_bytes(np.random.default_rng(0).bytes(5000))
    elif damage == "truncated":
        bad.write_bytes(content[: len(content) // 2])
    else:  # a valid zip whose weights file is missing
        with zipfile.ZipFile(small_model) as source, zipfile.ZipFile(bad, "w") as target:
            for name in source.namelist():
                if not name.endswith(".h5"):
                    target.writestr(name, source.read(name))
    out = tmp_path / "out" / "center.tflite"
    status, message = export(out, model=bad)
    assert status == 2
    if damage == "no_weights":
        assert f"{bad}: cannot load the Keras model" in message, message
    else:  # as evaluate and calibrate say it, not Keras' "File not found: filepath=..."
        assert f"{bad}: not a valid .keras file: not a zip archive (corrupt, truncated" in message
        assert "File not found" not in message, message
    assert not out.exists()


def test_not_a_keras_file(tmp_path):
    folder = tmp_path / "model.keras"
    folder.mkdir()
    h5 = tmp_path / "model.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n")
    for path in (folder, h5):
        status, message = export(tmp_path / "center.tflite", model=path)
        assert status == 2 and f"{path}: not a .keras model file" in message, message
    assert not (tmp_path / "center.tflite").exists()


@pytest.mark.parametrize("outputs", ["tensor", "dict_without_center"])
def test_model_without_a_centre_output(tmp_path, outputs):
    image = keras.Input((*INPUT_HW, 3), name="image")
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(image))
    xy = keras.layers.Dense(2)(pooled)
    model = keras.Model(image, xy if outputs == "tensor" else {"xy": xy})
    path = tmp_path / "no_center.keras"
    model.save(path)
    status, message = export(tmp_path / "center.tflite", model=path)
    assert status == 2
    assert f"{path}: the model has no 'center' output" in message, message
    assert not (tmp_path / "center.tflite").exists()


def test_unusable_representative_folders(tmp_path, small_model):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    a_file = tmp_path / "photo.png"
    a_file.write_bytes(b"not really")
    out = tmp_path / "out" / "center.tflite"
    for folder, expected in (
        (tmp_path / "missing", "image folder not found"),
        (a_file, "not a folder"),
        (empty, "no image files"),
    ):
        status, message = export(
            out, model=small_model, quantization="int8", representative_data=folder
        )
        assert status == 2 and f"{folder}: {expected}" in message, message  # a usage error
    assert not out.parent.exists()


def test_representative_images_all_unreadable(tmp_path, small_model):
    folder = tmp_path / "broken"
    folder.mkdir()
    for name in ("a.jpg", "b.png"):
        (folder / name).write_bytes(b"\xff\xd8\xff garbage")
    out = tmp_path / "center.tflite"
    status, message = export(
        out, model=small_model, quantization="int8", representative_data=folder
    )
    assert status == 1
    assert "none of the 2 representative images could be read" in message, message
    assert str(folder / "a.jpg") in message
    assert_nothing_written(tmp_path, keep={"broken"})


def test_one_unreadable_photo_is_reported_and_the_others_used(tmp_path, small_model, kodak_paths):
    folder = tmp_path / "photos"
    folder.mkdir()
    for source in kodak_paths[:3]:
        (folder / source.name).write_bytes(source.read_bytes())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    out = tmp_path / "out" / "center.tflite"
    status, message = export(
        out, model=small_model, quantization="int8", representative_data=folder, parity_data=folder
    )
    assert status == 1  # written, but not everything was read
    assert out.is_file() and out.stat().st_size > 0
    assert message.count(f"skipped unreadable image {folder / 'broken.jpg'}") == 1, message


def test_unreadable_folder_is_reported(unprivileged):
    folder = Path(tempfile.mkdtemp())
    try:
        (folder / "photo.png").write_bytes(b"x")
        os.chmod(folder, 0o000)
        with pytest.raises(ExportError, match=f"{folder}: cannot list folder"):
            unprivileged(images.list_images, folder)
    finally:
        os.chmod(folder, 0o700)
        (folder / "photo.png").unlink()
        folder.rmdir()


def test_parity_failure_exits_non_zero_and_writes_nothing(tmp_path, small_model, kodak_paths):
    """The real command: a threshold no 8-bit model meets -> exit 1, old file untouched."""
    out = tmp_path / "center.tflite"
    out.write_bytes(b"previous model")
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    environment.pop("KERAS_BACKEND", None)
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "export",
            "--progress=false",
            f"--model={small_model}",
            f"--out={out}",
            "--quantization=dynamic",
            "--input_size=96x128",
            "--internal_size=input",
            "--parity_threshold=1e-7",
            f"--parity_data={kodak_paths[0].parent}",
            "--num_parity=4",
        ],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 1, process.stderr[-3000:]
    assert "python -m export: error: parity dynamic: max" in process.stderr
    assert "FAIL" in process.stderr and f"{out} not written" in process.stderr
    assert out.read_bytes() == b"previous model"
    assert_nothing_written(tmp_path, keep={"center.tflite"})


@pytest.mark.parametrize(
    "keyword, flag, value",
    [
        ("float_until", "--int8_float_until", "block2"),
        ("float_until", "--int8_float_until", "p2"),
        ("float_until", "--int8_float_until", "all"),
        ("int8_ranges", "--int8_ranges", "MSE"),
        ("int8_ranges", "--int8_ranges", "percentile"),
        ("int8_ranges", "--int8_ranges", ""),
    ],
)
def test_an_int8_setting_that_is_not_one_is_a_usage_error(
    tmp_path, small_model, keyword, flag, value
):
    out = tmp_path / "center.tflite"
    status, message = export(out, model=small_model, **{keyword: value})
    assert status == 2, message
    assert flag in message and repr(value) in message, message
    if keyword == "int8_ranges":
        assert "minmax, mse" in message, message  # the values it takes
    assert_nothing_written(tmp_path)


def _quick(kodak_paths) -> dict:
    """A float32 export on two parity photos: any refusal must come before this work."""
    return dict(quantization="float32", parity_data=kodak_paths[0].parent, num_parity=2)


def test_an_output_that_is_an_input_is_refused_before_any_work(tmp_path, small_model, kodak_paths):
    """``--out`` or its ``<out>.json`` that is the model card export reads (given, the
    ``metadata.json`` beside the model, or the run folder's ``config.json``) or the model
    itself: exit 2, the inputs untouched, nothing written."""
    run = tmp_path / "run"
    run.mkdir()
    model = run / "model.keras"
    model.write_bytes(small_model.read_bytes())
    card = tmp_path / "card.json"
    card.write_text('{"version": "9.9"}\n')
    (run / "config.json").write_text('{"sources": ["osie_eye"]}\n')
    cases = [
        (dict(model_card=card), card, f"--out {card}: is the model card --model_card {card}"),
        (
            dict(model_card=card),
            tmp_path / "card",
            f"its metadata file {card}: is the model card --model_card {card}",
        ),
        ({}, run / "config", f"its metadata file {run / 'config.json'}: is {run / 'config.json'}"),
        ({}, model, "is the input model"),
    ]
    before = {p: p.read_bytes() for p in (model, card, run / "config.json")}
    for kwargs, out, expected in cases:
        status, message = export(out, model=model, **kwargs, **_quick(kodak_paths))
        assert status == 2, message
        assert expected in message and "not overwriting it" in message, message
    # The metadata.json beside the model is the default model card: read, never replaced.
    (run / "metadata.json").write_text('{"version": "1.0"}\n')
    before[run / "metadata.json"] = (run / "metadata.json").read_bytes()
    status, message = export(run / "metadata", model=model, **_quick(kodak_paths))
    assert status == 2 and f"its metadata file {run / 'metadata.json'}: is" in message, message
    assert {p: p.read_bytes() for p in before} == before
    assert not list(tmp_path.rglob("*.tflite")) and not (tmp_path / "card.json.json").exists()


def test_a_saved_model_folder_that_exists_is_a_usage_error_before_any_work(
    tmp_path, small_model, kodak_paths
):
    """It used to be found after the conversion (exit 1), with "not an empty folder" for a
    file; now before the model loads (exit 2), each case in its words."""
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    out = tmp_path / "center.tflite"
    cases = [
        (full, f"--saved_model {full}: exists and is not an empty folder"),
        (small_model, f"--saved_model {small_model}: exists and is not a folder (a file)"),
        (tmp_path, f"--saved_model {tmp_path}: exists and is not an empty folder"),
        (tmp_path / "new", None),  # new and fine, but --out would be written into it:
    ]
    for saved_model, expected in cases:
        target = out if expected else tmp_path / "new" / "center.tflite"
        status, message = export(
            target, model=small_model, saved_model=saved_model, **_quick(kodak_paths)
        )
        assert status == 2, message
        assert (expected or "would be written into it") in message, message
    assert (full / "keep.txt").read_text() == "mine" and sorted(os.listdir(full)) == ["keep.txt"]
    assert not list(tmp_path.rglob("*.tflite")) and not (tmp_path / "new").exists()


def test_an_int8_float_until_level_the_backbone_lacks_is_a_usage_error(tmp_path, small_model):
    """``P9`` passed the pattern and then kept nothing in float, silently."""
    out = tmp_path / "center.tflite"
    status, message = export(out, model=small_model, float_until="P9")
    assert status == 2, message
    assert "--int8_float_until P9" in message and "no pyramid level P9" in message, message
    assert "P2, P3, P4, P5" in message, message  # the levels it has
    assert_nothing_written(tmp_path)


def test_a_model_saved_under_mixed_float16_exports_in_float32(tmp_path, kodak_paths):
    """``train --mixed_precision`` saves a model that reloads under ``mixed_float16`` (its
    policy is in its config); the export rebuilds it in float32 (TFLite refused the float16
    graph) and its centres are the float32 model's (parity at the float32 threshold)."""
    from attention_center.models import load_model
    from attention_center.models.saving import float32_model

    _, frames = load_frames(kodak_paths[:4], INPUT_HW)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        save_small_model(tmp_path / "mixed.keras", frames, input_hw=INPUT_HW, head_priors=2)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    loaded = load_model(tmp_path / "mixed.keras")
    assert loaded.get_config()["dtype_policy"] == "mixed_float16"  # kept by save/load
    rebuilt = float32_model(loaded)
    assert rebuilt.get_config()["dtype_policy"] == "float32"
    assert all(layer.compute_dtype == "float32" for layer in rebuilt._flatten_layers())
    status, stderr = export(
        tmp_path / "center.tflite",
        model=tmp_path / "mixed.keras",
        quantization="float32",
        parity_data=kodak_paths[0].parent,
        num_parity=4,
    )
    assert status == 0, stderr
    assert (tmp_path / "center.tflite").stat().st_size > 0
