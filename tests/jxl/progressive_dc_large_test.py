"""cjxl 0.7 crashes on --progressive_dc with a centre outside the 1:8 preview of a >2048 px
image (issue 23, found on upscaled web pages); encode keeps the preview and leaves the centre
out there (the preview is worth more in a browser); compare leaves the flag out."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from conftest import needs_jxl_tools
from PIL import Image

from attention_center.inference.predictors import load_predictor
from attention_center.jxl.batch import encode_directory
from attention_center.jxl.defaults import center_cjxl_survives, flags_cjxl_survives

pytestmark = needs_jxl_tools


@pytest.fixture(scope="module")
def wide(kodak_paths, tmp_path_factory):
    """A real photo stretched to 2100x1000 (a 1:8 DC frame of 263x125: two DC groups)."""
    folder = tmp_path_factory.mktemp("wide")
    source = next(p for p in kodak_paths if p.name == "kodim23.png")
    Image.open(source).convert("RGB").resize((2100, 1000)).save(folder / "w.png")
    return folder


def _cjxl(path, out, *flags) -> int:
    return subprocess.run(
        ["cjxl", str(path), str(out), "--quiet", "-e", "1", *flags], capture_output=True
    ).returncode


def test_the_crash_and_the_rule(wide, tmp_path):
    source = wide / "w.png"
    centre = ["--group_order", "1", "--center_x", "1000", "--center_y", "600"]
    assert _cjxl(source, tmp_path / "a.jxl", *centre, "--progressive_dc=1") != 0  # cjxl 0.7
    assert _cjxl(source, tmp_path / "b.jxl", *centre) == 0
    inside = ["--group_order", "1", "--center_x", "200", "--center_y", "100"]
    assert _cjxl(source, tmp_path / "c.jxl", *inside, "--progressive_dc=1") == 0
    kept, note = flags_cjxl_survives(["--progressive_dc=1", "-e", "1"], (1000, 2100), (1000, 600))
    assert kept == ["-e", "1"] and "2100x1000" in note
    assert flags_cjxl_survives(["--progressive_dc=1"], (1000, 2100), (200, 100)) == (
        ["--progressive_dc=1"],
        None,
    )
    assert flags_cjxl_survives(["--progressive_dc=1"], (1500, 2000), (1000, 600))[1] is None


def test_encode_keeps_the_preview_and_leaves_the_centre_out(wide, tmp_path):
    summary = encode_directory(
        wide,
        tmp_path / "out",
        load_predictor(None),
        progress=False,
        jobs=1,
        extra_flags=["--progressive_dc=1", "-e", "1"],
        center_strategy="model",
    )
    assert summary.ok, summary.format()
    (result,) = summary.results
    x, y = result.display_center
    assert x >= 263 or y >= 125, result.display_center  # this photo's centre: the crash case
    assert result.center is None and "--progressive_dc=1" in result.command
    assert "--center_x" not in result.command and "--group_order" not in result.command
    assert any("centre-first order left out" in n for n in result.notes), result.notes
    decoded = tmp_path / "d.png"
    subprocess.run(["djxl", str(result.output), str(decoded), "--quiet"], check=True)
    assert np.asarray(Image.open(decoded)).shape[:2] == (1000, 2100)


def test_the_centre_is_kept_where_cjxl_survives(wide, tmp_path):
    flags = ["--progressive_dc=1"]
    assert center_cjxl_survives(flags, (1000, 2100), (200, 100)) == ((200, 100), None)
    assert center_cjxl_survives(flags, (1500, 2000), (1000, 600)) == ((1000, 600), None)
    assert center_cjxl_survives([], (1000, 2100), (1000, 600)) == ((1000, 600), None)
    # A JPEG is transcoded losslessly: cjxl ignores --progressive_dc and keeps the centre.
    assert center_cjxl_survives(flags, (1000, 2100), (1000, 600), jpeg_transcode=True)[1] is None
    jpeg = tmp_path / "w.jpg"
    Image.open(wide / "w.png").save(jpeg, quality=90)
    centre = ["--group_order", "1", "--center_x", "1000", "--center_y", "600"]
    assert _cjxl(jpeg, tmp_path / "j.jxl", *centre, "--progressive_dc=1") == 0


def test_beam_encode_keeps_the_preview_and_leaves_the_centre_out(wide, tmp_path):
    """``attention-center beam --encode`` now adds ``--progressive_dc=1`` as encode does: on
    this image cjxl 0.7 would crash with the centre (before, the user's flag crashed it)."""
    pytest.importorskip("apache_beam")
    from attention_center.beam.encode import encode_jxl
    from attention_center.jxl.encoder import find_encoder

    out = tmp_path / "w.png.jxl"
    center, size = encode_jxl(
        str(wide / "w.png"),
        str(out),
        (1000.0, 600.0),
        (1000, 2100),
        find_encoder(),
        ["--progressive_dc=1", "-e", "1"],
        center_strategy="chosen",
    )
    assert center is None and size == out.stat().st_size > 0
    decoded = tmp_path / "d.png"
    subprocess.run(["djxl", str(out), str(decoded), "--quiet"], check=True)
    assert np.asarray(Image.open(decoded)).shape[:2] == (1000, 2100)
