"""attention_center.jxl.quality: human-weighted quality over bytes, on real cjxl/djxl files."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from conftest import needs_jxl_tools
from PIL import Image

from attention_center.jxl.quality import (
    PSNR_CAP,
    area_under_curve,
    fixation_density,
    quality_curve,
    quality_of,
    value_at,
)


def test_density_is_normalised_and_peaks_at_the_fixations():
    density = fixation_density([(700, 450), (702, 452), (5000, 5)], (512, 768))
    assert density.shape == (512, 768) and density.sum() == pytest.approx(1.0)
    y, x = np.unravel_index(np.argmax(density), density.shape)
    assert abs(x - 701) <= 2 and abs(y - 451) <= 2
    assert density[:100, :100].sum() < 1e-6  # far from every fixation
    uniform = fixation_density([], (10, 20))
    assert np.allclose(uniform, 1 / 200)


def test_quality_of_identical_nothing_and_damaged():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    density = fixation_density([(20, 20)], (64, 96))
    assert quality_of(image.copy(), image, density)["ssim_looked"] == 1.0
    assert quality_of(image.copy(), image, density)["psnr_whole"] == PSNR_CAP
    assert set(quality_of(None, image, density).values()) == {0.0}
    damaged = image.copy()
    damaged[:32, :48] = 128  # where people look
    q = quality_of(damaged, image, density)
    assert q["ssim_looked"] < q["ssim_whole"] < 1.0
    assert q["psnr_looked"] < q["psnr_whole"]


def test_area_and_fixed_budgets():
    assert area_under_curve([0.5, 1.0], [1.0, 1.0]) == pytest.approx(0.75)
    assert area_under_curve([0.25, 0.5], [0.0, 1.0]) == pytest.approx(0.125 + 0.5)
    assert value_at([0.1, 0.2], [0.3, 0.6], 0.15) == 0.3
    assert value_at([0.1, 0.2], [0.3, 0.6], 0.05) == 0.0


@needs_jxl_tools
def test_centre_first_at_the_fixations_shows_them_sooner_than_scanline(kodak_paths, tmp_path):
    """kodim23 (768x512): people 'look' at the bottom right; scanline sends that group last,
    centre-first from there first. The looked-at curve says so; the whole image barely moves."""
    source = next(p for p in kodak_paths if p.name == "kodim23.png")
    assert Image.open(source).size == (768, 512)
    density = fixation_density([(650, 420), (690, 400), (640, 450)], (512, 768))
    curves = {}
    for name, flags in (
        ("scanline", []),
        ("centre", ["--group_order", "1", "--center_x", "660", "--center_y", "430"]),
    ):
        out = tmp_path / f"{name}.jxl"
        subprocess.run(
            ["cjxl", str(source), str(out), "--quiet", "--num_threads", "1", *flags],
            check=True,
            capture_output=True,
        )
        curves[name] = quality_curve(out.read_bytes(), density, work_dir=tmp_path / name)
    for curve in curves.values():
        assert curve.values["ssim_looked"][-1] == 1.0
        assert curve.values["ssim_looked"][0] == 0.0  # 2%: djxl draws nothing yet
    gain = curves["centre"].area() - curves["scanline"].area()
    assert gain > 0.05, {k: c.values["ssim_looked"] for k, c in curves.items()}
    whole = curves["centre"].area("ssim_whole") - curves["scanline"].area("ssim_whole")
    assert abs(whole) < gain
