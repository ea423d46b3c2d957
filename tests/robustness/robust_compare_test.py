"""``attention-center compare``: where it writes, and images it used to fail on.

* An output that would be the input image (``compare DIR/index.html --out DIR``, a hard
  link) is refused before any work, and the input is left as it was.
* An ``--out`` that is a file, lies under a file, or is a folder we may not write is a
  usage error (exit 2, one line) before any work, not a traceback after it.
* An animated GIF is compared by its first frame (djxl writes one file per frame of an
  animation, which the page's decoder used to miss).

Real cjxl and djxl, the bundled ``default`` model, real photos (Kodak) and Pillow images.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, needs_jxl_tools, where_permissions_apply
from PIL import Image
from robustness.corpus import digests

from attention_center.cli import main as cli
from attention_center.jxl.partial import decode_file

pytestmark = needs_jxl_tools

#: Flags that keep each run small: our model only, one budget, no ground truth.
COMMON = ("--model", "default", "--google_model", "none", "--budgets", "20", "--gt_dir", "")


def run(*args) -> int:
    return cli.main(["attention-center", *map(str, args)])


@pytest.fixture()
def photo(tmp_path, kodak_paths) -> Path:
    """A real photo, small (192x128) so each compare takes a second or two."""
    folder = tmp_path / "in"
    folder.mkdir()
    with Image.open(kodak_paths[22]) as image:
        image.convert("RGB").resize((192, 128)).save(folder / "photo.png")
    return folder / "photo.png"


def test_an_output_that_is_the_input_is_refused_before_any_work(photo, tmp_path, capsys):
    folder = photo.parent
    disguised = folder / "index.html"  # a PNG named like the page compare writes
    shutil.copy(photo, disguised)
    before = digests(folder)
    assert run("compare", disguised, *COMMON, "--out", folder) == 2
    out, err = capsys.readouterr()
    assert f"--out {folder}: {disguised} is the input image; refused" in err and not out
    assert digests(folder) == before  # nothing written, the input as it was
    # The same file under another name: a hard link as compare.json.
    os.link(photo, tmp_path / "linked")
    (tmp_path / "page").mkdir()
    os.link(photo, tmp_path / "page" / "compare.json")
    before = digests(tmp_path)
    assert run("compare", tmp_path / "linked", *COMMON, "--out", tmp_path / "page") == 2
    assert "compare.json is the input image; refused" in capsys.readouterr()[1]
    assert digests(tmp_path) == before


def test_an_out_that_is_a_file_or_under_one_is_a_usage_error_before_any_work(
    photo, tmp_path, capsys
):
    taken = tmp_path / "taken"
    taken.write_text("a file, not a folder\n")
    before = digests(tmp_path)
    assert run("compare", photo, *COMMON, "--out", taken) == 2
    out, err = capsys.readouterr()
    assert f"--out {taken}: exists and is not a folder" in err and not out
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2  # + the help hint
    assert run("compare", photo, *COMMON, "--out", taken / "a" / "b") == 2
    assert (
        f"--out {taken / 'a' / 'b'}: its folder {taken}: exists and is not a folder"
        in (capsys.readouterr()[1])
    )
    assert digests(tmp_path) == before
    # A folder that does not exist yet is made, with its parents, only when the page is.
    assert run("compare", photo, *COMMON, "--out", tmp_path / "new" / "page") == 0
    assert (tmp_path / "new" / "page" / "index.html").stat().st_size > 0


def test_an_out_folder_we_may_not_write_is_a_usage_error(kodak_paths):
    """Mode 0o555, the command in a subprocess where file permissions apply (root writes
    anywhere: see ``where_permissions_apply``)."""
    folder = Path(tempfile.mkdtemp(prefix="ac_compare_ro_"))
    try:
        with Image.open(kodak_paths[22]) as image:
            image.convert("RGB").resize((192, 128)).save(folder / "photo.png")
        (folder / "out").mkdir()
        for path, mode in ((folder, 0o755), (folder / "photo.png", 0o644), (folder / "out", 0o555)):
            path.chmod(mode)
        command = [sys.executable, "-m", "attention_center", "compare", folder / "photo.png"]
        done = subprocess.run(
            where_permissions_apply([*map(str, command), *COMMON, "--out", str(folder / "out")]),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 2, done.stderr[-2000:]
        err = done.stderr
        assert f"--out {folder / 'out'}: cannot write into it: permission denied" in err
        assert list((folder / "out").iterdir()) == []
    finally:
        shutil.rmtree(folder)


@pytest.fixture()
def animated_gif(tmp_path, kodak_paths) -> tuple[Path, list[np.ndarray]]:
    """A 3-frame GIF of real photos (192x128) and its frames' RGB pixels as Pillow reads them."""
    frames = []
    for path in kodak_paths[:3]:
        with Image.open(path) as image:
            frames.append(image.convert("RGB").resize((192, 128)))
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(gif) as image:
        pixels = []
        for index in range(image.n_frames):
            image.seek(index)
            pixels.append(np.asarray(image.convert("RGB")))
    return gif, pixels


def test_an_animated_gif_is_compared_by_its_first_frame(animated_gif, tmp_path, capsys):
    gif, _ = animated_gif
    out = tmp_path / "page"
    assert run("compare", gif, *COMMON, "--out", out) == 0, capsys.readouterr()[1]
    printed = capsys.readouterr()[0]
    assert "note: animated: the first of 3 frames was used" in printed
    summary = json.loads((out / "compare.json").read_text())
    assert summary["image_hw"] == [128, 192]
    assert any("animated" in note for note in summary["notes"])
    assert [c["key"] for c in summary["columns"]] == ["scanline", "ours"]
    assert all(c["file_bytes"] > 0 for c in summary["columns"])


def test_decode_file_gives_an_animations_first_frame_and_leaves_no_frame_files(
    animated_gif, tmp_path
):
    """djxl writes ``NAME-0.ppm``, ``NAME-1.ppm``... for an animation, not ``NAME.ppm``."""
    gif, frames = animated_gif
    jxl = tmp_path / "anim.jxl"
    subprocess.run(["cjxl", str(gif), str(jxl), "-d", "0", "--quiet"], check=True)
    work = tmp_path / "work"
    work.mkdir()
    decoded = decode_file(jxl, work / "full.ppm")
    assert decoded is not None and decoded.shape == (128, 192, 3)
    assert np.array_equal(decoded, frames[0])  # lossless: the first frame exactly
    assert sorted(p.name for p in work.iterdir()) == []


def test_decode_file_reads_alpha_and_16_bit_images_as_8_bit_rgb(tmp_path, kodak_paths):
    """djxl writes a PAM (``P7``, which Pillow cannot read) for an image with alpha, and a
    16-bit PGM for a 16-bit one: both come back as their ``uint8`` colours."""
    with Image.open(kodak_paths[22]) as image:
        rgba = np.asarray(image.convert("RGBA").resize((192, 128))).copy()
    rgba[:, :64, 3] = 100
    ramp = np.linspace(0, 65535, 128 * 192).reshape(128, 192).astype(np.uint16)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    for name, expected in (
        ("rgba.png", rgba[..., :3]),
        ("g16.png", np.repeat(((ramp.astype(np.uint32) * 255 + 32767) // 65535)[..., None], 3, -1)),
    ):
        jxl = tmp_path / f"{name}.jxl"
        subprocess.run(["cjxl", str(tmp_path / name), str(jxl), "-d", "0", "--quiet"], check=True)
        decoded = decode_file(jxl, tmp_path / "out.ppm")
        assert decoded is not None and decoded.dtype == np.uint8, name
        assert np.abs(decoded.astype(int) - expected).max() <= 1, name


def test_an_image_with_alpha_is_compared(tmp_path, kodak_paths, capsys):
    with Image.open(kodak_paths[22]) as image:
        rgba = image.convert("RGBA").resize((192, 128))
    rgba.putalpha(200)
    rgba.save(tmp_path / "rgba.png")
    assert run("compare", tmp_path / "rgba.png", *COMMON, "--out", tmp_path / "page") == 0, (
        capsys.readouterr()[1]
    )
    summary = json.loads((tmp_path / "page" / "compare.json").read_text())
    assert summary["image_hw"] == [128, 192]
