"""Tests for attention_center.predict (inference/prediction.py), the predictors and overlays:
real images, real models."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import save_centroid_model
from PIL import Image

import attention_center
from attention_center import presets
from attention_center.core.images import ImageLoadError, load_image, resize_with_pad
from attention_center.inference.overlay import (
    overlay_image,
    weight_map_on_image,
    write_overlay,
)
from attention_center.inference.prediction import predict, predict_images
from attention_center.inference.predictors import (
    KerasPredictor,
    ModelLoadError,
    TFLitePredictor,
    load_predictor,
)
from attention_center.inference.tflite import TFLiteInterfaceError, make_interpreter


def blob_image(hw, center_xy, radius=4):
    """``uint8 [h, w, 3]``: black, a white square of side ``2 * radius + 1`` centred on a pixel."""
    image = np.zeros((*hw, 3), np.uint8)
    x, y = center_xy
    image[max(0, y - radius) : y + radius + 1, max(0, x - radius) : x + radius + 1] = 255
    return image


@pytest.fixture(scope="module")
def centroid_keras_path(tmp_path_factory) -> Path:
    return save_centroid_model(
        tmp_path_factory.mktemp("models") / "centroid.keras", frame_hw=(240, 320)
    )


@pytest.fixture(scope="module")
def google_predictor(google_model_path):
    return load_predictor(google_model_path, num_threads=2)


def test_predict_is_the_package_level_function(centroid_keras_path, kodak_paths):
    # attention_center.predict is the function (the module is
    # attention_center.inference.prediction).
    assert attention_center.predict is predict and callable(attention_center.predict)
    center = attention_center.predict(kodak_paths[0], model=centroid_keras_path)
    assert center.shape == (2,) and center.dtype == np.float64


def test_presets_are_the_bundled_assets():
    root = Path(attention_center.__file__).resolve().parent / "assets"
    assert presets.list_presets() == ["default", "large"]
    default = presets.get_preset("default")
    assert default.path("keras") == root / "default_model" / "model.keras"
    assert default.path("metadata") == root / "default_model" / "metadata.json"
    assert presets.resolve_model(None) == root / "default_model" / "model.tflite"
    assert presets.resolve_model("large:keras") == root / "large_model" / "model.keras"
    assert presets.get_preset("bundled") == default  # the evaluator's old name
    assert presets.get_preset("small") == default  # 0.2.0's <= 1 MB preset, replaced by 2.0
    with pytest.raises(presets.PresetError, match="unknown model preset 'huge'.*default, large"):
        presets.resolve_model("huge")
    with pytest.raises(presets.PresetError, match="format must be one of"):
        default.path("onnx")


def test_model_none_is_the_default_presets_tflite(kodak_paths):
    predictor = load_predictor(None)
    assert isinstance(predictor, TFLitePredictor)
    assert predictor.path == str(presets.resolve_model("default"))
    assert load_predictor() is predictor and load_predictor("default") is predictor  # cached
    center = predict(kodak_paths[0])
    h, w = load_image(kodak_paths[0]).shape[:2]
    assert 0 <= center[0] <= w - 1 and 0 <= center[1] <= h - 1


def test_a_preset_without_files_says_so_and_takes_its_keras_file(
    centroid_keras_path, kodak_paths, tmp_path, monkeypatch
):
    # Point the default preset at a temporary folder: empty, then with a model.keras only.
    fake = presets.Preset("default", tmp_path, "test")
    monkeypatch.setattr(presets, "_registry", lambda: {"default": fake})
    with pytest.raises(ModelLoadError, match="no tflite or keras model installed") as error:
        predict(kodak_paths[0])
    assert str(tmp_path) in str(error.value)
    shutil.copy(centroid_keras_path, tmp_path / "model.keras")
    assert presets.resolve_model(None) == tmp_path / "model.keras"
    np.testing.assert_allclose(
        predict(kodak_paths[:2]), predict(kodak_paths[:2], model=centroid_keras_path), atol=1e-6
    )


@pytest.mark.parametrize(
    "hw,point",
    [
        ((600, 800), (613, 97)),  # OSIE size, no padding
        ((768, 512), (40, 700)),  # portrait: padded left/right
        ((300, 1000), (955, 150)),  # wide: padded top/bottom
        ((241, 333), (6, 231)),
    ],
)  # odd sizes, near a corner
def test_centre_comes_back_in_original_pixels(centroid_keras_path, hw, point):
    # The model's centre is the blob's centroid in the frame; predict must map it back.
    predictor = load_predictor(centroid_keras_path)
    assert isinstance(predictor, KerasPredictor) and predictor.frame_hw == (240, 320)
    center = predict(blob_image(hw, point), model=predictor)
    assert center.shape == (2,)
    scale = max(hw[0] / 240, hw[1] / 320)  # original pixels per frame pixel
    np.testing.assert_allclose(center, point, atol=0.25 * scale + 0.25)


def test_shapes_and_inputs_agree(centroid_keras_path, kodak_paths):
    predictor = load_predictor(centroid_keras_path)
    paths = kodak_paths[:3]
    from_paths = predict(paths, model=predictor, batch_size=2)
    assert from_paths.shape == (3, 2) and from_paths.dtype == np.float64
    single = predict(str(paths[1]), model=predictor)
    np.testing.assert_allclose(single, from_paths[1], atol=1e-3)
    images = [load_image(p) for p in paths]
    np.testing.assert_allclose(predict(images, model=predictor), from_paths, atol=1e-3)
    as_float = predict(images[0].astype(np.float32) / 255.0, model=predictor)
    np.testing.assert_allclose(as_float, from_paths[0], atol=1e-3)
    pil = predict(Image.open(paths[2]), model=predictor)
    np.testing.assert_allclose(pil, from_paths[2], atol=1e-3)
    same_size = np.stack([images[0], images[0]])  # a [B, h, w, 3] batch
    np.testing.assert_allclose(predict(same_size, model=predictor), [from_paths[0]] * 2, atol=1e-3)


def test_a_pil_image_is_turned_upright_as_its_file_is(centroid_keras_path, tmp_path):
    """``predict(Image.open(p))`` ignored the EXIF orientation that ``predict(p)`` applies:
    the model saw a phone photo sideways and the centre came back in stored pixels."""
    predictor = load_predictor(centroid_keras_path)
    displayed = blob_image((300, 400), (330, 60))  # a blob near the top right, as displayed
    stored = Image.fromarray(displayed).transpose(Image.Transpose.ROTATE_90)  # 400 x 300 stored
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "phone.jpg"
    stored.save(path, quality=95, exif=exif)
    from_path = predict(path, model=predictor)
    with Image.open(path) as image:
        from_pil = predict(image, model=predictor)
    np.testing.assert_allclose(from_path, (330, 60), atol=3)
    np.testing.assert_allclose(from_pil, from_path, atol=1e-6)


def test_bad_file_raises_naming_it_and_the_stream_goes_on(
    centroid_keras_path, kodak_paths, tmp_path
):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    predictor = load_predictor(centroid_keras_path)
    with pytest.raises(ImageLoadError, match="bad.jpg"):
        predict([kodak_paths[0], bad], model=predictor)
    items = [kodak_paths[0], bad, tmp_path / "missing.png", kodak_paths[1]]
    results = list(predict_images(items, predictor, batch_size=1))
    assert [r.source for r in results] == [str(p) for p in items]
    assert [r.ok for r in results] == [True, False, False, True]
    assert "not an image" in results[1].error and "no such file" in results[2].error
    assert results[0].original_hw == (512, 768)


def test_model_load_errors_are_clear(tmp_path):
    with pytest.raises(ModelLoadError, match="no such model file"):
        load_predictor(tmp_path / "nope.tflite")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="junk.tflite"):
        load_predictor(junk)
    other = tmp_path / "model.onnx"
    other.write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="unknown model type"):
        load_predictor(other)


def test_a_bytes_path_is_one_path_and_gray_may_have_a_channel_axis(centroid_keras_path, tmp_path):
    """``predict(b"p.png")`` iterated the bytes ("item 0: got int"), though ``os.fspath`` takes
    them as a path; a ``[h, w, 1]`` gray array (Keras's gray layout) was refused."""
    predictor = load_predictor(centroid_keras_path)
    image = blob_image((60, 80), (50, 20))
    path = tmp_path / "blob.png"
    Image.fromarray(image).save(path)
    from_str = predict(str(path), model=predictor)
    np.testing.assert_allclose(from_str, (50, 20), atol=1)
    np.testing.assert_array_equal(predict(os.fsencode(path), model=predictor), from_str)
    both = predict([os.fsencode(path), path], model=predictor)
    np.testing.assert_array_equal(both, [from_str, from_str])
    [result] = predict_images([os.fsencode(path)], predictor)
    assert result.ok and result.source == str(path)
    gray = image[..., 0]
    np.testing.assert_array_equal(predict(gray[..., None], model=predictor), from_str)
    np.testing.assert_array_equal(predict(gray[..., None] / 255.0, model=predictor), from_str)
    batch = np.stack([gray[..., None]] * 2)  # [B, h, w, 1]
    np.testing.assert_array_equal(predict(batch, model=predictor), [from_str, from_str])
    with pytest.raises(ValueError, match=r"\[h, w, 1\] gray"):
        predict(np.zeros((8, 8, 2), np.uint8), model=predictor)


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_model_name_is_named_as_such(name):
    """``model=""`` was taken as the working directory: ".: is a directory, not a model file"."""
    with pytest.raises(ModelLoadError, match="empty model name") as raised:
        predict(np.zeros((8, 8, 3), np.uint8), model=name)
    assert str(raised.value).startswith(f"{name!r}: ")
    with pytest.raises(presets.PresetError, match="empty model name"):
        presets.resolve_model(name)


@pytest.mark.parametrize("threads", [0, -1, 1.5, "2", True])
def test_a_bad_num_threads_is_named_before_any_model_file_is_read(threads, tmp_path):
    """``num_threads=-1`` was blamed on the bundled model ("not a TFLite model the interpreter
    can load"), and 0, undocumented, silently meant every CPU."""
    words = "num_threads must be an int >= 1 or None"
    for spec in ("default:tflite", tmp_path / "missing.tflite"):
        with pytest.raises(ValueError, match=words) as raised:
            load_predictor(spec, num_threads=threads, cache=False)
        assert not isinstance(raised.value, ModelLoadError)
    with pytest.raises(ValueError, match=words):
        predict(np.zeros((8, 8, 3), np.uint8), num_threads=threads)
    with pytest.raises(ValueError, match=words) as raised:
        make_interpreter(b"not a model", num_threads=threads)
    assert not isinstance(raised.value, TFLiteInterfaceError)


def test_num_threads_none_or_a_positive_int_loads():
    for threads in (None, 1, np.int64(2)):
        predictor = load_predictor("default:tflite", num_threads=threads, cache=False)
        assert predictor.frame_hw == (480, 640)


def test_mobilenet_keras_file_and_live_model_agree(tmp_path, kodak_paths):
    model = attention_center.build_model(
        "mobilenet_v2", input_shape=(240, 320, 3), alpha=0.35, head_width=16, backbone_weights=None
    )
    path = tmp_path / "mobilenet.keras"
    model.save(path)
    from_file = load_predictor(path)
    assert from_file.frame_hw == (240, 320) and from_file.has_weight_map
    live = predict(kodak_paths[:2], model=model)
    np.testing.assert_allclose(predict(kodak_paths[:2], model=from_file), live, atol=1e-3)
    result = next(predict_images(kodak_paths[:1], from_file, keep_weight_maps=True))
    assert result.weight_map.shape == (60, 80)


def test_google_tflite_interface(google_predictor):
    assert isinstance(google_predictor, TFLitePredictor)
    assert google_predictor.frame_hw == (480, 640) and not google_predictor.has_weight_map


def test_google_tflite_gets_the_same_input_as_google_script(google_predictor, kodak_paths):
    # Google's script: tf.image.resize_with_pad(bicubic, antialias) of the EXIF-transposed
    # image in [0, 1]. Ours (Pillow) must give the model the same picture.
    tf = pytest.importorskip("tensorflow")
    for path in (kodak_paths[3], kodak_paths[16]):  # one portrait, one landscape
        image = load_image(path)
        reference = tf.image.resize_with_pad(
            image[None].astype(np.float32) / 255.0, 480, 640, method="bicubic", antialias=True
        ).numpy()
        frame, transform = resize_with_pad(image, (480, 640))
        assert np.abs(reference[0] - frame).mean() < 2e-3
        expected = google_predictor.predict_frames(reference)["center"][0]
        result = next(predict_images([path], google_predictor))
        np.testing.assert_allclose(result.frame_center, expected, atol=2.5)
        np.testing.assert_allclose(
            result.center, transform.points_to_original(expected), atol=2.5 * 1.6
        )
        h, w = image.shape[:2]
        assert 0 <= result.center[0] <= w - 1 and 0 <= result.center[1] <= h - 1


def test_google_tflite_through_predict(google_model_path, kodak_paths):
    centers = predict(kodak_paths[:2], model=google_model_path, num_threads=2)
    assert centers.shape == (2, 2) and np.isfinite(centers).all()
    # Content-driven, not the frame centre of every image.
    assert np.abs(centers[0] - centers[1]).max() > 5


def test_unreadable_file_is_a_clear_error(centroid_keras_path, kodak_paths, unprivileged):
    # As root this runs without root's file-access capabilities (see conftest).
    predictor = load_predictor(centroid_keras_path)
    folder = Path(tempfile.mkdtemp(prefix="ac_perm_"))
    try:
        folder.chmod(0o755)
        good = folder / "good.png"
        shutil.copy(kodak_paths[0], good)
        good.chmod(0o644)
        locked = folder / "locked.png"
        shutil.copy(kodak_paths[1], locked)
        locked.chmod(0)
        results = unprivileged(lambda: list(predict_images([locked, good], predictor)))
        assert not results[0].ok and "permission denied" in results[0].error
        assert results[1].ok
    finally:
        shutil.rmtree(folder)


def test_weight_map_lands_on_the_image_where_the_frame_says(kodak_paths):
    image = load_image(kodak_paths[3])  # portrait 768x512: padded left and right
    _, transform = resize_with_pad(image, (480, 640))
    point = (400.0, 120.0)  # original pixels
    fx, fy = transform.to_frame(*point)
    weight_map = np.zeros((120, 160), np.float32)  # stride 4
    weight_map[int(fy // 4), int(fx // 4)] = 1.0
    heat = weight_map_on_image(weight_map, transform)
    assert heat.shape == image.shape[:2] and heat.max() == pytest.approx(1.0)
    peak_y, peak_x = np.unravel_index(np.argmax(heat), heat.shape)
    cell = 4 / transform.scale_x  # original pixels per map cell
    assert abs(peak_x - point[0]) <= cell and abs(peak_y - point[1]) <= cell


def test_overlay_marks_the_centre(kodak_paths, tmp_path):
    image = load_image(kodak_paths[0])
    center = (200.0, 300.0)
    picture = overlay_image(image, center, heat=np.zeros(image.shape[:2]))
    assert picture.shape == image.shape and picture.dtype == np.uint8
    changed = np.any(picture != image, axis=-1)
    ys, xs = np.nonzero(changed)
    assert abs(xs.mean() - center[0]) < 3 and abs(ys.mean() - center[1]) < 3
    assert picture[300, 200].tolist() == [255, 255, 255]  # a white dot on the centre pixel
    assert not changed[:100, :100].any()  # nothing far from the mark
    path = write_overlay(tmp_path / "sub" / "o.png", picture)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), picture)
    assert [p.name for p in path.parent.iterdir()] == ["o.png"]  # no temp file left
