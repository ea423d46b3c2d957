"""``attention-center encode`` against hostile inputs, misuse and interruptions (issue 17).

Real cjxl and djxl, the bundled ``small`` preset's int8 ``.tflite``. Every run is checked
for its exit code, the message (file and problem), that every good image was encoded,
that no input changed (sha256 before and after) and that no temporary is left. The
interruption tests run the command in a subprocess and send it SIGINT, SIGTERM and
SIGKILL while cjxl works (``-d 0 -e 9`` on noise: seconds per image).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    REPO,
    live_cjxl,
    needs_jxl_tools,
)
from PIL import Image
from robustness.corpus import digests, synthetic_photo, write_image_corpus

from attention_center.cli import main as cli

pytestmark = needs_jxl_tools


def run(*args) -> int:
    return cli.main(["attention-center", *map(str, args)])


def temporaries(folder: Path) -> list[Path]:
    """Our temporaries (``.*.ac-tmp*``) anywhere under ``folder``."""
    return sorted(p for p in Path(folder).rglob("*") if ".ac-tmp" in p.name)


def decoded_size(jxl: Path, work: Path) -> tuple[int, int]:
    """``(w, h)`` of a JPEG XL file as djxl displays it."""
    out = work / "decoded.png"
    subprocess.run(["djxl", str(jxl), str(out), "--quiet"], check=True, capture_output=True)
    with Image.open(out) as image:
        return image.size


# --- the corpus: every bad file fails alone, every good one is encoded ------------------------


def test_encode_the_corpus(tmp_path, capsys):
    images, out = tmp_path / "in", tmp_path / "out"
    cases = write_image_corpus(images)
    before = digests(images)
    code = run(
        "encode",
        "--image_dir",
        images,
        "--output_dir",
        out,
        "--model",
        "default",
        "--jobs",
        "2",
        "--noprogress",
    )
    printed = capsys.readouterr()[0]
    assert code == 1
    bad = {name: case for name, case in cases.items() if not case.usable}
    good = {name: case for name, case in cases.items() if case.usable}
    assert (
        f"{len(cases)} images: {len(good)} encoded, {len(bad)} failed; 1 other files ignored"
    ) in printed
    for name, case in bad.items():
        [line] = [line for line in printed.splitlines() if line.startswith(f"  {images / name}: ")]
        assert case.reason in line, line
        assert not (out / f"{name}.jxl").exists()
    for name, case in good.items():
        w, h = decoded_size(out / f"{name}.jxl", tmp_path)
        assert (h, w) == ((1, 1) if name == "one.png" else (96, 128)), name  # as displayed
        if case.note:
            assert f"  {images / name}: {case.note} for the centre" in printed
    assert digests(images) == before
    assert not temporaries(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decoded.png", "in", "out"]


def test_max_pixels_bounds_every_image_encode_decodes(tmp_path, capsys):
    images = tmp_path / "in"
    images.mkdir()
    Image.fromarray(synthetic_photo()).save(images / "photo.png")
    Image.new("RGB", (20, 20)).save(images / "small.png")
    assert (
        run(
            "encode",
            "--image_dir",
            images,
            "--output_dir",
            tmp_path / "out",
            "--model",
            "default",
            "--noprogress",
            "--max_pixels",
            "1000",
        )
        == 1
    )
    printed = capsys.readouterr()[0]
    assert "2 images: 1 encoded, 1 failed" in printed
    assert f"  {images / 'photo.png'}: 128x96 is 12,288 pixels, more than the 1,000" in printed


# --- case 2: an output folder that cannot be used, with inputs that go through a PNG ---------


@pytest.fixture()
def png_path_inputs(tmp_path) -> Path:
    """CMYK JPEG, TIFF, WebP and BMP (cjxl 0.7 reads none: the temporary-PNG path)."""
    folder = tmp_path / "in"
    folder.mkdir()
    image = Image.fromarray(synthetic_photo())
    image.convert("CMYK").save(folder / "cmyk.jpg")
    for suffix in ("tiff", "webp", "bmp"):
        image.save(folder / f"photo.{suffix}")
    return folder


def test_an_output_folder_that_is_a_file_is_a_usage_error(png_path_inputs, tmp_path, capsys):
    target = tmp_path / "out.jxl"
    target.write_text("a file, not a folder\n")
    before = digests(tmp_path)
    assert (
        run(
            "encode",
            "--image_dir",
            png_path_inputs,
            "--output_dir",
            target,
            "--model",
            "default",
            "--noprogress",
        )
        == 2
    )
    out, err = capsys.readouterr()
    assert f"--output_dir {target}: exists and is not a folder" in err and not out
    assert digests(tmp_path) == before and not temporaries(tmp_path)


def test_an_output_folder_we_may_not_write_is_a_usage_error(unprivileged, capsys):
    """Mode 0o555, without root's file-access capabilities (see ``unprivileged``)."""
    from attention_center.core.files import OutputFolderError
    from attention_center.inference.predictors import load_predictor
    from attention_center.jxl.batch import encode_directory

    folder = Path(tempfile.mkdtemp(prefix="ac_ro_"))
    try:
        images, out = folder / "in", folder / "out"
        images.mkdir()
        out.mkdir()
        for name in ("cmyk.jpg", "photo.webp"):
            image = Image.fromarray(synthetic_photo())
            image.convert("CMYK" if name.endswith("jpg") else "RGB").save(images / name)
            (images / name).chmod(0o644)
        for path, mode in ((folder, 0o755), (images, 0o755), (out, 0o555)):
            path.chmod(mode)
        predictor = load_predictor("default")
        with pytest.raises(OutputFolderError, match="cannot write into it: permission denied"):
            unprivileged(encode_directory, images, out, predictor, progress=False)
        assert list(out.iterdir()) == []
    finally:
        shutil.rmtree(folder)


def test_a_temporary_png_that_cannot_be_written_fails_that_image_alone(
    png_path_inputs, tmp_path, capsys
):
    """``OUT/sub`` is a file: the images of ``sub/`` (a WebP through a PNG, a PNG read by
    cjxl itself) fail, each named, with the summary; the others are encoded."""
    (png_path_inputs / "sub").mkdir()
    Image.fromarray(synthetic_photo()).save(png_path_inputs / "sub" / "x.webp")
    Image.fromarray(synthetic_photo()).save(png_path_inputs / "sub" / "y.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub").write_text("in the way\n")
    before = digests(png_path_inputs)
    code = run(
        "encode",
        "--image_dir",
        png_path_inputs,
        "--output_dir",
        out,
        "--model",
        "default",
        "--noprogress",
    )
    printed, err = capsys.readouterr()
    assert code == 1, printed + err
    assert "6 images: 4 encoded, 2 failed" in printed
    assert f"  {png_path_inputs / 'sub' / 'x.webp'}: cannot write" in printed
    assert "(the PNG cjxl reads for WEBP)" in printed
    assert f"  {png_path_inputs / 'sub' / 'y.png'}: cannot write" in printed
    for name in ("cmyk.jpg", "photo.tiff", "photo.webp", "photo.bmp"):
        assert decoded_size(out / f"{name}.jxl", tmp_path) == (128, 96)
    assert digests(png_path_inputs) == before and not temporaries(tmp_path)


# --- case 5: extra cjxl flags are tried once, up front --------------------------------------


@pytest.mark.parametrize(
    "flags,words",
    [
        (["--bogus"], "Unknown argument: --bogus"),
        (["-e", "11"], "Invalid flag value for --effort"),
        (["--distance=banana"], "banana"),
    ],
)
def test_bad_cjxl_flags_are_a_usage_error_before_any_work(
    png_path_inputs, tmp_path, capsys, flags, words
):
    out = tmp_path / "out"
    assert (
        run(
            "encode",
            "--image_dir",
            png_path_inputs,
            "--output_dir",
            out,
            "--model",
            "default",
            "--noprogress",
            "--",
            *flags,
        )
        == 2
    )
    printed, err = capsys.readouterr()
    assert "cjxl refuses the extra flags" in err and words in err and not printed
    assert not out.exists()  # nothing made, not even the folder


def test_good_cjxl_flags_pass_the_trial_even_per_image_ones(png_path_inputs, tmp_path, capsys):
    out = tmp_path / "out"
    # --center_x 100 is past the 64x64 trial image: it is left out of the trial.
    assert (
        run(
            "encode",
            "--image_dir",
            png_path_inputs,
            "--output_dir",
            out,
            "--model",
            "default",
            "--noprogress",
            "--",
            "-e",
            "1",
            "--center_x",
            "100",
        )
        == 0
    )
    assert "4 images: 4 encoded" in capsys.readouterr()[0]


# --- case 9: --dry_run and --verbose print commands a shell can run ---------------------------


def test_dry_run_commands_are_shell_quoted(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    names = ['it\'s a "quoted" $photo.png', "-dash.png", "two  spaces.png", "semi;colon.png"]
    for name in names:
        Image.fromarray(synthetic_photo()).save(folder / name)
    monkeypatch.chdir(folder)
    assert (
        run(
            "encode",
            "--image_dir",
            ".",
            "--output_dir",
            "../out",
            "--model",
            "default",
            "--dry_run",
            "--noprogress",
            "--",
            "-e",
            "1",
        )
        == 0
    )
    lines = [line for line in capsys.readouterr()[0].splitlines() if "--center_x" in line]
    assert len(lines) == len(names)
    for line in lines:
        argv = shlex.split(line)
        source, output = argv[1], argv[2]
        assert os.path.isfile(source) and not source.startswith("-")  # never read as a flag
        assert output == os.path.join("..", "out", os.path.basename(source) + ".jxl")
        assert argv[3:5] == ["--group_order", "1"] and argv[-2:] == ["-e", "1"]
    assert not (tmp_path / "out").exists()
    # The printed line runs as is, the awkward name included.
    [line] = [line for line in lines if "quoted" in line]
    (tmp_path / "out").mkdir()
    subprocess.run(["bash", "-c", line], check=True, capture_output=True)
    assert decoded_size(tmp_path / "out" / f"{names[0]}.jxl", tmp_path) == (128, 96)


# --- outputs never leave --output_dir, inputs are never overwritten -------------------------


def test_outputs_stay_in_the_output_folder_and_off_the_inputs(tmp_path, capsys):
    images, out, elsewhere = tmp_path / "in", tmp_path / "out", tmp_path / "elsewhere"
    (images / "sub").mkdir(parents=True)
    elsewhere.mkdir()
    out.mkdir()
    for name in ("a.png", "a.png.png", "sub/b.png"):
        Image.fromarray(synthetic_photo()).save(images / name)
    os.symlink(elsewhere, out / "sub")  # OUT/sub leads out of OUT
    before = digests(images)
    assert (
        run(
            "encode",
            "--image_dir",
            images,
            "--output_dir",
            out,
            "--model",
            "default",
            "--noprogress",
            "--new_suffix",
            "png",
        )
        == 1
    )
    printed = capsys.readouterr()[0]
    assert "outside the output folder" in printed and f"{images / 'sub' / 'b.png'}" in printed
    assert list(elsewhere.iterdir()) == []
    # The output folder is the input folder: a.png -> a.png.png would replace an input.
    assert (
        run(
            "encode",
            "--image_dir",
            images,
            "--output_dir",
            images,
            "--model",
            "default",
            "--noprogress",
            "--new_suffix",
            "png",
        )
        == 1
    )
    printed = capsys.readouterr()[0]
    assert f"{images / 'a.png'}: output {images / 'a.png.png'} would overwrite an input" in printed
    after = digests(images)
    assert {k: after[k] for k in before} == before  # every input as it was
    assert set(after) - set(before) == {"a.png.png.png", "sub/b.png.png"}
    assert not temporaries(tmp_path)


# --- case 3: Ctrl-C, SIGTERM and kill -9 while cjxl runs -------------------------------------


def _wait_for(condition, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def _slow_inputs(folder: Path) -> Path:
    """In the order they are encoded: a small photo (done at once), two noise images cjxl
    needs seconds for at ``-d 0 -e 9``, and a WebP (its temporary PNG waits its turn)."""
    folder.mkdir(parents=True)
    Image.fromarray(synthetic_photo(seed=2)).save(folder / "0fast.png")
    rng = np.random.default_rng(0)
    for name in ("a1.png", "a2.png"):
        Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(folder / name)
    Image.fromarray(synthetic_photo()).save(folder / "b.webp")
    return folder


def _busy(out: Path) -> bool:
    """The first image is done and cjxl works on the two slow ones."""
    return (out / "0fast.png.jxl").is_file() and len(live_cjxl(str(out))) == 2


def _start_encode(images: Path, out: Path, *flags: str) -> subprocess.Popen:
    """``attention-center encode`` in a subprocess; ``flags``: ours, then ``--`` and cjxl's."""
    command = [
        sys.executable,
        "-m",
        "attention_center",
        "encode",
        "--image_dir",
        str(images),
        "--output_dir",
        str(out),
        "--model",
        "default",
        "--jobs",
        "2",
        "--noprogress",
        *flags,
    ]
    return subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _kill_leftovers(marker: str) -> None:
    """Test hygiene: kills cjxl processes of this test (found by their output folder)."""
    for pid in live_cjxl(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interruption_stops_cjxl_removes_temporaries_and_prints_the_summary(tmp_path, signum):
    images = _slow_inputs(tmp_path / "in")
    out = tmp_path / "out"
    before = digests(images)
    process = _start_encode(images, out, "--", "-d", "0", "-e", "9")
    try:
        assert _wait_for(lambda: _busy(out), 60), "cjxl never got to the slow images"
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=30)
        assert process.returncode == 130, stderr[-2000:]
        assert "Traceback" not in stderr
        assert "4 images: 1 encoded, 3 not done (interrupted)" in stdout
        assert "--skip_existing finishes them" in stdout
        assert _wait_for(lambda: not live_cjxl(str(out)), 5), "cjxl still running"
        assert not temporaries(out)
        assert [p.name for p in out.iterdir()] == ["0fast.png.jxl"]
        assert digests(images) == before
    finally:
        process.kill()
        _kill_leftovers(str(out))


def test_kill_9_leaves_no_cjxl_running_and_the_next_run_cleans_up_and_resumes(tmp_path):
    images = _slow_inputs(tmp_path / "in")
    out = tmp_path / "out"
    before = digests(images)
    process = _start_encode(images, out, "--", "-d", "0", "-e", "9")
    try:
        assert _wait_for(lambda: _busy(out), 60), "cjxl never got to the slow images"
        assert temporaries(out)  # the WebP's PNG, waiting its turn
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
        # The children die with their parent (PR_SET_PDEATHSIG): no orphan keeps encoding.
        assert _wait_for(lambda: not live_cjxl(str(out)), 5), live_cjxl(str(out))
        left = temporaries(out)
        assert left and all(p.name.startswith(".") for p in left)  # what a kill -9 leaves
        # The next run (fast flags) removes them and finishes the work.
        again = _start_encode(images, out, "--skip_existing")
        stdout, stderr = again.communicate(timeout=120)
        assert again.returncode == 0, stderr[-2000:]
        assert "4 images: 3 encoded, 1 skipped (output exists)" in stdout
        assert not temporaries(out) and not live_cjxl(str(out))
        assert sorted(p.name for p in out.iterdir()) == [
            "0fast.png.jxl",
            "a1.png.jxl",
            "a2.png.jxl",
            "b.webp.jxl",
        ]
        assert digests(images) == before
    finally:
        process.kill()
        _kill_leftovers(str(out))
