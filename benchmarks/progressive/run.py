"""What people see first: bytes of progressive JPEG XL before the looked-at region is final.

For each held-out image with human fixations (``split == "test"`` of the
ground-truth build, one record per image, eye tracking preferred), encode it
with cjxl under several group-order strategies:

* ``default``: cjxl's default group order (scanline);
* ``middle``: centre-first from the middle of the image (``--group_order 1``);
* ``google``: centre-first from the centre Google's model predicts;
* ``ours``: centre-first from the bundled default model's centre;
* ``truth``: centre-first from the ground-truth centre itself (the bound).

Then decode byte prefixes with ``djxl --allow_partial_files`` and measure the
PSNR, against the full decode, of squares around the ground-truth centre (the
place people looked at first): 256x256 (the headline) and 64x64 (the fixation
point itself). The figure per image, strategy and square is the fraction of
the file needed before that square reaches ``--threshold_db`` (default 50 dB,
i.e. indistinguishable from the final decode): found on a 5 % grid, then
refined by bisection on the byte count. Every square is measured on the same
decodes.

Writes ``OUT/results.json`` (every image), ``OUT/table.md``, and with
``--docs`` ``docs/progressive.md`` and ``docs/img/progressive.png``.

Run from the repository root::

    python benchmarks/progressive/run.py --max_images=40 --jobs=2
"""

from __future__ import annotations

import concurrent.futures
import datetime
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from absl import app, flags
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

STRATEGIES = ("default", "middle", "google", "ours", "truth")
SOURCE_PREFERENCE = ("osie_eye", "scene_eye")

flags.DEFINE_string("gt_dir", str(REPO.parent / "gt"), "Ground-truth build folder (index.jsonl).")
flags.DEFINE_string("out_dir", str(REPO / "benchmarks" / "progressive" / "results"),
                    "Where results.json and table.md go.")
flags.DEFINE_bool("docs", True, "Also write docs/progressive.md and docs/img/progressive.png.")
flags.DEFINE_integer("max_images", 40, "Images to use (0 = all of the split).", lower_bound=0)
flags.DEFINE_string("split", "test", "Split of the ground truth to use.")
flags.DEFINE_integer("jobs", 2, "Images encoded/decoded at once.", lower_bound=1)
flags.DEFINE_list("strategies", list(STRATEGIES), "Group-order strategies to compare.")
flags.DEFINE_string("google_model", str(REPO.parent / "shared" / "anchors" /
                                        "google_center.tflite"), "Google's center.tflite.")
flags.DEFINE_string("our_model", None, "Our model (.keras/.tflite); default: the bundled one.")
flags.DEFINE_integer("min_groups", 2, "Skip images with fewer 256x256 groups (the order "
                     "cannot matter for a single group).", lower_bound=1)
flags.DEFINE_list("regions", ["256", "64"], "Sides of the squares around the ground-truth "
                  "centre, pixels; the first is the headline.")
flags.DEFINE_float("threshold_db", 50.0, "PSNR vs the full decode at which the region is final.")
flags.DEFINE_float("grid_step", 0.05, "Prefix grid, as a fraction of the file.")
flags.DEFINE_integer("refine_steps", 6, "Bisection steps between grid points.")
flags.DEFINE_list("cjxl_flags", [], "Extra cjxl flags for every strategy (e.g. --effort=7).")

FLAGS = flags.FLAGS


# --- inputs -----------------------------------------------------------------------------------

def num_groups(hw) -> int:
    """Number of 256x256 groups of an image ``(h, w)``."""
    return math.ceil(hw[0] / 256) * math.ceil(hw[1] / 256)


def select_records(gt_dir, split: str, max_images: int, min_groups: int = 1
                   ) -> tuple[list[dict], int]:
    """One ground-truth row per image of the split (eye tracking preferred), in a hashed order.

    Returns:
      (rows, number of images left out for having fewer than ``min_groups`` groups).
    """
    from ground_truth.portable import read_index, resolve_image_path

    rows = read_index(gt_dir, split=split)

    def rank(row):
        source = row.get("source", "")
        if source in SOURCE_PREFERENCE:
            return SOURCE_PREFERENCE.index(source)
        return len(SOURCE_PREFERENCE) + (0 if row.get("modality") == "eye" else 1)

    best: dict[str, dict] = {}
    for row in rows:
        current = best.get(row["image_id"])
        if current is None or rank(row) < rank(current):
            best[row["image_id"]] = row
    chosen = sorted(best.values(),
                    key=lambda r: hashlib.sha256(r["image_id"].encode()).hexdigest())
    small = sum(num_groups(r["original_hw"]) < min_groups for r in chosen)
    chosen = [r for r in chosen if num_groups(r["original_hw"]) >= min_groups]
    if max_images:
        chosen = chosen[:max_images]
    for row in chosen:
        row["image_abspath"] = str(resolve_image_path(row))
    return chosen, small


def predicted_centers(model, paths: list[str], label: str) -> tuple[list, str]:
    """Centres (displayed px) from a model, or ``(None..., reason)`` when it cannot run."""
    from attention_center.model_io import ModelLoadError, load_predictor
    from attention_center.predict import predict_images

    try:
        predictor = load_predictor(model, num_threads=FLAGS.jobs)
    except ModelLoadError as error:
        return [None] * len(paths), f"missing: {error}"
    start = time.time()
    centers = []
    for prediction in predict_images(paths, predictor, batch_size=8):
        centers.append(None if not prediction.ok else [float(v) for v in prediction.center])
    seconds = (time.time() - start) / max(1, len(paths))
    print(f"{label}: {predictor.name}, {seconds:.2f} s/image", flush=True)
    return centers, predictor.path or predictor.name


# --- measuring one encoding -------------------------------------------------------------------

def region_box(center, hw, side: int) -> tuple[int, int, int, int]:
    """``(top, left, bottom, right)`` of the ``side x side`` square around (x, y), kept inside."""
    h, w = hw
    sh, sw = min(side, h), min(side, w)
    left = int(np.clip(round(center[0]) - sw // 2, 0, w - sw))
    top = int(np.clip(round(center[1]) - sh // 2, 0, h - sh))
    return top, left, top + sh, left + sw


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def decode(path: Path, out: Path, partial: bool) -> np.ndarray | None:
    command = ["djxl", str(path), str(out), "--num_threads=1", "--quiet"]
    if partial:
        command.append("--allow_partial_files")
    run = subprocess.run(command, capture_output=True)
    if run.returncode != 0:  # nothing decodable yet (no DC)
        return None
    with Image.open(out) as image:
        return np.asarray(image.convert("RGB"))


def measure(source: str, center_flags: list[str], gt_center, work: Path, sides: list[int],
            threshold: float, step: float, refine: int, extra: list[str]) -> dict:
    """Encodes once, decodes prefixes; per region side, the PSNR curve and the fraction needed.

    Returns:
      ``{"bytes", "grid": [fractions], "regions": {side: {"psnr": [dB or None = identical],
      "fraction_needed": f}}}``, or ``{"error": message}``.
    """
    work.mkdir(parents=True, exist_ok=True)
    jxl = work / "image.jxl"
    encode = subprocess.run(["cjxl", source, str(jxl), "--num_threads=1", "--quiet",
                             *center_flags, *extra], capture_output=True)
    if encode.returncode != 0:
        return {"error": encode.stderr.decode(errors="replace")[-300:]}
    data = jxl.read_bytes()
    full = decode(jxl, work / "full.ppm", partial=False)
    if full is None:
        return {"error": "djxl cannot decode the full file"}
    boxes = {side: region_box(gt_center, full.shape[:2], side) for side in sides}
    prefix = work / "prefix.jxl"
    cache: dict[int, np.ndarray | None] = {}

    def quality(n_bytes: int, side: int) -> float:
        if n_bytes >= len(data):
            return math.inf
        if n_bytes not in cache:
            prefix.write_bytes(data[:n_bytes])
            cache[n_bytes] = decode(prefix, work / "prefix.ppm", partial=True)
        part = cache[n_bytes]
        if part is None:
            return 0.0
        top, left, bottom, right = boxes[side]
        return psnr(part[top:bottom, left:right], full[top:bottom, left:right])

    fractions = [round(step * k, 6) for k in range(1, int(round(1 / step)) + 1)]
    grid_bytes = [int(math.ceil(f * len(data))) for f in fractions]
    regions = {}
    for side in sides:
        curve = [quality(n, side) for n in grid_bytes]
        first = next(k for k, v in enumerate(curve) if v >= threshold)  # 100 % is inf
        low, high = (grid_bytes[first - 1] if first else 0), grid_bytes[first]
        for _ in range(refine):  # quality(low) < threshold <= quality(high)
            mid = (low + high) // 2
            if mid <= low:
                break
            if quality(mid, side) >= threshold:
                high = mid
            else:
                low = mid
        regions[str(side)] = {"psnr": [None if math.isinf(v) else round(v, 2) for v in curve],
                              "fraction_needed": round(high / len(data), 5)}
        for n in [n for n in cache if n not in grid_bytes]:  # keep the grid decodes only
            del cache[n]
    return {"bytes": len(data), "grid": fractions, "regions": regions}


def strategy_flags(strategy: str, row: dict, predicted: dict) -> list[str] | None:
    """cjxl flags for a strategy on one image; ``None`` when it has no centre.

    ``predicted``: model name -> this image's predicted (x, y) (displayed px) or ``None``.
    """
    from attention_center.encode import encoder_center, exif_orientation

    if strategy == "default":
        return []
    if strategy == "middle":
        return ["--group_order", "1"]
    center = row["center"] if strategy == "truth" else predicted.get(strategy)
    if center is None:
        return None
    x, y = encoder_center(center, tuple(row["original_hw"]),
                          exif_orientation(row["image_abspath"]))
    return ["--group_order", "1", "--center_x", str(x), "--center_y", str(y)]


# --- report -----------------------------------------------------------------------------------

def needed(image: dict, strategy: str, side) -> float | None:
    """Fraction of the file an image needed under a strategy for a region side (None: not run)."""
    result = image["results"].get(strategy)
    return None if result is None else result["regions"][str(side)]["fraction_needed"]


def summarize(images: list[dict], strategies: list[str], sides: list[int]) -> dict:
    """strategy -> {"images", "mean_kb", "<side>": {"mean", "median"}} or None when not run."""
    table = {}
    for strategy in strategies:
        rows = [i for i in images if i["results"].get(strategy) is not None]
        if not rows:
            table[strategy] = None
            continue
        entry = {"images": len(rows),
                 "mean_kb": float(np.mean([i["results"][strategy]["bytes"] for i in rows])) / 1e3}
        for side in sides:
            values = [needed(i, strategy, side) for i in rows]
            entry[str(side)] = {"mean": float(np.mean(values)), "median": float(np.median(values))}
        table[strategy] = entry
    return table


def paired(images, a: str, b: str, side) -> tuple[int, int, int]:
    """(a earlier, within 1 % of the file, b earlier) over images that have both."""
    wins = ties = losses = 0
    for image in images:
        fa, fb = needed(image, a, side), needed(image, b, side)
        if fa is None or fb is None:
            continue
        if abs(fa - fb) <= 0.01:
            ties += 1
        elif fa < fb:
            wins += 1
        else:
            losses += 1
    return wins, ties, losses


LABELS = {"default": "default group order (scanline)",
          "middle": "centre-first, image middle",
          "google": "centre-first, Google's predicted centre",
          "ours": "centre-first, our predicted centre",
          "truth": "centre-first, ground-truth centre (bound)"}


def table_markdown(summary: dict, strategies: list[str], sides: list[int]) -> str:
    head = "| strategy | images |"
    rule = "|---|---:|"
    for side in sides:
        head += f" {side}x{side}: mean | median | vs default |"
        rule += "---:|---:|---:|"
    lines = [head + " mean file (kB) |", rule + "---:|"]
    base = summary.get("default")
    for strategy in strategies:
        row = summary.get(strategy)
        name = f"{strategy}: {LABELS.get(strategy, '')}"
        if row is None:
            lines.append(f"| {name} | missing |" + " |" * (3 * len(sides) + 1))
            continue
        cells = f"| {name} | {row['images']} |"
        for side in sides:
            stats = row[str(side)]
            versus = f"{stats['mean'] / base[str(side)]['mean']:.2f}x" if base else ""
            cells += f" {stats['mean']:.1%} | {stats['median']:.1%} | {versus} |"
        lines.append(cells + f" {row['mean_kb']:.1f} |")
    return "\n".join(lines) + "\n"


def plot(images: list[dict], strategies: list[str], sides: list[int], path: Path,
         threshold: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 1 + len(sides), figsize=(5.2 * (1 + len(sides)), 4.3))
    quality_axis, cdf_axes = axes[0], axes[1:]
    primary = str(sides[0])
    for strategy in strategies:
        rows = [i for i in images if i["results"].get(strategy) is not None]
        if not rows:
            continue
        grid = np.array(rows[0]["results"][strategy]["grid"]) * 100
        curves = np.array([[60.0 if v is None else min(v, 60.0)
                            for v in i["results"][strategy]["regions"][primary]["psnr"]]
                           for i in rows])
        line, = quality_axis.plot(grid, curves.mean(axis=0), marker=".", label=strategy)
        for axis, side in zip(cdf_axes, sides):
            values = np.sort([needed(i, strategy, side) for i in rows]) * 100
            share = np.arange(1, len(values) + 1) / len(values) * 100
            axis.step(np.concatenate([[0], values, [100]]), np.concatenate([[0], share, [100]]),
                      where="post", label=strategy, color=line.get_color())
    quality_axis.axhline(threshold, color="gray", lw=0.8, ls="--")
    quality_axis.set(xlabel="bytes received (% of file)",
                     ylabel="PSNR vs final decode (dB, capped at 60)",
                     title=f"Mean quality of the {primary}x{primary} looked-at region")
    for axis, side in zip(cdf_axes, sides):
        axis.set(xlabel="bytes received (% of file)", ylabel="images (%)",
                 title=f"{side}x{side} region final (>= {threshold:g} dB)")
    for axis in axes:
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="lower right" if axis is not quality_axis else "upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def command_line() -> str:
    argv = [a for a in sys.argv[1:] if not a.startswith(("--out_dir", "--gt_dir"))]
    return "python benchmarks/progressive/run.py " + " ".join(argv)


def headline(summary: dict, images: list[dict], models: dict, side) -> str:
    """Our figure, Google's and their ratio, in one sentence (or why not)."""
    ours, google = summary.get("ours"), summary.get("google")
    key = str(side)
    if ours and google:
        w, t, l = paired(images, "ours", "google", side)
        return (f"Ours: {ours[key]['mean']:.1%} of the file on average before the "
                f"{side}x{side} region people look at first is final; Google's: "
                f"{google[key]['mean']:.1%}; ratio ours / Google = "
                f"{ours[key]['mean'] / google[key]['mean']:.3f} (per image: ours earlier on "
                f"{w}, within 1 % of the file on {t}, later on {l}).")
    if google:
        return (f"Google's centre: {google[key]['mean']:.1%} of the file on average before the "
                f"{side}x{side} region people look at first is final. Ours: not measured "
                f"({models['ours']}).")
    return "Neither model was measured."


def docs_markdown(summary, images, models, meta, table) -> str:
    sides = meta["regions"]
    lines = "\n".join(f"- {headline(summary, images, models, side)}" for side in sides)
    return f"""# What people see first: progressive JPEG XL, centre first

{lines}

A JPEG XL file stores its 256x256 groups in an order the encoder chooses; with
`cjxl --group_order 1 --center_x X --center_y Y` they start from the group
holding (X, Y) and go round it in square rings, so a browser showing a partly
downloaded file sharpens that place first. The question: **how much of the
file must arrive before the place people actually looked at first is final**,
when the centre comes from each strategy.

## Result

{table}
Each cell: the smallest prefix of the `.jxl` file (container included, as a
fraction of the file) after which the square of that side around the
ground-truth centre, decoded with `djxl --allow_partial_files`, is within
{meta['threshold_db']:g} dB PSNR of the full decode; found on a
{meta['grid_step']:.0%} grid, then refined by bisection on the byte count.
Lower is better; "vs default" divides the mean by the default order's.

![region quality vs bytes received](img/progressive.png)

Left: mean PSNR of the {sides[0]}x{sides[0]} region against bytes received
(prefixes too short to hold the DC image decode to nothing and count as 0 dB).
Other panels: share of images whose region is final by a given fraction of the
file.

How to read it: a square region is final only when every group it touches has
arrived. A {sides[0]}x{sides[0]} region almost always touches 2-4 groups, and
libjxl 0.7's centre-first order goes round the centre group in square rings
(up, up-right, right, ..., up-left), so a region that straddles the corner
shared with a group late in the first ring waits for most of that ring. The
small square ({sides[-1]}x{sides[-1]}, the fixation point itself) shows how
soon the centre-first order delivers the exact place people looked at.

## Setup

- Images: {meta['images']} held-out images (`split == "{meta['split']}"` of the
  ground-truth build `{meta['gt_index']}`, one record per image, eye tracking
  preferred: sources {', '.join(meta['sources'])}), chosen by a hash of the
  image id; {meta['left_out_small']} images of the split with fewer than
  {meta['min_groups']} groups of 256x256 (where the order cannot matter) left out.
  Ground-truth centre: the record's `center` (original pixels, as displayed).
- Encoder: `{meta['cjxl']}` (Debian libjxl-tools), default settings for each
  input (JPEG input: lossless JPEG transcoding, which `--group_order 1`
  supports), extra flags: `{' '.join(meta['cjxl_flags']) or 'none'}`.
- Models: Google `{models['google']}`; ours `{models['ours']}`. Both get the
  same input (`attention_center.image.load_image` + `resize_with_pad`, as
  Google's script) and their centres go back with `FrameTransform.to_original`,
  then `attention_center.encode.encoder_center` (EXIF orientation, rounding,
  clamping).
- Machine: {meta['machine']}; run {meta['date']}, {meta['seconds']:.0f} s.

## Command

```
{meta['command']}
```

From the repository root; `--gt_dir` defaults to `../gt`, Google's model to
`../shared/anchors/google_center.tflite`, ours to the bundled default model.
Per-image results: `benchmarks/progressive/results/results.json`.
"""


# --- main -------------------------------------------------------------------------------------

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
    records, small = select_records(FLAGS.gt_dir, FLAGS.split, FLAGS.max_images,
                                    FLAGS.min_groups)
    if not records:
        sys.exit(f"no {FLAGS.split} records in {FLAGS.gt_dir}")
    paths = [r["image_abspath"] for r in records]
    print(f"{len(records)} images from {FLAGS.gt_dir} ({small} of the split left out: "
          f"fewer than {FLAGS.min_groups} groups)", flush=True)

    centers, models = {}, {"google": "not asked", "ours": "not asked"}
    if "google" in strategies:
        centers["google"], models["google"] = predicted_centers(FLAGS.google_model, paths,
                                                                "google")
    if "ours" in strategies:
        centers["ours"], models["ours"] = predicted_centers(FLAGS.our_model, paths, "ours")

    images = [{"image_id": r["image_id"], "source": r["source"], "path": r["image_path"],
               "original_hw": r["original_hw"], "center": r["center"],
               "predicted": {k: v[i] for k, v in centers.items()}, "results": {}}
              for i, r in enumerate(records)]
    work_root = Path(tempfile.mkdtemp(prefix="progressive_"))
    jobs = []
    try:
        with concurrent.futures.ThreadPoolExecutor(FLAGS.jobs) as pool:
            for i, row in enumerate(records):
                for strategy in strategies:
                    center_flags = strategy_flags(strategy, row, images[i]["predicted"])
                    images[i]["results"][strategy] = None
                    if center_flags is None:
                        continue
                    jobs.append((i, strategy, pool.submit(
                        measure, row["image_abspath"], center_flags, row["center"],
                        work_root / f"{i}_{strategy}", sides, FLAGS.threshold_db,
                        FLAGS.grid_step, FLAGS.refine_steps, FLAGS.cjxl_flags)))
            for done, (i, strategy, future) in enumerate(jobs, 1):
                result = future.result()
                if "error" in result:
                    print(f"{records[i]['image_id']} {strategy}: {result['error']}",
                          file=sys.stderr)
                    continue
                images[i]["results"][strategy] = result
                if done % max(1, len(jobs) // 10) == 0:
                    print(f"  {done}/{len(jobs)} encodings measured", flush=True)
    finally:
        shutil.rmtree(work_root, ignore_errors=True)

    summary = summarize(images, strategies, sides)
    table = table_markdown(summary, strategies, sides)
    cjxl_version = subprocess.run(["cjxl", "--version"], capture_output=True,
                                  text=True).stdout.strip().splitlines()[0]
    meta = {"images": len(images), "split": FLAGS.split, "left_out_small": small,
            "min_groups": FLAGS.min_groups, "gt_index": str(Path(FLAGS.gt_dir) / "index.jsonl"),
            "sources": sorted({i["source"] for i in images}), "regions": sides,
            "threshold_db": FLAGS.threshold_db, "grid_step": FLAGS.grid_step,
            "cjxl": cjxl_version, "cjxl_flags": FLAGS.cjxl_flags,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {FLAGS.jobs} jobs",
            "date": datetime.date.today().isoformat(), "seconds": time.time() - started,
            "command": command_line()}
    out = Path(FLAGS.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(
        {"meta": meta, "models": models, "summary": summary, "images": images}, indent=1))
    (out / "table.md").write_text(table)
    print(table)
    for side in sides:
        print(headline(summary, images, models, side))
    if FLAGS.docs:
        plot(images, strategies, sides, REPO / "docs" / "img" / "progressive.png",
             FLAGS.threshold_db)
        (REPO / "docs" / "progressive.md").write_text(
            docs_markdown(summary, images, models, meta, table))
        print(f"wrote {REPO / 'docs' / 'progressive.md'} and docs/img/progressive.png")


if __name__ == "__main__":
    app.run(main)
