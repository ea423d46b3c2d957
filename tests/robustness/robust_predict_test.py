"""``attention-center predict`` and the Python API on the robustness corpus (issue 17).

Real models: the bundled ``small`` preset's int8 ``.tflite`` for the command, a tiny real
``.keras`` model (``save_centroid_model``) where a Keras file is the point. Each command
run is checked for its exit code, a message naming each bad file and its problem, a
centre for every good input, and inputs left byte for byte as they were.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, save_centroid_model
from robustness.corpus import (
    digests,
    png_bomb,
    synthetic_photo,
    write_build,
    write_image_corpus,
    write_model_corpus,
)

from attention_center.cli import main as cli


def run(*args) -> int:
    return cli.main(["attention-center", *map(str, args)])


@pytest.fixture(scope="module")
def centroid_keras(tmp_path_factory) -> Path:
    return save_centroid_model(tmp_path_factory.mktemp("model") / "centroid.keras")


@pytest.fixture()
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    return folder, write_image_corpus(folder)


# --- cases 1 (symbolic link loops) and 11 (16-bit, palette, 1x1, animated, bombs) -------------


def test_predict_reports_each_bad_file_and_does_every_good_one(corpus, capsys):
    folder, cases = corpus
    before = digests(folder)
    # The folder (with a link loop inside) and the loop again as an argument.
    code = run("predict", folder, folder / "loop.jpg", "--model", "default", "--noprogress")
    out, err = capsys.readouterr()
    assert code == 1
    rows = json.loads(out)
    assert [Path(r["path"]).name for r in rows[:-1]] == sorted(cases)  # notes.txt is no image
    assert Path(rows[-1]["path"]).name == "loop.jpg" and "symbolic link loop" in rows[-1]["error"]
    by_name = {Path(r["path"]).name: r for r in rows[:-1]}
    for name, case in cases.items():
        row = by_name[name]
        if case.usable:
            assert row["error"] is None, (name, row)
            h, w = row["original_hw"]
            assert 0 <= row["center"][0] <= w - 1 and 0 <= row["center"][1] <= h - 1, name
        else:
            assert row["center"] is None and case.reason in row["error"], (name, row)
            assert f"{folder / name}: {row['error']}" in err  # file and problem, one line
        if case.note:
            assert f"{folder / name}: note: {case.note}" in err
    assert by_name["one.png"]["original_hw"] == [1, 1]
    assert by_name["rotated.jpg"]["original_hw"] == [96, 128]  # as displayed
    failed = sum(not c.usable for c in cases.values()) + 1
    assert f"{failed} of {len(rows)} inputs failed" in err
    assert digests(folder) == before


def test_a_symbolic_link_loop_as_the_only_argument(tmp_path, capsys):
    os.symlink("a", tmp_path / "a")  # a folder-looking loop: resolve() raised before
    assert run("predict", tmp_path / "a", "--model", "default", "--noprogress") == 1
    out, err = capsys.readouterr()
    assert json.loads(out)[0]["error"] == "symbolic link loop"
    assert f"{tmp_path / 'a'}: symbolic link loop" in err


def test_max_pixels_flag_and_the_bomb_header(tmp_path, capsys):
    """A 14000x14000 PNG (24 kB) is refused on its header in a fraction of a second,
    without allocating its 588 MB; ``--max_pixels`` moves the limit either way."""
    png_bomb(tmp_path / "bomb.png", 14000)
    from PIL import Image

    Image.fromarray(synthetic_photo()).save(tmp_path / "photo.png")
    code = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from attention_center.core.images import decode_image, ImageLoadError\n"
            "t = time.perf_counter()\n"
            "try:\n    decode_image(sys.argv[1])\nexcept ImageLoadError as e:\n    print(e.reason)\n"  # noqa: E501
            "print(time.perf_counter() - t)\n"
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n",  # noqa: E501
            str(tmp_path / "bomb.png"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    reason, seconds, peak_kb = code.stdout.strip().splitlines()  # VmHWM: this process's peak
    assert "decompression bomb" in reason and "196,000,000 pixels" in reason
    assert float(seconds) < 1.0 and int(peak_kb) < 200_000  # < 200 MB: never decoded
    assert (
        run(
            "predict",
            tmp_path / "photo.png",
            "--max_pixels",
            "1000",
            "--model",
            "default",
            "--noprogress",
        )
        == 1
    )
    assert "12,288 pixels, more than the 1,000 allowed" in capsys.readouterr()[1]
    assert (
        run(
            "predict",
            tmp_path / "photo.png",
            "--max_pixels",
            "0",
            "--model",
            "default",
            "--noprogress",
        )
        == 0
    )


def test_a_large_jpeg_is_decoded_at_the_reduced_size_the_frame_needs(tmp_path):
    """3000x4000 fills a 480x640 frame from a 1/4-scale DCT decode (750x1000): 16x fewer
    pixels decoded, the same frame within JPEG rounding, hence about the same centre."""
    from PIL import Image

    from attention_center.core.images import decode_into_frame
    from attention_center.inference.prediction import predict_images
    from attention_center.inference.predictors import load_predictor

    big = np.asarray(
        Image.fromarray(synthetic_photo()).resize((4000, 3000), Image.Resampling.BILINEAR)
    )
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=90)
    frame, transform, decoded = decode_into_frame(tmp_path / "big.jpg")
    assert decoded.original_hw == (3000, 4000) and decoded.reduced
    assert decoded.pixels.shape == (750, 1000, 3) and frame.shape == (480, 640, 3)
    full_frame, _, full_decode = decode_into_frame(tmp_path / "big.jpg", reduced=False)
    assert full_decode.pixels.shape == (3000, 4000, 3)
    assert np.abs(frame - full_frame).mean() < 2 / 255
    predictor = load_predictor("default")
    [reduced] = predict_images([tmp_path / "big.jpg"], predictor)
    [full] = predict_images([tmp_path / "big.jpg"], predictor, keep_images=True)
    assert np.hypot(*(reduced.center - full.center)) < 0.01 * np.hypot(3000, 4000)


# --- case 6: the API takes uint8 or float [0, 1] images, says what it expected otherwise ----


@pytest.mark.parametrize(
    "bad,words",
    [
        (synthetic_photo().astype(np.float32), "not [0, 1]"),  # float 0..255: was clipped to 1
        (np.full((40, 50, 3), np.nan, np.float32), "NaN"),  # NaN: was the image centre
        (None, "got NoneType"),  # was a bare TypeError
        (7, "got int"),
        (np.zeros((40, 50, 3), np.int64), "dtype int64"),
        (np.zeros((0, 50, 3), np.uint8), "shape"),
    ],
)
def test_api_rejects_what_is_not_an_image_saying_what_it_expected(bad, words):
    import attention_center as ac

    with pytest.raises(ValueError, match=re.escape(words)) as raised:
        ac.predict(bad, model="default")
    assert "uint8" in str(raised.value) or "[0, 1]" in str(raised.value)


def test_api_takes_uint8_and_float_in_0_1_alike():
    import attention_center as ac

    photo = synthetic_photo()
    a = ac.predict(photo, model="default")
    b = ac.predict(photo.astype(np.float32) / 255.0, model="default")
    assert a.shape == (2,) and np.allclose(a, b, atol=0.5)


def test_a_float_image_slightly_outside_0_1_is_told_to_clip_it_not_to_pass_uint8():
    """A bicubic resize overshoots [0, 1] a little (max 1.07): the hint "for 0..255 values pass
    a uint8 array" did not apply. That hint is for values that look like 0..255 (max > 2);
    floats are still never clipped silently."""
    from attention_center.inference.prediction import as_rgb_array

    photo = synthetic_photo().astype(np.float32) / 255.0
    overshoot = photo * 1.12 - 0.05  # about -0.05..1.07, as resize_with_pad's bicubic gives
    with pytest.raises(ValueError, match=re.escape("np.clip(image, 0, 1)")) as raised:
        as_rgb_array(overshoot)
    assert "uint8" not in str(raised.value)
    with pytest.raises(ValueError, match=re.escape("np.clip(image, 0, 1)")):
        as_rgb_array(photo - photo.min() - 0.02)  # only below 0
    with pytest.raises(ValueError, match="for 0..255 values pass a uint8 array") as raised:
        as_rgb_array(photo * 255.0)
    assert "np.clip" not in str(raised.value)
    assert as_rgb_array(np.clip(overshoot, 0, 1)).dtype == np.uint8


def test_api_loads_a_model_once_and_again_when_its_file_changes(centroid_keras, tmp_path):
    import attention_center as ac
    from attention_center.inference import predictors

    model = tmp_path / "m.keras"
    model.write_bytes(centroid_keras.read_bytes())
    loads = []
    original = predictors.load_keras_file

    def counting(path):
        loads.append(path)
        return original(path)

    predictors.load_keras_file = counting
    try:
        photo = synthetic_photo()
        first = ac.predict(photo, model=str(model))
        for _ in range(3):
            assert np.array_equal(ac.predict(photo, model=str(model)), first)
        assert len(loads) == 1  # cached: predict() in a loop loads the model once
        stat = model.stat()
        os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        ac.predict(photo, model=str(model))
        assert len(loads) == 2  # a changed file is loaded again
    finally:
        predictors.load_keras_file = original


# --- case 8: a corrupt .keras file is said to be one, not "File not found" ------------------


def test_bad_model_files_are_named_with_their_problem(centroid_keras, tmp_path, capsys):
    from PIL import Image

    Image.fromarray(synthetic_photo()).save(tmp_path / "photo.png")
    cases = write_model_corpus(tmp_path / "models", centroid_keras)
    before = digests(tmp_path / "models")
    for name, case in cases.items():
        assert (
            run(
                "predict",
                tmp_path / "photo.png",
                "--model",
                tmp_path / "models" / name,
                "--noprogress",
            )
            == 2
        ), name
        err = capsys.readouterr()[1]
        assert f"{tmp_path / 'models' / name}: " in err and case.reason in err, (name, err)
        assert "File not found" not in err
    assert digests(tmp_path / "models") == before


# --- case 10: no TensorFlow INFO lines, no retracing warnings -------------------------------


def test_a_keras_predict_step_is_traced_once_per_model(centroid_keras, tmp_path):
    """A short last batch is padded to the batch shape, so the compiled predict step is
    traced once per model (it was twice: the full and the last batch's shape)."""
    from attention_center.inference.predictors import load_predictor

    frames = np.random.default_rng(0).random((11, 120, 160, 3)).astype(np.float32)
    for i in range(3):
        copy = tmp_path / f"m{i}.keras"
        copy.write_bytes(centroid_keras.read_bytes())
        predictor = load_predictor(copy, batch_size=4)
        out = predictor.predict_frames(frames)  # batches of 4, 4 and 3
        assert out["center"].shape == (11, 2) and out["weight_map"].shape[0] == 11
        single = predictor.predict_frames(frames[:1])["center"]
        np.testing.assert_allclose(single, out["center"][:1], atol=1e-3)  # padding is inert
        assert predictor.model.predict_function.experimental_get_tracing_count() == 1


def test_a_command_run_shows_no_tensorflow_info_lines_nor_retracing_warnings(
    centroid_keras, tmp_path
):
    """``python -m attention_center.cli.evaluate`` (not through the dispatcher: TensorFlow's
    native INFO lines such as ``cpu_feature_guard`` showed) with three real .keras models
    and batches of 3 and 1 (each model's predict step was traced twice: six tracings made
    TensorFlow warn about retracing)."""
    build = write_build(tmp_path / "gt", num_images=12)  # 4 test images
    models = []
    for i in range(3):
        models += ["--model", str(tmp_path / f"m{i}.keras")]
        (tmp_path / f"m{i}.keras").write_bytes(centroid_keras.read_bytes())
    before = digests(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "attention_center.cli.evaluate",
            "--data",
            str(tmp_path / "gt"),
            *models,
            "--batch_size",
            "3",
            "--noprogress",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert all(f"| m{i}.keras |" in proc.stdout for i in range(3)) and len(build["good"]) == 12
    for noise in ("cpu_feature_guard", "I0000", "oneDNN", "absl::InitializeLog", "retracing"):
        assert noise not in proc.stderr, proc.stderr[-2000:]
    assert digests(tmp_path) == before


def test_ensemble_names_a_bad_member_and_writes_nothing(centroid_keras, tmp_path, capsys):
    models = tmp_path / "models"
    cases = write_model_corpus(models, centroid_keras)
    (models / "good.keras").write_bytes(centroid_keras.read_bytes())
    before = digests(models)
    out = tmp_path / "ens.keras"
    assert (
        run(
            "ensemble",
            *[f"--model={models / name}" for name in ["good.keras", *cases]],
            "--out",
            out,
        )
        == 2  # an invalid model: a usage error found before any work (issue 26)
    )
    err = capsys.readouterr()[1]
    for name, case in cases.items():
        assert f"{models / name}: {case.reason}" in err, (name, err)
    assert "File not found" not in err  # case 8, in ensemble too
    assert not out.exists() and not list(tmp_path.glob(".*ac-tmp*"))
    assert digests(models) == before


# --- interruptions: SIGTERM is Ctrl-C, and the rows done so far are printed -----------------


def _reading_image(pid: int, folder: Path) -> int:
    """The number of the ``folder/pNNN.png`` process ``pid`` has open, or -1."""
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith(f"{folder}/p") and target.endswith(".png"):
                return int(target[len(f"{folder}/p") : -len(".png")])
    except (OSError, ValueError):
        pass
    return -1


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_predict_interrupted_prints_the_rows_done_and_exits_130(tmp_path, signum):
    from PIL import Image

    folder = tmp_path / "many"
    folder.mkdir()
    Image.fromarray(synthetic_photo()).save(folder / "p000.png")
    for i in range(1, 400):
        os.link(folder / "p000.png", folder / f"p{i:03d}.png")
    before = digests(folder)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "attention_center",
            "predict",
            str(folder),
            "--model",
            "default",
            "--batch_size",
            "1",
            "--noprogress",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while _reading_image(process.pid, folder) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)  # decoding runs a few images ahead: some are rows by now
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err[-2000:]
    rows = json.loads(out)  # valid JSON: the rows done so far
    assert 0 < len(rows) < 400 and all(r["error"] is None for r in rows)
    assert f"interrupted after {len(rows)} of 400 images" in err and "Traceback" not in err
    assert digests(folder) == before
