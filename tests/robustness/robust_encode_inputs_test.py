"""``encode`` (and ``predict``) on input trees and flags they used to mishandle quietly.

* A folder under ``--image_dir`` that cannot be listed was skipped without a word (exit
  0): it is now named in the summary and the run exits 1, as ``predict`` does.
* ``--new_suffix`` must be a plain file-name ending: ``../../all.jxl`` wrote every output
  to one file outside the output folder, ``''`` wrote names ending in ``.``.
* Pillow's ``UserWarning: Corrupt EXIF data`` (no file named, nothing to act on) stays
  off stderr, in ``encode`` as in ``predict``.

Real cjxl, the bundled ``default`` model, images generated with Pillow.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import REPO, needs_jxl_tools, where_permissions_apply
from PIL import Image
from robustness.corpus import digests, synthetic_photo

from attention_center.cli import main as cli

pytestmark = needs_jxl_tools


def run(*args) -> int:
    return cli.main(["attention-center", *map(str, args)])


def test_a_folder_that_cannot_be_listed_is_reported_and_fails_the_run():
    """Mode 000, the command in a subprocess where file permissions apply."""
    folder = Path(tempfile.mkdtemp(prefix="ac_unlisted_"))
    try:
        images, out = folder / "in", folder / "out"
        (images / "locked").mkdir(parents=True)
        out.mkdir()
        for path in (images / "ok.png", images / "locked" / "hidden.png"):
            Image.fromarray(synthetic_photo()).save(path)
            path.chmod(0o644)
        for path, mode in ((folder, 0o755), (images, 0o755), (out, 0o777)):
            path.chmod(mode)
        (images / "locked").chmod(0)
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
            "--noprogress",
        ]
        done = subprocess.run(
            where_permissions_apply(command), cwd=REPO, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 1, done.stdout + done.stderr[-2000:]
        assert "1 images: 1 encoded; 1 folder could not be listed" in done.stdout
        assert f"  {images / 'locked'}: cannot list folder: Permission denied" in done.stdout
        assert sorted(p.name for p in out.iterdir()) == ["ok.png.jxl"]
    finally:
        (folder / "in" / "locked").chmod(0o755)
        shutil.rmtree(folder)


@pytest.mark.parametrize(
    "suffix,words",
    [
        ("../../all.jxl", "holds a path separator"),
        ("sub/x.jxl", "holds a path separator"),
        ("", "is empty"),
        (".", "is empty"),
        ("jxl.", "ends with a dot or has two dots in a row"),
    ],
)
def test_a_new_suffix_that_is_not_a_plain_ending_is_a_usage_error(tmp_path, capsys, suffix, words):
    images = tmp_path / "deep" / "in"
    images.mkdir(parents=True)
    for name in ("a.png", "b.png"):
        Image.fromarray(synthetic_photo()).save(images / name)
    before = digests(tmp_path)
    out = tmp_path / "deep" / "out"
    code = run(
        "encode",
        "--image_dir",
        images,
        "--output_dir",
        out,
        "--model",
        "default",
        "--noprogress",
        "--new_suffix",
        suffix,
    )
    printed, err = capsys.readouterr()
    assert code == 2 and not printed
    assert f"--new_suffix {suffix!r} {words}" in err
    assert digests(tmp_path) == before and not out.exists()  # nothing made, anywhere


def test_the_api_refuses_such_a_suffix_too_and_takes_a_leading_dot(tmp_path, capsys):
    from attention_center.inference.predictors import load_predictor
    from attention_center.jxl.batch import encode_directory

    images = tmp_path / "in"
    images.mkdir()
    Image.fromarray(synthetic_photo()).save(images / "a.png")
    predictor = load_predictor("default")
    with pytest.raises(ValueError, match="holds a path separator"):
        encode_directory(images, tmp_path / "out", predictor, new_suffix="../x", progress=False)
    assert not (tmp_path / "out").exists()
    summary = encode_directory(
        images, tmp_path / "out", predictor, new_suffix=".small.jxl", progress=False
    )
    assert summary.ok and [p.name for p in (tmp_path / "out").iterdir()] == ["a.png.small.jxl"]


def _corrupt_exif_jpeg(path: Path) -> None:
    """A JPEG whose EXIF block says 5 entries and ends after the first tag number."""
    exif = b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x05\x01\x12"
    Image.fromarray(synthetic_photo()).save(path, exif=exif)


def test_corrupt_exif_warnings_stay_off_stderr(tmp_path):
    """In a subprocess: Python's own warning filters decide what reaches stderr."""
    images = tmp_path / "in"
    images.mkdir()
    for name in ("a.jpg", "b.jpg"):
        _corrupt_exif_jpeg(images / name)
    check = subprocess.run(
        [
            sys.executable,
            "-W",
            "always",
            "-c",
            f"from PIL import Image; Image.open({str(images / 'a.jpg')!r}).getexif()",
        ],
        capture_output=True,
        text=True,
    )
    assert "Corrupt EXIF data" in check.stderr  # the files do make Pillow warn
    for args in (
        ["encode", "--image_dir", str(images), "--output_dir", str(tmp_path / "out")],
        ["predict", str(images)],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "attention_center", *args, "--model", "default", "--noprogress"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert "Corrupt EXIF" not in done.stderr and "Warning" not in done.stderr, done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg.jxl", "b.jpg.jxl"]
