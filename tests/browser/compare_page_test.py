"""``attention-center compare`` end to end, and its page in a real headless Chromium.

Real Kodak and OSIE photos, real cjxl/djxl, the bundled model (Google's when present),
Debian's Chromium driven by Playwright (no browser download). Checks that every picture on
the page decodes at the source's size, that the partial .jxl files are what Chromium shows
and that a partial file renders (painted, and not yet the final image), that the PNG
fallback takes over when JPEG XL is switched off, that the human fixations toggle shows
them, and saves a screenshot (``ATTENTION_CENTER_UPDATE_DOCS=1`` also writes it to
``docs/img/compare_page.png``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO  # noqa: E402
from PIL import Image
from small_ground_truth import one_photo_build  # noqa: E402

playwright_api = pytest.importorskip("playwright.sync_api")
if str(REPO) not in sys.path:  # benchmarks/ is imported from the repository root
    sys.path.insert(0, str(REPO))

from conftest import needs_jxl_tools

from benchmarks.browser.chromium import chromium_path, launch  # noqa: E402

pytestmark = [
    pytest.mark.skipif(
        chromium_path() is None, reason="Chromium not installed (apt-get install chromium)"
    ),
    needs_jxl_tools,
]


def _compare(argv) -> int:
    from attention_center.cli.main import main

    return main(["attention-center", "compare", *argv])


def _osie_gt(shared_data_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A one-row ground-truth build for OSIE 1001.jpg: its real first fixations."""
    gt = one_photo_build(shared_data_dir, tmp_path / "gt", "1001")
    return shared_data_dir / "osie" / "data" / "stimuli" / "1001.jpg", gt


def _images(page) -> list[dict]:
    return page.evaluate("""() => Array.from(document.images).map(i => ({
        id: i.id, kind: i.dataset.kind, complete: i.complete, w: i.naturalWidth,
        h: i.naturalHeight, src: i.currentSrc.slice(0, 16)}))""")


PIXEL_STATS = """([a, b]) => {
    const get = id => { const i = document.getElementById(id);
        const c = document.createElement('canvas'); c.width = i.naturalWidth;
        c.height = i.naturalHeight; const x = c.getContext('2d'); x.drawImage(i, 0, 0);
        return x.getImageData(0, 0, c.width, c.height).data; };
    const p = get(a), q = get(b);
    let minAlpha = 255, sum = 0, sum2 = 0, diff = 0, n = 0;
    for (let k = 0; k < p.length; k += 4) {
        minAlpha = Math.min(minAlpha, p[k + 3]);
        for (let c = 0; c < 3; c++) { const v = p[k + c]; sum += v; sum2 += v * v;
            diff += Math.abs(v - q[k + c]); n++; } }
    const mean = sum / n;
    return {minAlpha, std: Math.sqrt(sum2 / n - mean * mean), meanAbsDiff: diff / n,
            mean}; }"""


def _captions_match_pixels(page, summary: dict, expect_preview: bool) -> None:
    """Where djxl decodes nothing, the caption says whether Chromium paints the partial
    file, and Chromium's pixels agree (the --progressive_dc preview for PNG inputs; nothing
    for JPEG inputs, whose lossless transcoding ignores the flag)."""
    empty = 0
    for b in range(len(summary["budgets"])):
        for k, column in enumerate(summary["columns"]):
            if column["cells"][b]["drawn"]:
                continue
            empty += 1
            caption = page.locator(f"#img-{b}-{k}").locator("xpath=../../..//figcaption")
            text = caption.inner_text()
            assert "djxl decodes nothing from these bytes yet" in text
            painted = page.evaluate(PIXEL_STATS, [f"img-{b}-{k}", "img-full"])["minAlpha"] > 0
            assert painted == expect_preview, (text, painted)
            expected = "draws them itself" if painted else "draws nothing from them either"
            assert expected in text, text
    assert empty > 0  # the first budget: before djxl's first paint


def test_compare_page_in_chromium(shared_data_dir, tmp_path):
    kodak = shared_data_dir / "kodak" / "kodim23.png"
    out = tmp_path / "cmp"
    assert _compare([str(kodak), "--out", str(out)]) == 0
    page_path = out / "index.html"
    summary = json.loads((out / "compare.json").read_text())
    keys = [c["key"] for c in summary["columns"]]
    assert keys[0] == "scanline" and keys[-1] == "ours"
    assert summary["human_fixations"] is None
    # A page with no external resources: every src is inline.
    text = page_path.read_text()
    assert "http://" not in text.replace("http://www.w3.org", "") and 'src="data:' in text

    osie, gt = _osie_gt(shared_data_dir, tmp_path)
    out_osie = tmp_path / "cmp_osie"
    assert (
        _compare([str(osie), "--out", str(out_osie), "--gt_dir", str(gt), "--budgets", "10,25,40"])
        == 0
    )
    osie_summary = json.loads((out_osie / "compare.json").read_text())
    assert osie_summary["human_fixations"] > 5
    # With fixations: the human-weighted SSIM curve, from 0 (nothing drawn) to 1 (final).
    for column in osie_summary["columns"]:
        curve = column["human_ssim_curve"]
        assert curve[0] == 0.0 and curve[-1] == 1.0 and 0 < column["human_ssim_auc"] < 1
    assert "Where people look, against bytes" in (out_osie / "index.html").read_text()
    # Our column says where it was encoded and, if not at the prediction, why.
    ours = summary["columns"][-1]
    assert ours["center_note"].startswith("encoded at")
    if ours["predicted"] is not None:
        assert "not at our predicted centre" in ours["center_note"]
        assert "any point of it gives the same file" in ours["center_note"]

    with playwright_api.sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(page_path.as_uri(), wait_until="load")
        page.wait_for_timeout(300)
        images = _images(page)
        partial = [i for i in images if i["kind"] == "partial"]
        assert len(partial) == 3 * len(keys)
        for image in images:  # every picture decodes at the source's size
            assert image["complete"] and (image["w"], image["h"]) == (768, 512), image
        assert all(i["src"].startswith("data:image/jxl") for i in partial)  # the .jxl itself
        assert "partial .jxl files themselves" in page.locator("#shown").inner_text()
        _captions_match_pixels(page, summary, expect_preview=True)  # a PNG: the preview
        # A partial file renders: painted, and not yet the whole file.
        stats = page.evaluate(PIXEL_STATS, ["img-2-0", "img-full"])
        assert stats["minAlpha"] == 255 and stats["std"] > 10, stats  # drawn everywhere
        assert stats["meanAbsDiff"] > 0.5, stats  # ... and not yet the final image
        reference = np.asarray(Image.open(kodak).convert("RGB"), np.float64)
        full_stats = page.evaluate(PIXEL_STATS, ["img-full", "img-full"])
        assert abs(full_stats["mean"] - reference.mean()) < 2  # the whole file: the photo

        # The fixations toggle shows the human first fixations.
        page.goto((out_osie / "index.html").as_uri(), wait_until="load")
        fixations = page.locator("figure .fixations").first
        assert not fixations.is_visible()
        page.check("#show-fixations")
        assert fixations.is_visible()
        _captions_match_pixels(page, osie_summary, expect_preview=False)  # a JPEG: none
        assert all((i["w"], i["h"]) == (800, 600) for i in _images(page))
        shot = tmp_path / "compare_page.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 50_000
        if os.environ.get("ATTENTION_CENTER_UPDATE_DOCS") == "1":
            shutil.copy(shot, REPO / "docs" / "img" / "compare_page.png")
        browser.close()

        # Without JPEG XL in the browser, the PNG renders by djxl take over.
        browser = launch(playwright, ["--disable-features=JXLImageFormat"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(page_path.as_uri(), wait_until="load")
        page.wait_for_timeout(300)
        images = _images(page)
        assert all(i["src"].startswith("data:image/png") for i in images)
        assert all((i["w"], i["h"]) == (768, 512) for i in images)
        assert "PNG renders" in page.locator("#shown").inner_text()
        assert page.locator(".browser-note").first.inner_text() == ""  # djxl's words only
        browser.close()
