"""The browser benchmark's machinery on a real file: a server that stops after N bytes,
headless Chromium's screenshots, and the searches, checked against djxl on the same bytes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO  # noqa: E402

playwright_api = pytest.importorskip("playwright.sync_api")
if str(REPO) not in sys.path:  # benchmarks/ is imported from the repository root
    sys.path.insert(0, str(REPO))

from conftest import needs_jxl_tools

from attention_center.jxl.center_choice import region_box  # noqa: E402
from attention_center.jxl.group_order import group_order  # noqa: E402
from attention_center.jxl.partial import PrefixDecoder, group_arrivals  # noqa: E402
from benchmarks.browser import search  # noqa: E402
from benchmarks.browser.chromium import chromium_path, launch  # noqa: E402
from benchmarks.browser.render import Renderer, painted  # noqa: E402
from benchmarks.browser.server import BACKGROUND, PartialServer  # noqa: E402

pytestmark = [
    pytest.mark.skipif(chromium_path() is None, reason="Chromium not installed"),
    needs_jxl_tools,
]


def test_browser_draws_partial_files_like_djxl(kodak_paths, tmp_path):
    source = next(p for p in kodak_paths if p.name == "kodim23.png")
    out = tmp_path / "k.jxl"
    subprocess.run(
        [
            "cjxl",
            str(source),
            str(out),
            "--quiet",
            "--num_threads",
            "1",
            "--group_order",
            "1",
            "--center_x",
            "300",
            "--center_y",
            "200",
        ],
        check=True,
        capture_output=True,
    )
    data = out.read_bytes()
    box = region_box((256, 128), (512, 768), 256)  # half in group 0, half in 1: the first two
    tolerance = len(data) // 60
    arrivals = group_arrivals(data, work_dir=tmp_path / "a", tolerance=tolerance)
    assert arrivals.order.tolist() == group_order((512, 768), (300, 200)).tolist()
    with playwright_api.sync_playwright() as playwright, PartialServer(hold_s=10) as server:
        browser = launch(playwright)
        renderer = Renderer(browser, server)
        server.add("k.jxl", data)
        final = renderer.render("k.jxl", len(data), (512, 768))
        assert renderer.natural_size() == (512, 768)
        assert not painted(renderer.render("k.jxl", 200, (512, 768)))  # header only
        assert np.all(renderer.render("k.jxl", 200, (512, 768)) == BACKGROUND)
        # A download that stalls after N bytes shows the same as one that ends there.
        stalled = Renderer(browser, server, hold=True, hold_wait_s=1.5)
        n_bytes = int(arrivals.final_bytes[1]) + 100
        assert np.array_equal(
            stalled.render("k.jxl", n_bytes, (512, 768)),
            renderer.render("k.jxl", n_bytes, (512, 768)),
        )
        stalled.close()
        paint = search.first_paint(
            lambda n: renderer.render("k.jxl", n, (512, 768)), len(data), tolerance, painted
        )
        region = search.region_final(
            lambda n: renderer.render("k.jxl", n, (512, 768)),
            len(data),
            tolerance,
            final,
            box,
            50.0,
        )
        browser.close()
    with PrefixDecoder(data, work_dir=tmp_path / "d") as djxl:
        djxl_paint = search.first_paint(djxl, len(data), tolerance)
        djxl_region = search.region_final(djxl, len(data), tolerance, djxl.full, box, 50.0)
    # The region needs groups 1 and 0, the first two in the file: final once group 0 has
    # arrived, in the browser as in djxl (to the search's tolerance and a few percent).
    assert abs(region - djxl_region) <= 0.05 * len(data), (region, djxl_region)
    needed = max(arrivals.final_bytes[0], arrivals.final_bytes[1])
    assert abs(djxl_region - needed) <= 2 * tolerance, (djxl_region, needed)
    assert region < arrivals.final_bytes[2]  # before the third group
    assert 0 < paint < region and abs(paint - djxl_paint) <= 0.05 * len(data)
