"""What people see first: bytes of progressive JPEG XL before the looked-at region is final.

For each held-out image with human eye fixations (``split == "test"`` of the
ground-truth build, one eye-tracking record per image: OSIE first, then Scene;
images with mouse data only are left out), encode it with cjxl under several
group-order strategies:

* ``default``: cjxl's default group order (scanline);
* ``middle``: centre-first from the middle of the image (``--group_order 1``);
* ``google``: centre-first from the centre Google's model predicts (the anchor);
* ``ours``: centre-first from our model's centre (``--model``; by default the
  bundled model, or the training run's ``runs/default/best_warmup.keras`` as a
  stand-in while no model is bundled);
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
``--docs`` ``docs/progressive.md`` and ``docs/img/progressive.png``; prints our
figure and Google's side by side with their ratio.

Resumable: every measurement (image x strategy x settings, keyed by a hash of
the input file, the cjxl flags and the measuring settings) and every model's
centres (keyed by a hash of the model file) are cached as JSON under
``--cache_dir``; a second run, or a run after an interruption, only does what is
missing. A new model gives new centres, hence new keys for its strategy only.

Run from the repository root (all eligible test images)::

    python benchmarks/progressive/run.py --jobs=2
    python benchmarks/progressive/run.py --max_images=10   # a quick check
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
#: Until the lead bundles the default model, "ours" falls back to this training checkpoint.
STAND_IN_MODEL = REPO / "runs" / "default" / "best_warmup.keras"

flags.DEFINE_string("gt_dir", str(REPO.parent / "gt"), "Ground-truth build folder (index.jsonl).")
flags.DEFINE_string("out_dir", str(REPO / "benchmarks" / "progressive" / "results"),
                    "Where results.json and table.md go.")
flags.DEFINE_string("cache_dir", str(REPO / "benchmarks" / "progressive" / "cache"),
                    "Cache of measurements and predicted centres (makes the run resumable).")
flags.DEFINE_bool("docs", True, "Also write docs/progressive.md and docs/img/progressive.png.")
flags.DEFINE_integer("max_images", 0, "Images to use, the first in a fixed hashed order "
                     "(0 = every eligible image of the split).", lower_bound=0)
flags.DEFINE_string("split", "test", "Split of the ground truth to use.")
flags.DEFINE_list("sources", ["osie_eye", "scene_eye"], "Ground-truth sources to take the "
                  "centre from, in order of preference (one record per image).")
flags.DEFINE_integer("jobs", 2, "Images encoded/decoded at once.", lower_bound=1)
flags.DEFINE_list("strategies", list(STRATEGIES), "Group-order strategies to compare.")
flags.DEFINE_string("google_model", str(REPO.parent / "shared" / "anchors" /
                                        "google_center.tflite"), "Google's center.tflite.")
flags.DEFINE_string("model", None, "Our model (.keras/.tflite). Default: the bundled "
                    "model, else the stand-in runs/default/best_warmup.keras.")
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


def select_records(gt_dir, split: str, max_images: int, min_groups: int = 1,
                   sources=("osie_eye", "scene_eye")) -> tuple[list[dict], dict]:
    """One ground-truth row per image of the split, from the preferred source, in a hashed order.

    Args:
      gt_dir: the ground-truth build (``index.jsonl``).
      split: ``"test"`` for the held-out images.
      max_images: keep the first this many (0: all).
      min_groups: leave out images with fewer 256x256 groups.
      sources: sources to take the centre from, best first (eye tracking only
        by default: images recorded with the mouse alone are left out).
    Returns:
      ``(rows, counts)``: the rows (each with ``image_abspath`` added) and
      ``{"eligible", "without_source", "small"}``: images of the split usable,
      without a record of ``sources``, with fewer than ``min_groups`` groups.
    """
    from ground_truth.portable import read_index, resolve_image_path

    sources = list(sources)
    rows = read_index(gt_dir, split=split)
    best: dict[str, dict] = {}
    all_images = set()
    for row in rows:
        all_images.add(row["image_id"])
        if row.get("source") not in sources:
            continue
        current = best.get(row["image_id"])
        if current is None or sources.index(row["source"]) < sources.index(current["source"]):
            best[row["image_id"]] = row
    chosen = sorted(best.values(),
                    key=lambda r: hashlib.sha256(r["image_id"].encode()).hexdigest())
    small = sum(num_groups(r["original_hw"]) < min_groups for r in chosen)
    chosen = [r for r in chosen if num_groups(r["original_hw"]) >= min_groups]
    counts = {"eligible": len(chosen), "without_source": len(all_images) - len(best),
              "small": small}
    if max_images:
        chosen = chosen[:max_images]
    for row in chosen:
        row["image_abspath"] = str(resolve_image_path(row))
    return chosen, counts


# --- cache ------------------------------------------------------------------------------------

def file_digest(path) -> str:
    """sha256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json_atomic(path: Path, data, indent=None) -> None:
    """Writes JSON via a temp file in the same folder + ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=indent)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_json(path: Path):
    """The JSON in ``path``, or ``None`` when it is missing or unreadable (then it is redone)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def our_model() -> tuple[str | None, str]:
    """Our model file and a note: ``--model``, else the bundled model, else the stand-in."""
    from attention_center.model_io import ModelLoadError, default_model_path

    if FLAGS.model:
        return FLAGS.model, ""
    try:
        return str(default_model_path()), "bundled default model"
    except ModelLoadError:
        pass
    if STAND_IN_MODEL.is_file():
        return str(STAND_IN_MODEL), ("stand-in: no bundled default model yet, the training "
                                     "run's checkpoint")
    return None, "no bundled default model and no stand-in"


def predicted_centers(model, rows: list[dict], label: str, cache_dir: Path) -> tuple[list, str]:
    """Centres (displayed px) from a model, one per row (``None`` when it cannot run).

    Cached per model file content (``cache_dir/centers/<sha256>.json``,
    image path -> centre), so a rerun predicts only new images.

    Returns:
      (centres, a description of the model, or of why it is missing).
    """
    from attention_center.model_io import ModelLoadError, load_predictor
    from attention_center.prediction import predict_images

    if model is None or not Path(model).is_file():
        return [None] * len(rows), f"missing: {model or 'no model'}"
    cache_path = cache_dir / "centers" / f"{file_digest(model)}.json"
    cache = read_json(cache_path) or {}
    todo = [r["image_abspath"] for r in rows if r["image_abspath"] not in cache]
    if todo:
        try:
            predictor = load_predictor(model, num_threads=FLAGS.jobs)
        except ModelLoadError as error:
            return [None] * len(rows), f"missing: {error}"
        start = time.time()
        for path, prediction in zip(todo, predict_images(todo, predictor, batch_size=8)):
            cache[path] = None if not prediction.ok else [float(v) for v in prediction.center]
        print(f"{label}: {model}, {(time.time() - start) / len(todo):.2f} s/image "
              f"({len(todo)} predicted, {len(rows) - len(todo)} cached)", flush=True)
        write_json_atomic(cache_path, cache)
    else:
        print(f"{label}: {model}, all {len(rows)} centres cached", flush=True)
    return [cache[r["image_abspath"]] for r in rows], str(model)


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
      "fraction_needed": f}}, "seconds"}``, or ``{"error": message}``.
    """
    started = time.time()
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
    return {"bytes": len(data), "grid": fractions, "regions": regions,
            "seconds": round(time.time() - started, 2)}


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
    argv = [a for a in sys.argv[1:] if not a.startswith(("--out_dir", "--gt_dir", "--cache_dir"))]
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
    if ours:
        return (f"Ours: {ours[key]['mean']:.1%} of the file on average before the "
                f"{side}x{side} region people look at first is final. Google's: not measured "
                f"({models['google']}).")
    return "Neither model was measured."


def side_by_side(summary: dict, images: list[dict], models: dict, sides) -> str:
    """The project's figure next to the anchor's (Google), with the ratio, one line per region."""
    ours, google = summary.get("ours"), summary.get("google")
    lines = ["Fraction of the file received before the region around the ground-truth centre "
             "is final (mean over images; lower is better):",
             f"  {'region':>9}  {'ours':>7}  {'Google':>7}  {'ours/Google':>11}  "
             "per image: ours earlier / within 1 % / later"]
    for side in sides:
        key = str(side)
        a = f"{ours[key]['mean']:.1%}" if ours else "-"
        b = f"{google[key]['mean']:.1%}" if google else "-"
        ratio, pairs = "-", ""
        if ours and google:
            ratio = f"{ours[key]['mean'] / google[key]['mean']:.3f}"
            pairs = " / ".join(str(v) for v in paired(images, "ours", "google", side))
        lines.append(f"  {side:>4}x{side:<4}  {a:>7}  {b:>7}  {ratio:>11}  {pairs}")
    lines.append(f"  ours: {models['ours']}")
    lines.append(f"  Google: {models['google']}")
    return "\n".join(lines)


def docs_markdown(summary, images, models, meta, table) -> str:
    sides = meta["regions"]
    lines = "\n".join(f"- {headline(summary, images, models, side)}" for side in sides)
    status = ""
    if meta["images"] < meta["eligible"]:
        status = (f"\n**A check run on {meta['images']} of the {meta['eligible']} eligible "
                  "images**, not the benchmark's figure: the full run is the first command "
                  "under [Command](#command).\n")
    return f"""# What people see first: progressive JPEG XL, centre first

{lines}
{status}
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

- Images: {meta['images']} of the {meta['eligible']} eligible held-out images
  (`split == "{meta['split']}"` of the ground-truth build `{meta['gt_index']}`),
  chosen by a hash of the image id. One eye-tracking record per image (sources
  in order of preference: {', '.join(meta['source_preference'])}; used here:
  {', '.join(meta['sources'])}); left out: {meta['left_out_source']} images with
  no record from those sources (mouse data only), and {meta['left_out_small']} images with fewer than
  {meta['min_groups']} groups of 256x256 (where the order cannot matter).
  Ground-truth centre: the record's `center` (original pixels, as displayed).
- Encoder: `{meta['cjxl']}` (Debian libjxl-tools), default settings for each
  input (JPEG input: lossless JPEG transcoding, which `--group_order 1`
  supports), extra flags: `{' '.join(meta['cjxl_flags']) or 'none'}`.
- Models: Google `{models['google']}`; ours `{models['ours']}`. Both get the
  same input (`attention_center.image.load_image` + `resize_with_pad`, as
  Google's script) and their centres go back with `FrameTransform.to_original`,
  then `attention_center.encode.encoder_center` (EXIF orientation, rounding,
  clamping).
- Machine: {meta['machine']}; run {meta['date']}, {meta['seconds']:.0f} s
  ({meta['cached']} encodings taken from the cache); measuring one image (all
  {len(meta['strategies'])} strategies) takes {meta['measure_seconds_per_image']:.0f} s
  of one core.

## Command

The full benchmark (every eligible image; resumable: rerun it after an
interruption, it takes what is cached under `benchmarks/progressive/cache/`):

```
python benchmarks/progressive/run.py --jobs=2
```

This run:

```
{meta['command']}
```

From the repository root; `--gt_dir` defaults to `../gt`, Google's model to
`../shared/anchors/google_center.tflite`, ours (`--model`) to the bundled
default model (`attention_center/assets/default_model/model.keras`), or while
none is bundled to the stand-in `runs/default/best_warmup.keras`.
Per-image results: `benchmarks/progressive/results/results.json`.
"""


# --- main -------------------------------------------------------------------------------------

def measurement_key(source: str, center_flags: list[str], settings: dict) -> str:
    """Cache key of one measurement: the input's bytes, the cjxl flags and the settings."""
    text = json.dumps({"input": file_digest(source), "flags": center_flags, **settings},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


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
    records, counts = select_records(FLAGS.gt_dir, FLAGS.split, FLAGS.max_images,
                                     FLAGS.min_groups, FLAGS.sources)
    if not records:
        sys.exit(f"no {FLAGS.split} records of {FLAGS.sources} in {FLAGS.gt_dir}")
    print(f"{len(records)} of {counts['eligible']} eligible {FLAGS.split} images from "
          f"{FLAGS.gt_dir} (left out: {counts['without_source']} without "
          f"{'/'.join(FLAGS.sources)} records, {counts['small']} with fewer than "
          f"{FLAGS.min_groups} groups)", flush=True)
    cache_dir = Path(FLAGS.cache_dir)
    cjxl_version = subprocess.run(["cjxl", "--version"], capture_output=True,
                                  text=True).stdout.strip().splitlines()[0]

    centers, models = {}, {"google": "not asked", "ours": "not asked"}
    if "google" in strategies:
        centers["google"], models["google"] = predicted_centers(FLAGS.google_model, records,
                                                                "google", cache_dir)
    if "ours" in strategies:
        model, note = our_model()
        centers["ours"], models["ours"] = predicted_centers(model, records, "ours", cache_dir)
        if note and not models["ours"].startswith("missing"):
            models["ours"] += f" ({note})"

    images = [{"image_id": r["image_id"], "source": r["source"], "path": r["image_path"],
               "original_hw": r["original_hw"], "center": r["center"],
               "predicted": {k: v[i] for k, v in centers.items()}, "results": {}}
              for i, r in enumerate(records)]
    settings = {"regions": sides, "threshold_db": FLAGS.threshold_db,
                "grid_step": FLAGS.grid_step, "refine_steps": FLAGS.refine_steps,
                "cjxl_flags": FLAGS.cjxl_flags, "cjxl": cjxl_version}
    todo, cached, failures = [], 0, 0
    for i, row in enumerate(records):
        for strategy in strategies:
            images[i]["results"][strategy] = None
            center_flags = strategy_flags(strategy, row, images[i]["predicted"])
            if center_flags is None:
                continue
            key = measurement_key(row["image_abspath"], center_flags, settings)
            path = cache_dir / "measurements" / key[:2] / f"{key}.json"
            hit = read_json(path)
            if hit is not None and "bytes" in hit:
                images[i]["results"][strategy] = hit
                cached += 1
            else:
                todo.append((i, strategy, center_flags, path))
    print(f"{len(todo)} encodings to measure, {cached} cached in {cache_dir}", flush=True)

    from tqdm import tqdm

    work_root = Path(tempfile.mkdtemp(prefix="progressive_"))
    try:
        with concurrent.futures.ThreadPoolExecutor(FLAGS.jobs) as pool:
            futures = {pool.submit(measure, records[i]["image_abspath"], center_flags,
                                   records[i]["center"], work_root / f"{i}_{strategy}", sides,
                                   FLAGS.threshold_db, FLAGS.grid_step, FLAGS.refine_steps,
                                   FLAGS.cjxl_flags): (i, strategy, path)
                       for i, strategy, center_flags, path in todo}
            for future in tqdm(concurrent.futures.as_completed(futures), total=len(futures),
                               desc="measure", unit="encoding", dynamic_ncols=True):
                i, strategy, path = futures[future]
                result = future.result()
                if "error" in result:
                    failures += 1
                    tqdm.write(f"{records[i]['image_id']} {strategy}: {result['error']}",
                               file=sys.stderr)
                    continue
                write_json_atomic(path, {"image_id": records[i]["image_id"],
                                         "strategy": strategy, **result})
                images[i]["results"][strategy] = result
    finally:
        shutil.rmtree(work_root, ignore_errors=True)

    summary = summarize(images, strategies, sides)
    table = table_markdown(summary, strategies, sides)
    seconds = [sum(r["seconds"] for r in i["results"].values() if r and "seconds" in r)
               for i in images]
    meta = {"images": len(images), "eligible": counts["eligible"], "split": FLAGS.split,
            "left_out_small": counts["small"], "left_out_source": counts["without_source"],
            "min_groups": FLAGS.min_groups, "gt_index": str(Path(FLAGS.gt_dir) / "index.jsonl"),
            "sources": sorted({i["source"] for i in images}), "source_preference": FLAGS.sources,
            "regions": sides, "threshold_db": FLAGS.threshold_db, "grid_step": FLAGS.grid_step,
            "strategies": strategies, "cjxl": cjxl_version, "cjxl_flags": FLAGS.cjxl_flags,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {FLAGS.jobs} jobs",
            "date": datetime.date.today().isoformat(), "seconds": time.time() - started,
            "measure_seconds_per_image": float(np.mean(seconds)) if seconds else 0.0,
            "cached": cached, "failures": failures, "command": command_line()}
    out = Path(FLAGS.out_dir)
    write_json_atomic(out / "results.json",
                      {"meta": meta, "models": models, "summary": summary, "images": images},
                      indent=1)
    (out / "table.md").write_text(table)
    print(table)
    print(side_by_side(summary, images, models, sides))
    print(f"{meta['measure_seconds_per_image']:.1f} s of measuring per image (all "
          f"{len(strategies)} strategies, one core each); this run {meta['seconds']:.0f} s, "
          f"{cached} encodings from the cache", flush=True)
    if FLAGS.docs:
        plot(images, strategies, sides, REPO / "docs" / "img" / "progressive.png",
             FLAGS.threshold_db)
        (REPO / "docs" / "progressive.md").write_text(
            docs_markdown(summary, images, models, meta, table))
        print(f"wrote {REPO / 'docs' / 'progressive.md'} and docs/img/progressive.png")
    if failures:
        sys.exit(f"{failures} encodings failed (see above)")


if __name__ == "__main__":
    app.run(main)
