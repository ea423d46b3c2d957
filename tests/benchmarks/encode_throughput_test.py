"""benchmarks/encode_throughput.py: the real ``attention-center encode`` on real Kodak photos
(a PNG and an upscaled JPEG), ours and Google's model in one run, the real cjxl."""

from __future__ import annotations

import pytest
from conftest import needs_jxl_tools

from benchmarks.encode_throughput import (
    kodak_photos,
    large_jpegs,
    markdown_table,
    run,
    timed_encode,
)

pytestmark = needs_jxl_tools


def test_one_photo_each_way_ours_beside_the_anchor(shared_data_dir, google_model_path):
    models = {"ours": "default", "anchor": str(google_model_path)}
    rows = run(shared_data_dir, kodak=1, large=1, large_hw=(600, 900), models=models)
    assert [(r["collection"], r["model"]) for r in rows] == [
        ("Kodak PNG 768x512", "ours"),
        ("Kodak PNG 768x512", "anchor"),
        ("JPEG 900x600 (quality 90)", "ours"),
        ("JPEG 900x600 (quality 90)", "anchor"),
    ]
    for row in rows:
        assert row["images"] == 1 and row["wall"] > 0 and row["cpu"] > 0 and row["peak_mb"] > 10
    table = markdown_table(rows, "anchor").splitlines()
    assert len(table) == 2 + 4
    anchor_rows = [line for line in table if "| anchor |" in line]
    assert all(line.endswith("| 1.00x | 1.00x | 1.00x |") for line in anchor_rows)


def test_large_jpegs_are_the_asked_size_portrait_turned(shared_data_dir, tmp_path):
    from PIL import Image

    photos = kodak_photos(shared_data_dir, 24)
    portrait = next(i for i, p in enumerate(photos) if Image.open(p).height > Image.open(p).width)
    made = large_jpegs(photos, portrait + 1, (60, 90), tmp_path)
    assert Image.open(made[0]).size == (90, 60)
    assert Image.open(made[portrait]).size == (60, 90)


def test_a_failed_encode_is_an_error_not_a_figure(tmp_path):
    images = tmp_path / "in"
    images.mkdir()
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    with pytest.raises(RuntimeError, match="failed"):
        timed_encode(images, tmp_path / "out", "default")
