"""Choosing the centre-choice settings on the validation split, with the group model.

For each validation image (never the test split) the bytes until the 256x256 region
around the human centre is final are computed, not measured, from the group sizes read
from two real files (:mod:`benchmarks.progressive.groups`; on the test split this model
is within a small fraction of a percent of the djxl measurement, see ``model_check`` in
``results.json``), for: scanline, our predicted centre, the human centre, the oracle,
and the centre :func:`attention_center.jxl.center_choice.choose_center` picks from (a)
our weighting map to a power ``sharpness``, (b) a Gaussian of spread ``sigma`` around our
centre (what a model without a map, such as the bundled ``.tflite``, allows), each with
group sizes estimated by area, and (c) the map with the measured sizes (what a two-pass
encoder could do). Writes ``OUT/tune.json`` and ``OUT/tune.md``.

    python benchmarks/progressive/tune.py --gt_dir /work/gt --split val
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from attention_center.core.atomic import atomic_write_json, atomic_write_text  # noqa: E402
from attention_center.core.frames import MODEL_FRAME_HW, frame_transform  # noqa: E402
from attention_center.jxl.center_choice import (  # noqa: E402
    attention_points,
    choose_center,
    final_bytes,
    gaussian_points,
    region_group_masks,
)
from attention_center.jxl.encoder import encoder_center  # noqa: E402
from attention_center.jxl.group_order import group_order  # noqa: E402
from benchmarks.progressive.cache import Cache  # noqa: E402
from benchmarks.progressive.groups import groups_for_images  # noqa: E402
from benchmarks.progressive.inputs import select_images  # noqa: E402
from benchmarks.progressive.pool import run_pool  # noqa: E402
from benchmarks.progressive.predictions import predict_cached, resolve_our_model  # noqa: E402
from benchmarks.progressive.strategies import oracle_choice  # noqa: E402

flags.DEFINE_string("gt_dir", str(REPO.parent / "gt"), "Ground-truth build folder.")
flags.DEFINE_string("split", "val", "Split to tune on (not the test split).")
flags.DEFINE_list("sources", ["osie_eye", "scene_eye"], "Sources, in order of preference.")
flags.DEFINE_integer("max_images", 0, "Images to use (0 = all).", lower_bound=0)
flags.DEFINE_string("cache_dir", str(REPO / "benchmarks" / "progressive" / "cache"), "Cache.")
flags.DEFINE_string("out_dir", str(REPO / "benchmarks" / "progressive" / "results"), "Output.")
flags.DEFINE_string("model", None, "Our model (default: the bundled .keras).")
flags.DEFINE_list("sharpness", ["1", "2", "4", "8"], "Exponents on the weighting map.")
flags.DEFINE_list(
    "sigma",
    ["0.003", "0.015", "0.03", "0.06", "0.09", "0.12", "0.18"],
    "Gaussian spreads (fraction of the diagonal).",
)
flags.DEFINE_integer("jobs", 2, "Images analysed at once.", lower_bound=1)
flags.DEFINE_float("groups_tolerance", 0.002, "Group arrivals to within this fraction.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    records, counts = select_images(
        FLAGS.gt_dir,
        FLAGS.split,
        FLAGS.sources,
        FLAGS.max_images,
        2,
        training_datasets=("osie", "scene", "salicon"),
    )
    records = [r for r in records if r["split"] == FLAGS.split]
    print(f"{len(records)} {FLAGS.split} images ({counts['by_source']})", flush=True)
    cache = Cache(FLAGS.cache_dir)
    version = (
        subprocess.run(["cjxl", "--version"], capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[0]
    )
    model, _ = resolve_our_model(FLAGS.model, REPO)
    ours = predict_cached(
        model,
        [r["image_abspath"] for r in records],
        "ours",
        cache,
        keep_maps=True,
        threads=FLAGS.jobs,
    )
    work = Path(tempfile.mkdtemp(prefix="tune_"))
    try:
        groups = groups_for_images(
            records, cache, [], version, FLAGS.jobs, work, run_pool, FLAGS.groups_tolerance
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    names = (
        ["scanline", "ours", "truth", "oracle"]
        + [f"map^{s}" for s in FLAGS.sharpness]
        + [f"gauss {s}" for s in FLAGS.sigma]
        + [f"map^{s}, measured sizes" for s in FLAGS.sharpness]
    )
    values = {name: [] for name in names}
    kept_model = {name: 0 for name in names}
    used = 0
    for row, group in zip(records, groups):
        center = ours.center(row["image_abspath"])
        weight_map = ours.weight_map(row["image_abspath"])
        if "error" in group or center is None or weight_map is None:
            continue
        used += 1
        hw = tuple(row["original_hw"])
        sizes = np.asarray(group["section_bytes"], np.float64)
        total = float(group["file_bytes_centre_first"])
        masks = region_group_masks(np.asarray([row["center"]]), hw, 256)

        def cost(c):
            return (
                float(final_bytes(group_order(hw, c), sizes, masks, group["base_centre_first"])[0])  # noqa: B023 (used in this iteration)
                / total  # noqa: B023
            )

        model_center = encoder_center(center, hw, 1)
        oracle = oracle_choice(row["center"], hw, group)
        values["scanline"].append(oracle["scanline_bytes"] / total)
        values["ours"].append(cost(model_center))
        values["truth"].append(cost(encoder_center(row["center"], hw, 1)))
        values["oracle"].append(oracle["predicted_bytes"] / total)
        transform = frame_transform(hw, MODEL_FRAME_HW)
        for s in FLAGS.sharpness:
            points, weights = attention_points(weight_map, transform, 1, float(s))
            for name, group_bytes in ((f"map^{s}", None), (f"map^{s}, measured sizes", sizes)):
                choice = choose_center(points, weights, hw, model_center, group_bytes)
                values[name].append(cost(choice.center))
                kept_model[name] += choice.kept_model_center
        for s in FLAGS.sigma:
            points, weights = gaussian_points(model_center, hw, float(s))
            choice = choose_center(points, weights, hw, model_center)
            values[f"gauss {s}"].append(cost(choice.center))
            kept_model[f"gauss {s}"] += choice.kept_model_center
    base, truth = np.mean(values["scanline"]), np.mean(values["truth"])
    oracle = np.mean(values["oracle"])
    lines = [
        f"Group model on {used} {FLAGS.split} images of {FLAGS.gt_dir} "
        f"({', '.join(FLAGS.sources)}); 256x256 region around the human centre.",
        "",
        "| centre | mean bytes until final | share of scanline->truth | "
        "share of scanline->oracle | model centre kept |",
        "|---|---:|---:|---:|---:|",
    ]
    summary = {}
    for name in names:
        mean = float(np.mean(values[name]))
        summary[name] = {
            "mean": mean,
            "share_truth": (base - mean) / (base - truth),
            "share_oracle": (base - mean) / (base - oracle),
            "kept_model_center": kept_model[name],
        }
        lines.append(
            f"| {name} | {mean:.1%} | {summary[name]['share_truth']:.0%} | "
            f"{summary[name]['share_oracle']:.0%} | {kept_model[name]} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(FLAGS.out_dir)
    atomic_write_json(
        out / "tune.json",
        {"images": used, "split": FLAGS.split, "summary": summary, "values": values},
    )
    atomic_write_text(out / "tune.md", text)


if __name__ == "__main__":
    app.run(main)
