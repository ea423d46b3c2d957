"""Hostile inputs and careless use that still got through (issue 26, items 1 and 3-9).

Each case is what a user really did: ``predict DIR --overlay DIR/ov`` run twice; a ``.mat``
file with one byte changed (scipy's reader crashed the whole build, exit 139) or claiming a
1 x 2e9 cell array; a CSV naming ``imgs/a/x.png`` and ``imgs/b/x.png``; PIL images of modes
``I;16`` and ``P`` with transparency; a JPEG whose header lies about its size; ``| true``,
``> /dev/full`` and a closed standard output; a 240-character file name; a missing model
or a FIFO given to ``export``/``ensemble``. Real components throughout: the bundled
``default`` model, real subprocesses, pipes and ``/dev/full``, scipy's real reader.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, save_centroid_model
from PIL import Image
from robustness.corpus import (
    digests,
    synthetic_photo,
    write_flipped_mat,
    write_huge_cell_mat,
    write_lying_jpeg,
    write_records_corpus,
)

from attention_center.cli import main as cli


def run(*args) -> int:
    return cli.main(["attention-center", *map(str, args)])


def command(*args, timeout=300, **kwargs) -> subprocess.CompletedProcess:
    """``python -m attention_center ARGS`` in a subprocess (text output captured)."""
    kwargs.setdefault("capture_output", True)
    return subprocess.run(
        [sys.executable, "-m", "attention_center", *map(str, args)],
        cwd=REPO,
        text=True,
        timeout=timeout,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        **kwargs,
    )


def no_traceback(stderr: str) -> bool:
    return not any(
        words in stderr
        for words in ("Traceback", "Exception ignored", "BrokenPipeError", "AttributeError")
    )


@pytest.fixture()
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(synthetic_photo(seed=i, spot=(0.2 + 0.3 * i, 0.5))).save(
            folder / f"p{i}.png"
        )
    return folder


# --- 1: overlays written into the input folder are never read back as inputs --------------


@pytest.mark.parametrize("inside", ["ov", "."])
def test_predict_twice_with_overlays_inside_the_input_folder(photos, capsys, inside):
    """``predict DIR --overlay DIR/ov`` (or ``--overlay DIR``) run twice: the second run
    sees the same 3 images (not the overlays: they nested as ``ov/ov/...overlay.png.overlay
    .png`` and the originals failed "would overwrite an input"), exits 0, writes the same."""
    overlay = photos / inside
    args = ("predict", photos, "--overlay", overlay, "--model", "default", "--noprogress")
    assert run(*args) == 0, capsys.readouterr()[1]
    first_rows = json.loads(capsys.readouterr()[0])
    first_files = digests(photos)
    assert run(*args) == 0, capsys.readouterr()[1]
    assert json.loads(capsys.readouterr()[0]) == first_rows
    assert [Path(r["path"]).name for r in first_rows] == ["p0.png", "p1.png", "p2.png"]
    assert digests(photos) == first_files  # the same overlays, nothing nested
    overlays = sorted(p.relative_to(photos).as_posix() for p in photos.rglob("*.overlay.png"))
    prefix = "" if inside == "." else "ov/"
    assert overlays == [f"{prefix}p{i}.png.overlay.png" for i in range(3)]


# --- 3: a .mat file with one byte changed, or claiming 2e9 cells ---------------------------


def test_a_mat_file_that_crashes_scipy_is_an_error_and_the_other_sources_are_built(tmp_path):
    """One changed byte made scipy's C reader crash: SIGSEGV, exit 139, nothing written.
    Now: that source is one error naming the file, the others are built, exit 1."""
    data = tmp_path / "data"
    write_records_corpus(data)
    mat = write_flipped_mat(data)
    before = digests(data)
    out = tmp_path / "gt"
    process = command(
        "ground-truth",
        "build",
        "--source",
        f"{data / 'good.jsonl'},osie_eye,{data / 'good.csv'}",
        "--data_dir",
        data,
        "--out",
        out,
        "--noprogress",
    )
    assert process.returncode == 1, (process.returncode, process.stderr[-2000:])
    assert f"ERROR: osie_eye: {mat}: not a readable MATLAB file: crashed (signal 11" in (
        process.stderr
    ), process.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert [r["source"] for r in rows] == ["corpus_eye", "custom_eye"]
    assert digests(data) == before
    # The same file with the byte intact builds: the byte was the whole difference.
    write_flipped_mat(data, flip=False)
    assert (
        run(
            "ground-truth",
            "build",
            "--source",
            "osie_eye",
            "--data_dir",
            data,
            "--out",
            tmp_path / "gt2",
            "--noprogress",
        )
        == 0
    )
    [row] = [json.loads(line) for line in (tmp_path / "gt2" / "index.jsonl").open()]
    assert row["image_id"] == "osie/1001" and row["num_observers"] == 2


def test_a_184_byte_mat_file_claiming_2e9_cells_allocates_nothing(tmp_path):
    """Both readers tried to allocate 14.9 GiB (2e9 object pointers) before reading one cell.
    In a subprocess limited to 3 GiB more than it starts with (so that the old code fails
    fast with MemoryError instead of swapping): refused in well under a second, peak
    memory small, each error naming the file."""
    path = write_huge_cell_mat(tmp_path / "fiwi10x30.mat")
    assert path.stat().st_size == 184
    script = (
        "import resource, sys, time\n"
        "vm = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmSize')][0]\n"
        "limit = vm * 1024 + (3 << 30)\n"
        "resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))\n"
        "from ground_truth.readers.matfile import read_variable, MatUnsupported\n"
        "from ground_truth.readers.bubbleview import load_bubble\n"
        "from ground_truth.records import RecordError\n"
        "t = time.perf_counter()\n"
        "try:\n    read_variable(sys.argv[1], 'bubble', {'enc'})\n"
        "except MatUnsupported as e:\n    print('fast:', e)\n"
        "for points_only in (True, False):\n"
        "    try:\n        load_bubble(sys.argv[1], points_only)\n"
        "    except RecordError as e:\n        print('load:', e)\n"
        "print(time.perf_counter() - t)\n"
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    *messages, seconds, peak_kb = process.stdout.strip().splitlines()
    assert messages[0].startswith("fast: ") and "cannot fit in the 0 bytes" in messages[0]
    assert (
        messages[1:]
        == [f"load: {path}: not a readable MATLAB file: needs more than 1.0 GiB of memory"] * 2
    ), messages
    assert float(seconds) < 5.0 and int(peak_kb) < 400_000  # KB: never the 15 GiB


# --- 4: two images with the same name in two folders are two images ------------------------


def test_a_csv_naming_x_png_in_two_folders_gives_two_images(tmp_path, capsys):
    from ground_truth.readers import read_generic

    data = tmp_path / "data"
    for folder, seed, hw in (("a", 1, (96, 128)), ("b", 2, (80, 60))):
        (data / "imgs" / folder).mkdir(parents=True)
        Image.fromarray(synthetic_photo(hw=hw, seed=seed)).save(data / "imgs" / folder / "x.png")
    rows = "".join(
        f"{image},{observer},{order},{10 + order},{20 + observer},eye\n"
        for image in ("imgs/a/x.png", "imgs/b/x.png", "./imgs/a/x.png")
        for observer in (1, 2)
        for order in range(4)
    )
    (data / "points.csv").write_text("image,observer,order,x,y,source\n" + rows)
    result = read_generic(data / "points.csv")
    by_id = {r.image_id: r for r in result.records}
    assert sorted(by_id) == ["custom/imgs/a/x", "custom/imgs/b/x"]  # ./imgs/a/x.png is a's
    assert by_id["custom/imgs/a/x"].original_hw == (96, 128)
    assert by_id["custom/imgs/b/x"].original_hw == (80, 60)
    assert by_id["custom/imgs/a/x"].num_observers == 2
    out = tmp_path / "gt"
    assert (
        run(
            "ground-truth",
            "build",
            "--source",
            data / "points.csv",
            "--data_dir",
            data,
            "--out",
            out,
            "--noprogress",
        )
        == 0
    )
    index = [json.loads(line) for line in (out / "index.jsonl").open()]
    frames = {r["image_id"]: np.asarray(Image.open(out / r["frame_path"])) for r in index}
    assert len(frames) == 2 and not np.array_equal(*frames.values())  # b's pixels, not a's


def test_two_image_files_that_would_share_an_id_are_an_error_naming_both(tmp_path):
    from ground_truth.readers import read_generic

    for name, seed in (("x.png", 1), ("x.jpg", 2)):
        Image.fromarray(synthetic_photo(seed=seed)).save(tmp_path / name)
    (tmp_path / "points.csv").write_text(
        "image,observer,order,x,y,source\n"
        + "".join(f"{name},1,{k},{10 + k},20,eye\n" for name in ("x.png", "x.jpg") for k in (0, 1))
    )
    result = read_generic(tmp_path / "points.csv")
    assert [r.image_id for r in result.records] == ["custom/x"]
    assert result.drops["images_ambiguous"] == 1
    [error] = result.errors
    assert str(tmp_path / "x.png") in error and str(tmp_path / "x.jpg") in error


def test_two_csv_files_whose_images_share_an_id_are_not_merged_by_the_build(tmp_path, capsys):
    """``a/points.csv`` and ``b/points.csv`` each name their own ``x.png``: both are
    ``custom/x``. The build said nothing and gave both records a's frame; now that id is an
    error naming both files (exit 1) and the other images are built."""
    data = tmp_path / "data"
    for folder, seed in (("a", 1), ("b", 2)):
        (data / folder).mkdir(parents=True)
        Image.fromarray(synthetic_photo(seed=seed)).save(data / folder / "x.png")
        Image.fromarray(synthetic_photo(seed=seed + 5)).save(data / folder / f"{folder}.png")
        (data / folder / "points.csv").write_text(
            "image,observer,order,x,y,source\n"
            + "".join(
                f"{n},1,{k},{20 + k},30,eye\n" for n in ("x.png", f"{folder}.png") for k in (0, 1)
            )
        )
    sources = f"{data / 'a' / 'points.csv'},{data / 'b' / 'points.csv'}"
    out = tmp_path / "gt"
    code = run(
        "ground-truth",
        "build",
        "--source",
        sources,
        "--data_dir",
        data,
        "--out",
        out,
        "--noprogress",
    )
    err = capsys.readouterr()[1]
    assert code == 1, err
    assert "ERROR: custom/x: names two different images, a/x.png and b/x.png" in err, err
    ids = sorted({json.loads(line)["image_id"] for line in (out / "index.jsonl").open()})
    assert ids == ["custom/a", "custom/b"]


# --- 5: a PIL image gives the centre of the same pixels read from a file --------------------


def _palette_with_transparency() -> Image.Image:
    """A ``P`` image whose left half is the transparent index (black beneath)."""
    h, w = 96, 128
    index = np.ones((h, w), np.uint8)
    index[:, : w // 2] = 0
    index[60:80, 90:110] = 2
    image = Image.fromarray(index, "P")
    image.putpalette([0, 0, 0, 70, 70, 70, 250, 250, 250] + [0] * 759)
    image.info["transparency"] = 0
    return image


def _gray16() -> Image.Image:
    """``I;16``: a horizontal ramp over the full 0..65535 range, bright on the right."""
    ramp = np.linspace(0, 65535, 128).astype(np.uint16)
    return Image.fromarray(np.tile(ramp, (96, 1)))


@pytest.mark.parametrize("make", [_palette_with_transparency, _gray16], ids=["P", "I;16"])
def test_a_pil_image_predicts_like_its_file(tmp_path, make):
    import attention_center as ac

    image = make()
    image.save(tmp_path / "image.png", **({"transparency": 0} if image.mode == "P" else {}))
    reopened = Image.open(tmp_path / "image.png")
    assert reopened.mode == image.mode  # the file holds the same mode and pixels
    from_file = ac.predict([tmp_path / "image.png"], model="default")
    for in_memory in (image, reopened):
        assert np.array_equal(ac.predict([in_memory], model="default"), from_file)


# --- 6: a JPEG whose header says 65500x65500 ------------------------------------------------


def test_a_jpeg_whose_header_lies_about_its_size_is_corrupt(tmp_path, capsys):
    """A few hundred bytes saying 65500x65500: libjpeg decoded it without a word (1.26 GB,
    grey padding) and predict gave a centre. Now refused on the header: fast, small."""
    path = write_lying_jpeg(tmp_path / "liar.jpg")
    assert path.stat().st_size < 1000
    process = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from attention_center.core.images import decode_into_frame, ImageLoadError\n"
            "t = time.perf_counter()\n"
            "try:\n    decode_into_frame(sys.argv[1])\nexcept ImageLoadError as e:\n"
            "    print(e.reason)\n"
            "print(time.perf_counter() - t)\n"
            "peak = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
            "print(peak[0])\n",
            str(path),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    reason, seconds, peak_kb = process.stdout.strip().splitlines()
    assert reason.startswith("corrupt or truncated image: ") and "65500x65500" in reason
    assert float(seconds) < 1.0 and int(peak_kb) < 200_000
    Image.fromarray(synthetic_photo()).save(tmp_path / "good.jpg", quality=90)
    assert run("predict", path, tmp_path / "good.jpg", "--model", "default", "--noprogress") == 1
    out, err = capsys.readouterr()
    bad, good = json.loads(out)
    assert bad["center"] is None and good["error"] is None
    assert f"{path}: corrupt or truncated image: " in err


# --- 7: standard output that cannot be written ----------------------------------------------


def test_predict_into_a_closed_pipe_exits_141_quietly(photos):
    """``predict DIR | true``: the reader is gone before the rows are written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "attention_center", "predict", str(photos), "--noprogress"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    process.stdout.close()  # what `| true` does
    stderr = process.stderr.read()
    assert process.wait(timeout=300) == 141, stderr[-2000:]
    assert stderr == "", stderr[-2000:]  # quiet, like a Unix tool killed by SIGPIPE


@pytest.mark.parametrize(
    "args",
    [
        ("predict", "PHOTOS", "--noprogress"),
        ("--help",),
        ("predict", "--help"),
        ("ensemble", "--help"),
        ("ground-truth", "build", "--help"),
    ],
    ids=lambda args: " ".join(args),
)
def test_a_full_disk_on_standard_output_is_one_error_line(photos, args):
    with open("/dev/full", "w") as full:
        process = command(
            *(photos if a == "PHOTOS" else a for a in args),
            stdout=full,
            stderr=subprocess.PIPE,
            capture_output=False,
        )
    assert process.returncode == 1, process.stderr[-2000:]
    assert process.stderr.strip().endswith(
        "error: cannot write to standard output: no space left on device"
    ), process.stderr[-2000:]
    assert no_traceback(process.stderr)


def test_python_m_export_help_into_a_full_disk(tmp_path):
    with open("/dev/full", "w") as full:
        process = subprocess.run(
            [sys.executable, "-m", "export", "--help"],
            cwd=REPO,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert process.returncode == 1 and no_traceback(process.stderr), process.stderr[-2000:]
    assert "python -m export: error: cannot write to standard output" in process.stderr


def test_a_closed_standard_output_is_a_usage_error_before_any_work(photos, tmp_path):
    overlay = tmp_path / "ov"
    process = command(
        "predict",
        photos,
        "--overlay",
        overlay,
        "--noprogress",
        preexec_fn=lambda: os.close(1),  # `>&-`
        stdout=None,
        stderr=subprocess.PIPE,
        capture_output=False,
    )
    assert process.returncode == 2, process.stderr[-2000:]
    assert "error: standard output is closed" in process.stderr
    assert no_traceback(process.stderr) and not overlay.exists()  # no work done


# --- 8: a 240-character name --------------------------------------------------------------


def test_a_240_character_name_gets_its_overlay(tmp_path, capsys):
    """The overlay's name (252 bytes) fits in NAME_MAX (255); the temporary's did not."""
    from attention_center.core.atomic import is_temporary, stale_temporaries, temporary_name

    folder = tmp_path / "in"
    folder.mkdir()
    name = "a" * 236 + ".png"
    Image.fromarray(synthetic_photo()).save(folder / name)
    out = tmp_path / "ov"
    assert run("predict", folder, "--overlay", out, "--model", "default", "--noprogress") == 0, (
        capsys.readouterr()[1]
    )
    assert [p.name for p in out.iterdir()] == [name + ".overlay.png"]
    for destination in (out / (name + ".overlay.png"), out / ("é" * 127)):
        temporary = temporary_name(destination, ".keras")
        assert len(os.fsencode(temporary.name)) <= 255 and is_temporary(temporary)
        # What the same destination gives a process of the largest pid fits as well.
        widest = temporary.name.replace(f".{os.getpid()}-", ".4194303-")
        assert len(os.fsencode(widest)) <= 255
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process that no longer runs: what a kill -9 leaves behind
    temporary = temporary_name(out / (name + ".overlay.png"))
    left = temporary.with_name(temporary.name.replace(f".{os.getpid()}-", f".{gone.pid}-"))
    left.write_bytes(b"left by a kill -9")
    assert stale_temporaries(out) == [left]  # the shortened name is still recognised


def test_a_write_error_names_the_destination_not_the_temporary(tmp_path):
    from attention_center.core.atomic import atomic_write_bytes

    destination = tmp_path / ("b" * 300)  # longer than NAME_MAX itself
    with pytest.raises(OSError) as raised:
        atomic_write_bytes(destination, b"data")
    assert raised.value.filename == str(destination)
    assert ".ac-tmp" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []  # the temporary is gone


# --- 9: a missing model, a model that is not one, a FIFO ------------------------------------


@pytest.fixture(scope="module")
def centroid_keras(tmp_path_factory) -> Path:
    return save_centroid_model(tmp_path_factory.mktemp("model") / "centroid.keras")


def test_ensemble_a_missing_or_invalid_member_is_a_usage_error(centroid_keras, tmp_path, capsys):
    (tmp_path / "text.keras").write_text("not a model\n")
    os.mkfifo(tmp_path / "fifo.keras")
    for bad, words in (
        (tmp_path / "nope.keras", "no such model file"),
        (tmp_path / "text.keras", "not a valid .keras file"),
        (tmp_path / "fifo.keras", "not a regular file (a FIFO)"),
    ):
        args = (
            "ensemble",
            "--model",
            centroid_keras,
            "--model",
            bad,
            "--out",
            tmp_path / "e.keras",
        )
        assert run(*args) == 2, bad
        assert f"{bad}: {words}" in capsys.readouterr()[1]
    assert not (tmp_path / "e.keras").exists()


def test_export_a_missing_or_fifo_model_exits_2_without_blocking(tmp_path):
    """``python -m export``: the README's 2 (it was 1), and a FIFO is never opened (loading
    it blocked until something wrote to it)."""
    os.mkfifo(tmp_path / "fifo.keras")
    for bad, words in (
        (tmp_path / "nope.keras", "no such model file"),
        (tmp_path / "fifo.keras", "not a regular file (a FIFO)"),
    ):
        process = subprocess.run(
            [
                sys.executable,
                "-m",
                "export",
                "--model",
                str(bad),
                "--out",
                str(tmp_path / "c.tflite"),
                "--noprogress",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=240,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        )
        assert process.returncode == 2, process.stderr[-2000:]
        assert f"{bad}: {words}" in process.stderr and no_traceback(process.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo.keras"]


def test_a_fifo_image_is_not_a_regular_file(tmp_path, capsys):
    os.mkfifo(tmp_path / "pipe.png")
    Image.fromarray(synthetic_photo()).save(tmp_path / "photo.png")
    assert run("predict", tmp_path, "--model", "default", "--noprogress") == 1
    out, err = capsys.readouterr()
    rows = {Path(r["path"]).name: r for r in json.loads(out)}
    assert rows["pipe.png"]["error"] == "not a regular file (a FIFO)"
    assert rows["photo.png"]["error"] is None
    assert "empty file" not in err
