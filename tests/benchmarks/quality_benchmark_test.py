"""benchmarks/progressive/quality_run.py end to end on one real OSIE photo and its fixations.

Real cjxl/djxl, the bundled model as "ours", real eye fixations; the large class is the same
photo upscaled (its fixations scaled with it). Checks the curves (0 before anything is
drawn, 1 at the whole file), that the truth centre's file shows the looked-at region at
least as early as scanline's where the order matters (the upscaled image), and the table.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import needs_jxl_tools
from small_ground_truth import one_photo_build, run_quality_benchmark  # noqa: E402

pytestmark = [
    pytest.mark.slow,  # ~30 s on a 2-core CPU
    needs_jxl_tools,
]


def test_quality_benchmark_one_image(shared_data_dir, tmp_path):
    gt = one_photo_build(shared_data_dir, tmp_path / "gt", "1001")
    run, out = run_quality_benchmark(
        gt,
        tmp_path,
        "--per_class=1",
        "--large_mp=2",
        "--strategies=scanline,ours,truth",
        "--budgets=0.05,0.2,0.4,0.7,1.0",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    saved = json.loads((out / "results_test.json").read_text())
    results = saved["results"]
    assert {(r["cls"], r["strategy"]) for r in results} == {
        (c, s) for c in ("native", "large") for s in ("scanline", "ours", "truth")
    }
    for r in results:
        assert r["values"]["ssim_looked"][-1] == 1.0  # the whole file is the final image
        assert all(0.0 <= v <= 1.0 for v in r["values"]["ssim_looked"])
    large = {r["strategy"]: r for r in results if r["cls"] == "large"}
    assert large["truth"]["upscaled"] == pytest.approx(np.sqrt(2e6 / 480000), abs=0.01)
    assert large["truth"]["groups"] > 24
    summary = saved["summary"]["large"]
    assert summary["truth"]["gain"] >= 0.0, summary
    table = (out / "table_test.md").read_text()
    assert "| truth |" in table and "upscaled (Lanczos)" in table
