"""What people see first: bytes of progressive JPEG XL before the looked-at region is final.

For each held-out image with human data (one record per image, sources in order of
preference; :mod:`benchmarks.progressive.inputs`), encode it with cjxl under each
group-order strategy (:mod:`benchmarks.progressive.strategies`: scanline, middle,
Google's centre, ours, the centre chosen from our weighting map, the human centre, and
the oracle), decode byte prefixes with ``djxl --allow_partial_files`` and find the
fraction of the file after which the square around the human centre (256x256, the
headline, and 64x64) is within ``--threshold_db`` of the full decode
(:mod:`benchmarks.progressive.measure`). The oracle needs each group's section bytes,
read from two real files per image (:mod:`benchmarks.progressive.groups`), which also
checks the group-order model on every image.

Writes ``OUT/results.json`` (every image), ``OUT/table.md``, and with ``--docs``
``docs/progressive.md`` and ``docs/img/progressive.png``; prints our figure and Google's
side by side with their ratio. Resumable: every result is cached under ``--cache_dir``
by the content it depends on (:mod:`benchmarks.progressive.cache`).

Run from the repository root::

    python benchmarks/progressive/run.py --jobs=2 --gt_dir /work/gt
    python benchmarks/progressive/run.py --max_images=10   # a quick check
"""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from attention_center.core.atomic import atomic_write_json, atomic_write_text  # noqa: E402
from attention_center.core.orientation import read_orientation  # noqa: E402
from attention_center.jxl.center_choice import DEFAULT_SIGMA  # noqa: E402
from benchmarks.progressive import report  # noqa: E402
from benchmarks.progressive.cache import Cache  # noqa: E402
from benchmarks.progressive.groups import groups_for_images  # noqa: E402
from benchmarks.progressive.inputs import select_images  # noqa: E402
from benchmarks.progressive.measure import measure  # noqa: E402
from benchmarks.progressive.pool import run_pool  # noqa: E402
from benchmarks.progressive.predictions import predict_cached, resolve_our_model  # noqa: E402
from benchmarks.progressive.strategies import (  # noqa: E402
    STRATEGIES,
    chosen_center,
    oracle_choice,
    strategy_flags,
)

flags.DEFINE_string("gt_dir", str(REPO.parent / "gt"), "Ground-truth build folder (index.jsonl).")
flags.DEFINE_string(
    "out_dir",
    str(REPO / "benchmarks" / "progressive" / "results"),
    "Where results.json and table.md go.",
)
flags.DEFINE_string(
    "cache_dir",
    str(REPO / "benchmarks" / "progressive" / "cache"),
    "Cache of measurements, group sizes and predictions (resumable runs).",
)
flags.DEFINE_bool("docs", True, "Also write docs/progressive.md and docs/img/progressive.png.")
flags.DEFINE_integer(
    "max_images",
    0,
    "Images to use, the first in a fixed hashed order (0 = every eligible image).",
    lower_bound=0,
)
flags.DEFINE_integer(
    "max_unseen_per_source",
    0,
    "At most this many images per source of the datasets the model was not trained on (0 = all).",
    lower_bound=0,
)
flags.DEFINE_string("split", "test", "Held-out split of the datasets the model was trained on.")
flags.DEFINE_list(
    "training_datasets",
    ["osie", "scene"],
    "Datasets the model was trained on "
    "(only their --split counts; every image of other datasets does).",
)
flags.DEFINE_list(
    "sources",
    ["osie_eye", "scene_eye"],
    "Ground-truth sources to take the centre from, in order of preference (one record per image).",
)
flags.DEFINE_integer("jobs", 2, "Images encoded/decoded at once.", lower_bound=1)
flags.DEFINE_list("strategies", list(STRATEGIES), "Group-order strategies to compare.")
flags.DEFINE_string(
    "google_model",
    str(REPO.parent / "shared" / "anchors" / "google_center.tflite"),
    "Google's center.tflite.",
)
flags.DEFINE_string("model", None, "Our model (.keras/.tflite). Default: the bundled model.")
flags.DEFINE_integer(
    "min_groups",
    2,
    "Skip images with fewer 256x256 groups (the order cannot matter for a single group).",
    lower_bound=1,
)
flags.DEFINE_list(
    "regions",
    ["256", "64"],
    "Sides of the squares around the ground-truth centre, pixels; the first is the headline.",
)
flags.DEFINE_float("threshold_db", 50.0, "PSNR vs the full decode at which the region is final.")
flags.DEFINE_float("grid_step", 0.05, "Prefix grid, as a fraction of the file.")
flags.DEFINE_integer("refine_steps", 6, "Bisection steps between grid points.")
flags.DEFINE_float(
    "sigma",
    DEFAULT_SIGMA,
    "Spread of the Gaussian around our centre for the "
    "chosen centre (fraction of the diagonal; as encode).",
)
flags.DEFINE_float(
    "groups_tolerance", 0.002, "Group arrivals are read to within this fraction of the file."
)
flags.DEFINE_bool(
    "plan_only",
    False,
    "Stop after choosing every strategy's flags (group "
    "sizes read, nothing measured): results.json then lists the images and "
    "their centres, e.g. for benchmarks/browser/run.py.",
)
flags.DEFINE_list("cjxl_flags", [], "Extra cjxl flags for every strategy (e.g. --effort=7).")

FLAGS = flags.FLAGS


def command_line() -> str:
    argv = [a for a in sys.argv[1:] if not a.startswith(("--out_dir", "--cache_dir"))]
    return "python benchmarks/progressive/run.py " + " ".join(argv)


def main(argv):
    del argv
    started = time.time()
    for tool in ("cjxl", "djxl"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: install libjxl-tools")
    strategies = [s for s in FLAGS.strategies if s]
    unknown = set(strategies) - set(STRATEGIES)
    if unknown:
        sys.exit(f"unknown strategies {sorted(unknown)}; known: {STRATEGIES}")
    sides = [int(v) for v in FLAGS.regions]
    records, counts = select_images(
        FLAGS.gt_dir,
        FLAGS.split,
        FLAGS.sources,
        FLAGS.max_images,
        FLAGS.min_groups,
        FLAGS.training_datasets,
        FLAGS.max_unseen_per_source,
    )
    if not records:
        sys.exit(f"no records of {FLAGS.sources} in {FLAGS.gt_dir}")
    print(
        f"{len(records)} of {counts['eligible']} eligible images from {FLAGS.gt_dir} "
        f"({counts['by_source']}; left out: {counts['without_source']} without "
        f"{'/'.join(FLAGS.sources)} records, {counts['small']} with fewer than "
        f"{FLAGS.min_groups} groups)",
        flush=True,
    )
    cache = Cache(FLAGS.cache_dir)
    cjxl_version = (
        subprocess.run(["cjxl", "--version"], capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[0]
    )
    paths = [r["image_abspath"] for r in records]
    models = {"google": "not asked", "ours": "not asked"}
    google = ours = None
    if "google" in strategies:
        google = predict_cached(FLAGS.google_model, paths, "google", cache, threads=FLAGS.jobs)
        models["google"] = google.description
    if {"ours", "chosen"} & set(strategies):
        model, note = resolve_our_model(FLAGS.model, REPO)
        ours = predict_cached(model, paths, "ours", cache, threads=FLAGS.jobs)
        models["ours"] = ours.description + (f" ({note})" if note and ours.ok else "")

    settings = {
        "regions": sides,
        "threshold_db": FLAGS.threshold_db,
        "grid_step": FLAGS.grid_step,
        "refine_steps": FLAGS.refine_steps,
        "cjxl_flags": FLAGS.cjxl_flags,
        "cjxl": cjxl_version,
    }
    images = []
    for row in records:
        path = row["image_abspath"]
        images.append(
            {
                "image_id": row["image_id"],
                "source": row["source"],
                "dataset": row.get("dataset"),
                "path": row["image_path"],
                "abspath": path,
                "original_hw": row["original_hw"],
                "center": row["center"],
                "orientation": read_orientation(path),
                "predicted": {
                    "google": google.center(path) if google else None,
                    "ours": ours.center(path) if ours else None,
                },
                "results": {},
            }
        )

    work_root = Path(tempfile.mkdtemp(prefix="progressive_"))
    failures = 0
    try:
        # 1. Group sizes (for the oracle), cached per input file and extra flags.
        if "oracle" in strategies:
            for image, groups in zip(
                images,
                groups_for_images(
                    records,
                    cache,
                    FLAGS.cjxl_flags,
                    cjxl_version,
                    FLAGS.jobs,
                    work_root,
                    run_pool,
                    FLAGS.groups_tolerance,
                ),
            ):
                image["groups"] = groups

        # 2. Each strategy's flags, then the measurements (cached).
        todo, cached = [], 0
        for i, row in enumerate(records):
            image = images[i]
            chosen = chosen_center(
                image["predicted"]["ours"],
                row["original_hw"],
                image["orientation"],
                FLAGS.sigma,
                sides[0],
            )
            image["chosen_center"] = list(chosen) if chosen else None
            groups = image.get("groups")
            oracle = (
                oracle_choice(row["center"], row["original_hw"], groups, sides[0])
                if groups and "error" not in groups
                else None
            )
            image["oracle"] = oracle
            for strategy in strategies:
                image["results"][strategy] = None
                flags_ = strategy_flags(
                    strategy, row, image["predicted"], image["orientation"], chosen, oracle
                )
                if flags_ is None:
                    continue
                all_flags = [*flags_, *FLAGS.cjxl_flags]
                key = {
                    "input": cache.digest(row["image_abspath"]),
                    "flags": all_flags,
                    "center": row["center"],
                    **settings,
                }
                hit = cache.get("measurements", key)
                if FLAGS.plan_only:
                    continue
                if hit is not None and "bytes" in hit:
                    image["results"][strategy] = hit
                    cached += 1
                else:
                    todo.append(
                        (
                            (i, strategy, key),
                            measure,
                            (
                                row["image_abspath"],
                                all_flags,
                                row["center"],
                                work_root / f"{i}_{strategy}",
                                sides,
                                FLAGS.threshold_db,
                                FLAGS.grid_step,
                                FLAGS.refine_steps,
                            ),
                        )
                    )
        print(f"{len(todo)} encodings to measure, {cached} cached in {cache.root}", flush=True)
        for (i, strategy, key), result in run_pool(FLAGS.jobs, todo, "measure"):
            if "error" in result:
                failures += 1
                print(f"{records[i]['image_id']} {strategy}: {result['error']}", file=sys.stderr)
                continue
            cache.put(
                "measurements",
                key,
                {"image_id": records[i]["image_id"], "strategy": strategy, **result},
            )
            images[i]["results"][strategy] = result
    finally:
        shutil.rmtree(work_root, ignore_errors=True)

    summary = report.summarize(images, strategies, sides)
    tables = {
        name: report.table_markdown(table, strategies, sides) for name, table in summary.items()
    }
    seconds = [
        sum(r["seconds"] for r in i["results"].values() if r and "seconds" in r) for i in images
    ]
    meta = {
        "images": len(images),
        "eligible": counts["eligible"],
        "split": FLAGS.split,
        "training_datasets": FLAGS.training_datasets,
        "by_source": counts["by_source"],
        "left_out_small": counts["small"],
        "left_out_source": counts["without_source"],
        "min_groups": FLAGS.min_groups,
        "gt_index": str(Path(FLAGS.gt_dir) / "index.jsonl"),
        "sources": report.set_names(images),
        "source_preference": FLAGS.sources,
        "regions": sides,
        "threshold_db": FLAGS.threshold_db,
        "grid_step": FLAGS.grid_step,
        "strategies": strategies,
        "cjxl": cjxl_version,
        "cjxl_flags": FLAGS.cjxl_flags,
        "sigma": FLAGS.sigma,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {FLAGS.jobs} jobs",
        "date": datetime.date.today().isoformat(),
        "seconds": time.time() - started,
        "measure_seconds_per_image": float(np.mean(seconds)) if seconds else 0.0,
        "cached": cached,
        "failures": failures,
        "command": command_line(),
        "capped": bool(FLAGS.max_unseen_per_source) and not FLAGS.max_images,
        "model_check": report.model_check(images),
    }
    out = Path(FLAGS.out_dir)
    atomic_write_json(
        out / "results.json",
        {"meta": meta, "models": models, "summary": summary, "images": images},
        indent=1,
    )
    text = "\n".join(f"### {name}\n\n{table}" for name, table in tables.items())
    atomic_write_text(out / "table.md", text)
    print(text)
    print(report.side_by_side(summary["all"], images, models, sides))
    print(f"group model: {meta['model_check']}")
    print(
        f"{meta['measure_seconds_per_image']:.1f} s of measuring per image (all "
        f"{len(strategies)} strategies, one core each); this run {meta['seconds']:.0f} s, "
        f"{cached} encodings from the cache",
        flush=True,
    )
    if FLAGS.docs and not FLAGS.plan_only:
        from benchmarks.progressive import docs, plots

        plots.plot(
            images, strategies, sides, REPO / "docs" / "img" / "progressive.png", FLAGS.threshold_db
        )
        docs.write_docs(REPO)
        print(f"wrote {REPO / 'docs' / 'progressive.md'} and docs/img/progressive.png")
    if failures:
        sys.exit(f"{failures} encodings failed (see above)")


if __name__ == "__main__":
    app.run(main)
