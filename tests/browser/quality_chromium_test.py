"""The quality-over-bytes measure of what headless Chromium paints (issue 23, part 4).

Real OSIE photo and its real first fixations, real cjxl/djxl, the real Chromium driven by
Playwright, through ``benchmarks/progressive/quality_run.py --decoder both``: the photo's
"large" version is a PNG (upscaled), so encode's default ``--progressive_dc=1`` applies and
Chromium paints a preview at 2 % of the file where djxl 0.7 draws nothing; the whole file
is Chromium's final paint, which must be the picture djxl decodes; the "broken image" icon
Chromium shows before the header arrives is not counted as a paint.
"""

from __future__ import annotations

import json
import sys

import pytest
from conftest import REPO  # noqa: E402
from small_ground_truth import one_photo_build, run_quality_benchmark  # noqa: E402

pytest.importorskip("playwright.sync_api")
if str(REPO) not in sys.path:  # benchmarks/ is imported from the repository root
    sys.path.insert(0, str(REPO))

from conftest import needs_jxl_tools

from benchmarks.browser.chromium import chromium_path  # noqa: E402

pytestmark = [
    pytest.mark.skipif(chromium_path() is None, reason="Chromium not installed"),
    needs_jxl_tools,
]


def test_chromium_paints_the_progressive_dc_preview_djxl_does_not(shared_data_dir, tmp_path):
    gt = one_photo_build(shared_data_dir, tmp_path / "gt", "1001")
    run, out = run_quality_benchmark(
        gt,
        tmp_path,
        "--classes=large",
        "--per_class=1",
        "--large_mp=1",
        "--strategies=scanline",
        "--budgets=0.02,1.0",
        "--decoder=both",
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert not (out / "results_test.json").exists()  # the djxl-only results are left alone
    saved = json.loads((out / "results_test_chromium.json").read_text())
    rows = {r["decoder"]: r for r in saved["results"]}
    assert set(rows) == {"djxl", "chromium"}
    djxl, chromium = rows["djxl"]["values"], rows["chromium"]["values"]
    assert rows["chromium"]["upscaled"] and rows["chromium"]["file_bytes"] > 0
    # 2 % of the file: djxl 0.7 draws nothing; Chromium paints the blurry preview.
    assert djxl["ssim_looked"][0] == 0.0
    assert 0.3 < chromium["ssim_looked"][0] < 0.99, chromium
    assert 0.0 < chromium["ssim_whole"][0] < 0.99, chromium
    # The whole file is the final paint in both.
    assert djxl["ssim_looked"][1] == chromium["ssim_looked"][1] == 1.0
    table = (out / "table_test_chromium.md").read_text()
    assert "Decoded by headless Chromium" in table and "Decoded by djxl" in table


def test_chromium_final_paint_is_the_picture_djxl_decodes(shared_data_dir, tmp_path):
    from PIL import Image

    from attention_center.jxl.defaults import with_default_flags
    from attention_center.jxl.partial import PrefixDecoder, psnr
    from attention_center.jxl.quality import fixation_density, quality_of
    from benchmarks.browser.quality import BrowserScorer
    from benchmarks.progressive.measure import encode

    source = shared_data_dir / "osie" / "data" / "stimuli" / "1001.jpg"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    png = tmp_path / "1001.png"
    with Image.open(source) as image:
        image.convert("RGB").save(png)  # not a JPEG: cjxl honours --progressive_dc
    data = encode(str(png), tmp_path / "1001.jxl", with_default_flags([]))
    jpeg = encode(str(source), tmp_path / "1001_jpeg.jxl", with_default_flags([]))
    density = fixation_density([[400.0, 300.0]], (600, 800))
    with BrowserScorer() as scorer:
        curve, final = scorer.curve("1001.jxl", data, density, [0.02, 1.0])
        # A JPEG is transcoded losslessly (no --progressive_dc preview): at 1 % Chromium
        # shows only its "broken image" icon, which is not the image.
        transcoded, _ = scorer.curve("1001_jpeg.jxl", jpeg, density, [0.01, 1.0])
    assert transcoded.values["ssim_looked"] == [0.0, 1.0]
    with PrefixDecoder(data, work_dir=tmp_path / "d") as djxl:
        assert final.shape == djxl.full.shape == (600, 800, 3)
        assert psnr(final, djxl.full) > 40.0  # the same picture (to colour rounding)
        assert quality_of(djxl.full, final, density)["ssim_looked"] > 0.98
    assert 0.3 < curve.values["ssim_looked"][0] < 0.99
    assert curve.values["ssim_looked"][1] == 1.0
