"""The progressive-loading benchmark (benchmarks/progressive/run.py) end to end, on one real image.

Real cjxl/djxl, a real OSIE photo with its real eye fixations, a real Keras
model as "ours" and Google's model as the anchor (when present). Checks the
figures are bracketed by the measured curve, the side-by-side line, that mouse-
only images are left out, the group sizes read from the files (the order model holds,
the oracle is no worse than any strategy), and that a second run takes everything from
the cache. Also the benchmark's modules on their own (distance shares, record selection).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    REPO,  # noqa: E402
    needs_jxl_tools,
)

import attention_center

SCRIPT = REPO / "benchmarks" / "progressive" / "run.py"

pytestmark = [
    pytest.mark.slow,  # two runs of the benchmark script, ~40 s on a 2-core CPU
    needs_jxl_tools,
    pytest.mark.skipif(not SCRIPT.is_file(), reason=f"{SCRIPT} not present"),
]


def centroid_model(path: Path) -> Path:
    """A real .keras model whose centre is the brightness centroid of the frame."""
    import keras

    image = keras.Input((120, 160, 3), name="image")
    conv = keras.layers.Conv2D(1, 1, use_bias=False)
    weight_map = conv(image)
    conv.set_weights([np.full((1, 1, 3, 1), 1.0 / 3.0, np.float32)])
    center = attention_center.GravityCenter()(weight_map)
    keras.Model(image, {"center": center, "weight_map": weight_map}).save(path)
    return path


def osie_row(shared_data_dir: Path, index: int = 0) -> dict:
    """A ground-truth row for one OSIE image: centre = mean of the subjects' second fixations."""
    scipy_io = pytest.importorskip("scipy.io")
    mat = scipy_io.loadmat(
        shared_data_dir / "osie" / "data" / "eye" / "fixations.mat",
        squeeze_me=True,
        struct_as_record=False,
    )["fixations"]
    entry = mat[index]
    # Second fixation of each subject (the first is the pre-stimulus centre), 1-based -> 0-based.
    points = [(s.fix_x[1] - 1, s.fix_y[1] - 1) for s in entry.subjects if np.size(s.fix_x) > 1]
    return {
        "image_id": f"osie/{Path(entry.img).stem}",
        "dataset": "osie",
        "source": "osie_eye",
        "modality": "eye",
        "split": "test",
        "data_dir": str(shared_data_dir),
        "image_path": f"osie/data/stimuli/{entry.img}",
        "center": np.mean(points, axis=0).tolist(),
        "original_hw": [600, 800],
        "frame_path": "frames/x.jpg",
    }


def test_benchmark_end_to_end_and_resumes(shared_data_dir, tmp_path):
    gt = tmp_path / "gt"
    gt.mkdir()
    eye = osie_row(shared_data_dir)
    mouse_only = {**osie_row(shared_data_dir, 1), "source": "osie_mouse_lab", "modality": "mouse"}
    (gt / "index.jsonl").write_text(json.dumps(eye) + "\n" + json.dumps(mouse_only) + "\n")
    model = centroid_model(tmp_path / "ours.keras")
    google = (
        Path(os.environ.get("ATTENTION_CENTER_SHARED", REPO.parent / "shared"))
        / "anchors"
        / "google_center.tflite"
    )
    strategies = ["default", "middle", "ours", "chosen", "truth", "oracle"] + (
        ["google"] if google.is_file() else []
    )
    out, cache = tmp_path / "bench", tmp_path / "cache"
    command = [
        sys.executable,
        str(SCRIPT),
        f"--gt_dir={gt}",
        f"--out_dir={out}",
        f"--cache_dir={cache}",
        "--max_images=1",
        "--jobs=2",
        f"--strategies={','.join(strategies)}",
        f"--model={model}",
        f"--google_model={google}",
        "--grid_step=0.2",
        "--refine_steps=3",
        "--groups_tolerance=0.01",
        "--nodocs",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}

    first = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert results["meta"]["left_out_source"] == 1  # the mouse-only image
    [image] = results["images"]
    assert image["image_id"] == eye["image_id"]
    assert set(image["results"]) == set(strategies)
    for result in image["results"].values():
        assert result["bytes"] > 10_000 and set(result["regions"]) == {"256", "64"}
        for region in result["regions"].values():
            # The figure is bracketed by the grid: the first grid prefix at >= 50 dB (None =
            # identical to the full decode) and the one before it.
            grid, curve, needed = result["grid"], region["psnr"], region["fraction_needed"]
            first_ok = next(k for k, v in enumerate(curve) if v is None or v >= 50)
            assert (grid[first_ok - 1] if first_ok else 0) < needed <= grid[first_ok] + 1e-4
        # The small square inside the big one is final no later than it.
        assert (
            result["regions"]["64"]["fraction_needed"]
            <= result["regions"]["256"]["fraction_needed"]
        )
    # The group order changes when the region sharpens.
    assert (
        image["results"]["default"]["regions"]["256"]["psnr"]
        != image["results"]["middle"]["regions"]["256"]["psnr"]
    )
    # Our centre is the model's, on the image.
    x, y = image["predicted"]["ours"]
    assert 0 <= x <= 799 and 0 <= y <= 599
    table = (out / "table.md").read_text()
    assert "| truth" in table and "| oracle" in table
    # Group sizes read from two real files: the order model held on both, 12 groups timed.
    groups = image["groups"]
    assert groups["orders_agree"] == [True, True] and groups["groups"] == 12
    assert sum(groups["section_bytes"]) < groups["file_bytes_scanline"]
    # The oracle is a bound: no strategy makes the region final earlier (measured, to the
    # bisection's resolution), and the group model predicted its figure closely.
    oracle = image["results"]["oracle"]["regions"]["256"]["fraction_needed"]
    for strategy, result in image["results"].items():
        assert oracle <= result["regions"]["256"]["fraction_needed"] + 0.02, strategy
    assert results["meta"]["model_check"]["oracle_mean_abs"] < 0.03
    assert image["chosen_center"] is not None
    summary = results["summary"]["all"]
    for side in ("256", "64"):
        line = re.search(rf"^\s*{side}x{side}\s+(\S+)\s+(\S+)\s+(\S+)", first.stdout, re.M)
        assert line, first.stdout[-2000:]
        assert line.group(1) == f"{summary['ours'][side]['mean']:.1%}"
        if google.is_file():
            assert line.group(2) == f"{summary['google'][side]['mean']:.1%}"
            ratio = summary["ours"][side]["mean"] / summary["google"][side]["mean"]
            assert float(line.group(3)) == pytest.approx(ratio, abs=1e-3)

    # Resume: everything comes from the cache, with the same figures.
    again = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"0 encodings to measure, {len(strategies)} cached" in again.stdout
    assert "all 1 centres cached" in again.stdout
    rerun = json.loads((out / "results.json").read_text())
    assert rerun["summary"]["all"] == summary
    assert not list(out.glob(".*")) and not list(cache.rglob("*.ac-tmp*"))


def test_distance_shares():
    from benchmarks.progressive.report import summarize

    def image(values):
        return {
            "source": "s",
            "results": {
                name: {"bytes": 1000, "regions": {"256": {"fraction_needed": v}}}
                for name, v in values.items()
            },
        }

    images = [
        image({"default": 0.8, "ours": 0.7, "truth": 0.6, "oracle": 0.4}),
        image({"default": 0.8, "ours": 0.7, "truth": 0.6, "oracle": 0.4}),
    ]
    summary = summarize(images, ["default", "ours", "truth", "oracle", "google"], [256])
    ours = summary["all"]["ours"]["256"]
    assert ours["share_truth"] == pytest.approx(0.5) and ours["share_oracle"] == pytest.approx(0.25)
    assert summary["all"]["google"] is None and summary["s"]["images"] == 2


def test_select_images_one_per_image_and_unseen_sets(tmp_path):
    from benchmarks.progressive.inputs import select_images

    def row(image_id, source, dataset, split, hw=(600, 800)):
        return {
            "image_id": image_id,
            "source": source,
            "dataset": dataset,
            "split": split,
            "modality": "eye",
            "data_dir": "/data",
            "image_path": f"{image_id}.jpg",
            "original_hw": list(hw),
            "center": [1, 1],
            "frame_path": "f.jpg",
            "fallback": None,
        }

    rows = [
        row("osie/1", "osie_eye", "osie", "test"),
        row("osie/1", "scene_eye", "osie", "test"),
        row("osie/2", "osie_eye", "osie", "train"),  # trained on: left out
        row("osie/3", "osie_eye", "osie", "test", hw=(200, 200)),  # one group
        row("fiwi/a", "fiwi_eye", "fiwi", "train"),
        row("fiwi/b", "fiwi_eye", "fiwi", "val"),
        row("fiwi/c", "fiwi_mouse", "fiwi", "test"),
    ]
    (tmp_path / "index.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    chosen, counts = select_images(
        tmp_path,
        "test",
        ["osie_eye", "scene_eye", "fiwi_eye"],
        min_groups=2,
        max_unseen_per_source=1,
    )
    assert [r["source"] for r in chosen if r["image_id"] == "osie/1"] == ["osie_eye"]
    assert {r["source"] for r in chosen} == {"osie_eye", "fiwi_eye"} and len(chosen) == 2
    assert counts["small"] == 1 and counts["without_source"] == 1  # fiwi/c: mouse only
    assert counts["by_source"] == {"osie_eye": 1, "fiwi_eye": 2}
