"""What people see while the file arrives: human-weighted quality over bytes, per strategy.

For held-out images with eye-tracking records (``--sources``, one record per image, the
ground-truth split ``--split``: ``val`` to choose, ``test`` to report), each image is encoded
with cjxl under each group-order strategy (encode's default cjxl flags, i.e.
``--progressive_dc=1``, one thread) and every byte budget of
:data:`attention_center.jxl.quality.BUDGETS` is decoded with ``djxl
--allow_partial_files`` and scored against the final image by
:mod:`attention_center.jxl.quality`: SSIM weighted by the image's human fixation density
(headline), plain SSIM over the whole image, and PSNR beside both.

Size classes:

* ``native``: the datasets' own sizes (OSIE 800x600, Scene mixed, FiWI 1366x768);
* ``large`` (2-12 MP): the split's real images of 2-12 MP, then held-out images (the
  same mix of sources as ``native``, FiWI web page screenshots included) **upscaled**
  (Lanczos) so that their area is about ``--large_mp`` megapixels, their fixations scaled
  with them (stated in every row: ``"upscaled": factor``).

Strategies: ``scanline`` (cjxl's default order), ``middle`` (``--group_order 1``),
``google`` (Google's centre, ``--google_model``), ``ours`` (our predicted centre, the
bundled default model), ``chosen`` (encode's ``--center_strategy chosen``), ``truth`` (the
human centre: the bound for a centre). The predictions are made on the file cjxl reads
(the upscaled one in the large class), as ``attention-center encode`` does.

Decoders (``--decoder``): ``djxl`` (above), ``chromium`` (what headless Chromium paints:
each budget served as a truncated download to one browser, screenshotted at the image's
natural size, device scale 1, and scored against Chromium's own paint of the whole file,
:mod:`benchmarks.browser.quality`; unlike djxl 0.7 it draws the ``--progressive_dc=1``
preview), or ``both`` (the same files, both decoders, one row each). With a browser and no
``--budgets``, the budgets start at 1 % (:data:`BROWSER_BUDGETS`), where the preview is.

Writes ``OUT/results_<split>.json`` and ``OUT/table_<split>.md`` (``djxl``), or
``OUT/results_<split>_chromium.json`` and ``OUT/table_<split>_chromium.md`` (``chromium``,
``both``). Run from the repository root (20 + 16 images, 2 jobs: about 12 minutes on 2
shared cores)::

    python benchmarks/progressive/quality_run.py --gt_dir /tmp/gt --split test \
        --per_class 20 --per_class_large 16 --large_mp 3

and what the browser paints beside djxl (10 + 8 images: about 16 minutes)::

    python benchmarks/progressive/quality_run.py --gt_dir /tmp/gt --split test \
        --per_class 10 --per_class_large 8 --large_mp 3 --decoder both
"""

from __future__ import annotations

import datetime
import json
import math
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from PIL import Image  # noqa: E402

from attention_center.core.atomic import atomic_write_json, atomic_write_text  # noqa: E402
from attention_center.jxl.center_choice import choose_for_prediction  # noqa: E402
from attention_center.jxl.defaults import (  # noqa: E402
    flags_cjxl_survives,
    with_default_flags,
)
from attention_center.jxl.encoder import encoder_center  # noqa: E402
from attention_center.jxl.quality import (  # noqa: E402
    FIXED_BUDGETS,
    fixation_density,
    quality_curve,
)
from benchmarks.progressive.inputs import num_groups, select_images  # noqa: E402
from benchmarks.progressive.measure import encode  # noqa: E402
from benchmarks.progressive.pool import run_pool  # noqa: E402

STRATEGIES = ("scanline", "middle", "google", "ours", "chosen", "truth")
METRICS = ("ssim_looked", "ssim_whole", "psnr_looked", "psnr_whole")
DECODERS = {"djxl": ("djxl",), "chromium": ("chromium",), "both": ("djxl", "chromium")}
#: Budgets with a browser: Chromium paints the --progressive_dc preview from about 1 %.
BROWSER_BUDGETS = ("0.01", "0.02", "0.05", "0.1", "0.15", "0.2", "0.3", "0.4", "0.5", "0.7", "1.0")

flags.DEFINE_string("gt_dir", "/tmp/gt", "Ground-truth build (index.jsonl).")
flags.DEFINE_string("split", "test", "Split of the images (val: choosing; test: reporting).")
flags.DEFINE_list("sources", ["osie_eye", "scene_eye", "fiwi_eye"], "Eye-tracking sources.")
flags.DEFINE_list("classes", ["native", "large"], "Size classes.")
flags.DEFINE_integer("per_class", 20, "Images per size class.", lower_bound=1)
flags.DEFINE_integer(
    "per_class_large", 0, "Images in the large class (0: --per_class).", lower_bound=0
)
flags.DEFINE_string(
    "report_only", None, "Re-read this results JSON and write the table (no measuring)."
)
flags.DEFINE_float("large_mp", 4.0, "Area of the upscaled images, megapixels.")
flags.DEFINE_list("strategies", list(STRATEGIES), "Strategies.")
flags.DEFINE_list(
    "budgets",
    ["0.05", "0.1", "0.15", "0.2", "0.3", "0.4", "0.5", "0.7", "1.0"],
    "Byte budgets decoded, fractions of the file (djxl 0.7 draws nothing before the DC "
    "image, ~20% of these files, so finer budgets below that add nothing).",
)
flags.DEFINE_enum(
    "decoder",
    "djxl",
    list(DECODERS),
    "What draws each byte budget: djxl --allow_partial_files, headless Chromium (one browser, "
    "screenshots; benchmarks/browser), or both on the same files.",
)
flags.DEFINE_integer("jobs", 2, "Encodings measured at once (the browser: one, after them).")
flags.DEFINE_string(
    "google_model",
    str(REPO.parent / "shared" / "anchors" / "google_center.tflite"),
    "Google's center.tflite (read in place, never copied).",
)
flags.DEFINE_string("model", None, "Our model (default: the bundled default model).")
flags.DEFINE_string(
    "out_dir", str(REPO / "benchmarks" / "progressive" / "results"), "Output folder."
)
flags.DEFINE_string("work_dir", None, "Scratch folder (default: a temporary one).")
FLAGS = flags.FLAGS


def _interleaved(rows: list[dict]) -> list[dict]:
    """Rows (in hashed order) taken from each source in turn: a mix of sources."""
    by_source: dict[str, list] = {}
    for row in rows:
        by_source.setdefault(row["source"], []).append(row)
    out, queues = [], list(by_source.values())
    while any(queues):
        for queue in queues:
            if queue:
                out.append(queue.pop(0))
    return out


def _images(work: Path) -> list[dict]:
    """The images of each class: ``{"cls", "image_id", "path", "hw", "points", "center",
    "upscaled"}`` (displayed pixels of the file at ``path``)."""
    rows, _ = select_images(
        FLAGS.gt_dir,
        FLAGS.split,
        FLAGS.sources,
        min_groups=2,
        training_datasets=("osie", "scene", "fiwi"),
    )
    rows = _interleaved(rows)
    chosen = []
    if "native" in FLAGS.classes:
        for row in rows[: FLAGS.per_class]:
            chosen.append(_item("native", row, row["image_abspath"], 1.0))
    if "large" in FLAGS.classes:
        real = [r for r in rows if r["original_hw"][0] * r["original_hw"][1] >= 2e6]
        real = [r for r in real if r["original_hw"][0] * r["original_hw"][1] <= 12e6]
        others = [r for r in rows if r not in real]  # the same mix of sources, upscaled
        for row in (real + others)[: FLAGS.per_class_large or FLAGS.per_class]:
            h, w = row["original_hw"]
            if h * w >= 2e6:
                chosen.append(_item("large", row, row["image_abspath"], 1.0))
                continue
            factor = math.sqrt(FLAGS.large_mp * 1e6 / (h * w))
            size = (round(w * factor), round(h * factor))
            path = work / "upscaled" / (row["image_id"].replace("/", "_") + ".png")
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.is_file():
                with Image.open(row["image_abspath"]) as image:
                    image.convert("RGB").resize(size, Image.Resampling.LANCZOS).save(
                        path, compress_level=1
                    )
            chosen.append(_item("large", row, str(path), factor, (size[1], size[0])))
    return chosen


def _item(cls: str, row: dict, path: str, factor: float, hw=None) -> dict:
    h, w = row["original_hw"]
    hw = (h, w) if hw is None else tuple(int(v) for v in hw)
    scale = np.array([hw[1] / w, hw[0] / h])
    return {
        "cls": cls,
        "image_id": row["image_id"],
        "source": row["source"],
        "path": path,
        "hw": hw,
        "points": (np.asarray(row["points"], np.float64) * scale).tolist(),
        "center": (np.asarray(row["center"], np.float64) * scale).tolist(),
        "upscaled": None if factor == 1.0 else round(factor, 3),
    }


def _predict(model: str | None, paths: list[str]) -> dict:
    """path -> (prediction's centre (x, y) displayed, the Prediction) for one model."""
    from attention_center.inference.prediction import predict_images
    from attention_center.inference.predictors import load_predictor

    predictor = load_predictor(model, num_threads=2)
    out = {}
    for path, prediction in zip(paths, predict_images(paths, predictor, batch_size=4)):
        out[path] = prediction if prediction.ok else None
    return out


def _strategy_center(strategy: str, item: dict, ours: dict, google: dict):
    """``(flags, encoded (x, y) or None, predicted (x, y) or None)``; ``None`` flags: no centre."""
    hw = tuple(item["hw"])
    if strategy == "scanline":
        return [], None, None
    if strategy == "middle":
        return ["--group_order", "1"], (hw[1] // 2, hw[0] // 2), (hw[1] / 2, hw[0] / 2)
    if strategy == "truth":
        center = encoder_center(item["center"], hw, 1)
        predicted = item["center"]
    else:
        prediction = (google if strategy == "google" else ours).get(item["path"])
        if prediction is None:
            return None, None, None
        predicted = [float(v) for v in prediction.center]
        center = encoder_center(prediction.center, hw, 1)
        if strategy == "chosen":
            center = choose_for_prediction(prediction, 1, model_center=center).center
    flags_ = ["--group_order", "1", "--center_x", str(center[0]), "--center_y", str(center[1])]
    return flags_, center, predicted


def _measure(item: dict, strategy: str, flags_: list[str], work: Path) -> dict:
    """One encoding's quality curve, or ``{"error": message}`` (the image is left out)."""
    try:
        return _measured(item, strategy, flags_, work)
    except Exception as error:  # noqa: BLE001 (reported, the other images go on)
        return {"error": f"{type(error).__name__}: {str(error)[-300:]}"}


def _measured(item: dict, strategy: str, flags_: list[str], work: Path) -> dict:
    folder = work / "files" / f"{item['cls']}_{item['image_id'].replace('/', '_')}_{strategy}"
    folder.mkdir(parents=True, exist_ok=True)
    started = time.time()
    center = None  # scanline: no centre-first order
    if flags_ == ["--group_order", "1"]:  # cjxl's own middle
        center = (item["hw"][1] // 2, item["hw"][0] // 2)
    if "--center_x" in flags_:
        center = (
            int(flags_[flags_.index("--center_x") + 1]),
            int(flags_[flags_.index("--center_y") + 1]),
        )
    # As encode does: no --progressive_dc where cjxl 0.7 crashes on it (jxl/defaults.py).
    cjxl_flags, _ = flags_cjxl_survives(with_default_flags(flags_), item["hw"], center)
    data = encode(item["path"], folder / "image.jxl", cjxl_flags)
    out = {"file_bytes": len(data)}
    if "djxl" in DECODERS[FLAGS.decoder]:
        density = fixation_density(item["points"], item["hw"])
        curve = quality_curve(data, density, _budgets(), work_dir=folder / "decode")
        out["djxl"] = {**curve.to_json(), "seconds": round(time.time() - started, 1)}
    if "chromium" in DECODERS[FLAGS.decoder]:
        out["file"] = str(folder / "image.jxl")  # scored by the browser, then removed
    else:
        (folder / "image.jxl").unlink(missing_ok=True)
    return out


def _budgets() -> list[float]:
    """The byte budgets measured, fractions of the file."""
    browser = "chromium" in DECODERS[FLAGS.decoder]
    chosen = BROWSER_BUDGETS if browser and not FLAGS["budgets"].present else FLAGS.budgets
    return [float(b) for b in chosen]


def _browser_pass(tasks: list, measured: dict) -> None:
    """Scores every encoded file in one headless Chromium (sequentially: Playwright's sync
    API stays on this thread); adds ``"chromium"`` (a curve, or ``{"error"}``) to each."""
    import hashlib

    from tqdm import tqdm

    from benchmarks.browser.quality import BrowserScorer

    todo = [(key, args[0]) for key, _, args in tasks if "file" in measured.get(key, {})]
    done: dict = {}  # (image, file's digest) -> curve: strategies that give the same file
    with BrowserScorer() as scorer:
        for key, item in tqdm(todo, desc=f"chromium {FLAGS.split}", unit="file"):
            result = measured[key]
            path = Path(result.pop("file"))
            started = time.time()
            try:
                data = path.read_bytes()
                digest = (key[0], hashlib.sha256(data).hexdigest())
                if digest not in done:
                    density = fixation_density(item["points"], item["hw"])
                    curve, _ = scorer.curve(f"{key[0]}_{key[1]}.jxl", data, density, _budgets())
                    done[digest] = {**curve.to_json(), "seconds": round(time.time() - started, 1)}
                result["chromium"] = done[digest]
            except Exception as error:  # noqa: BLE001 (reported, the other files go on)
                result["error"] = f"chromium: {type(error).__name__}: {str(error)[-300:]}"
            path.unlink(missing_ok=True)


def _check_browser() -> None:
    """A usage error (exit 2) before any work when Chromium or Playwright is missing."""
    import importlib.util

    from benchmarks.browser.chromium import chromium_path

    if chromium_path() is None:
        raise app.UsageError("--decoder needs Chromium: apt-get install chromium (or $CHROMIUM)")
    if importlib.util.find_spec("playwright") is None:
        raise app.UsageError("--decoder needs Playwright's Python API: pip install playwright")


def _decoder_of(row: dict) -> str:
    return row.get("decoder", "djxl")  # results written before --decoder: djxl


def _tables(results: list[dict]) -> tuple[str, dict]:
    """The markdown tables, one per decoder in the results, and ``{decoder: numbers}``."""
    decoders = [d for d in ("djxl", "chromium") if any(_decoder_of(r) == d for r in results)]
    if decoders == ["djxl"]:
        text, numbers = _summary(results)
        return text, {"djxl": numbers}
    parts, numbers = [], {}
    for decoder in decoders:
        text, numbers[decoder] = _summary([r for r in results if _decoder_of(r) == decoder])
        title = {
            "djxl": "djxl --allow_partial_files",
            "chromium": "headless Chromium's paint",
        }[decoder]
        parts.append(f"\n### Decoded by {title}\n{text}")
    return "\n".join(parts), numbers


def _summary(results: list[dict]) -> tuple[str, dict]:
    """The markdown table and the numbers behind it (rows of one decoder)."""
    from attention_center.jxl.quality import area_under_curve, value_at

    lines, numbers = [], {}
    for cls in FLAGS.classes:
        rows = [r for r in results if r["cls"] == cls]
        if not rows:
            continue
        images = sorted({r["image_id"] for r in rows})
        ok = [
            i
            for i in images
            if all(
                any(r["image_id"] == i and r["strategy"] == s for r in rows)
                for s in FLAGS.strategies
            )
        ]
        groups = [r["groups"] for r in rows if r["strategy"] == "scanline" and r["image_id"] in ok]
        mp = [r["hw"][0] * r["hw"][1] / 1e6 for r in rows if r["strategy"] == "scanline"]
        lines += [
            "",
            f"**{cls}**: {len(ok)} images, {min(mp):.1f}-{max(mp):.1f} MP, "
            f"{min(groups)}-{max(groups)} groups (median {int(np.median(groups))})"
            + (
                f"; {sum(1 for r in rows if r['strategy'] == 'scanline' and r['upscaled'])} "
                "upscaled (Lanczos), fixations scaled with them"
                if cls == "large"
                else ""
            ),
            "",
            "| strategy | AUC SSIM looked-at | @5% | @10% | @20% | @40% | gain over scanline "
            "| AUC SSIM whole | AUC PSNR looked-at (dB) | AUC PSNR whole (dB) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        table = {}
        for strategy in FLAGS.strategies:
            mine = {r["image_id"]: r for r in rows if r["strategy"] == strategy}
            per = {m: [] for m in METRICS}
            fixed = {b: [] for b in FIXED_BUDGETS}
            for i in ok:
                r = mine[i]
                for m in METRICS:
                    per[m].append(area_under_curve(r["budgets"], r["values"][m]))
                for b in FIXED_BUDGETS:
                    fixed[b].append(value_at(r["budgets"], r["values"]["ssim_looked"], b))
            table[strategy] = {
                "auc": {m: float(np.mean(v)) for m, v in per.items()},
                "per_image_auc": dict(zip(ok, per["ssim_looked"])),
                "at": {str(b): float(np.mean(v)) for b, v in fixed.items()},
            }
        base = table.get("scanline")
        for strategy, t in table.items():
            gain = t["auc"]["ssim_looked"] - base["auc"]["ssim_looked"] if base else float("nan")
            t["gain"] = gain
            lines.append(
                f"| {strategy} | {t['auc']['ssim_looked']:.4f} | "
                + " | ".join(f"{t['at'][str(b)]:.3f}" for b in FIXED_BUDGETS)
                + f" | {gain:+.4f} | {t['auc']['ssim_whole']:.4f} | "
                f"{t['auc']['psnr_looked']:.2f} | {t['auc']['psnr_whole']:.2f} |"
            )
        if "google" in table and base:
            g = table["google"]["gain"]
            for strategy in ("ours", "chosen"):
                if strategy in table:
                    ratio = table[strategy]["gain"] / g if g else float("inf")
                    lines.append("")
                    lines.append(
                        f"{strategy}/Google gain ratio ({cls}): {table[strategy]['gain']:+.4f} / "
                        f"{g:+.4f} = {ratio:.2f}"
                    )
                    table[strategy]["ratio_to_google"] = ratio
        numbers[cls] = table
    lines += _by_groups_and_error(results)
    return "\n".join(lines), numbers


def _by_groups_and_error(results: list[dict]) -> list[str]:
    """How the gain over scanline grows with the groups, and depends on the centre's error."""
    scan = {(r["cls"], r["image_id"]): r for r in results if r["strategy"] == "scanline"}
    from attention_center.jxl.quality import area_under_curve

    def gain(r):
        base = scan.get((r["cls"], r["image_id"]))
        if base is None:
            return None
        return area_under_curve(r["budgets"], r["values"]["ssim_looked"]) - area_under_curve(
            base["budgets"], base["values"]["ssim_looked"]
        )

    lines = [
        "",
        "**Gain over scanline (AUC, SSIM where people look) by the number of groups** "
        "(both classes pooled; mean, images):",
        "",
        "| groups | " + " | ".join(s for s in FLAGS.strategies if s != "scanline") + " |",
        "|---" * len(FLAGS.strategies) + "|",
    ]
    for low, high in ((2, 12), (13, 40), (41, 100), (101, 10**6)):
        cells = []
        for strategy in FLAGS.strategies:
            if strategy == "scanline":
                continue
            values = [
                g
                for r in results
                if r["strategy"] == strategy and low <= r["groups"] <= high
                for g in [gain(r)]
                if g is not None
            ]
            cells.append(f"{np.mean(values):+.3f} ({len(values)})" if values else "-")
        label = f"{low}-{high}" if high < 10**6 else f">{low - 1}"
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "**Gain over scanline by the centre's error** (distance from the encoded strategy's "
        "centre (predicted or middle) to the human centre, fraction of the diagonal; "
        "middle, google, ours and truth pooled; mean, images):",
        "",
        "| error | native | large |",
        "|---|---|---|",
    ]
    for low, high in ((0, 0.05), (0.05, 0.1), (0.1, 0.2), (0.2, 2)):
        cells = []
        for cls in FLAGS.classes:
            values = [
                g
                for r in results
                if r["cls"] == cls
                and r["strategy"] in ("middle", "google", "ours", "truth")
                and r.get("center_error") is not None
                and low <= r["center_error"] < high
                for g in [gain(r)]
                if g is not None
            ]
            cells.append(f"{np.mean(values):+.3f} ({len(values)})" if values else "-")
        lines.append(f"| {low:.2f}-{high:.2f} | " + " | ".join(cells) + " |")
    return lines


def main(argv):
    del argv
    started = time.time()
    if FLAGS.report_only:
        saved = json.loads(Path(FLAGS.report_only).read_text())
        text, _ = _tables(saved["results"])
        print(text)
        return
    if "chromium" in DECODERS[FLAGS.decoder]:
        _check_browser()
    work = Path(FLAGS.work_dir or tempfile.mkdtemp(prefix="quality_run_"))
    items = _images(work)
    paths = sorted({i["path"] for i in items})
    print(f"{len(items)} images ({len(paths)} files); predicting", flush=True)
    ours = _predict(FLAGS.model, paths) if {"ours", "chosen"} & set(FLAGS.strategies) else {}
    google = _predict(FLAGS.google_model, paths) if "google" in FLAGS.strategies else {}
    tasks, meta, same = [], {}, {}
    for n, item in enumerate(items):
        for strategy in FLAGS.strategies:
            flags_, center, predicted = _strategy_center(strategy, item, ours, google)
            if flags_ is None:
                continue
            key = (n, strategy)
            error = (
                None
                if predicted is None
                else float(np.hypot(*(np.subtract(predicted, item["center"]))))
                / float(np.hypot(*item["hw"]))
            )
            meta[key] = {
                "cls": item["cls"],
                "image_id": item["image_id"],
                "source": item["source"],
                "hw": list(item["hw"]),
                "upscaled": item["upscaled"],
                "groups": num_groups(item["hw"]),
                "strategy": strategy,
                "flags": flags_,
                "encoded_center": None if center is None else list(center),
                "predicted_center": predicted,
                "center_error": error,
            }
            first = same.setdefault((n, tuple(flags_)), key)  # same flags: same file
            if first == key:
                tasks.append((key, _measure, (item, strategy, flags_, work)))
    measured = dict(run_pool(FLAGS.jobs, tasks, f"quality {FLAGS.split}"))
    if "chromium" in DECODERS[FLAGS.decoder]:
        _browser_pass(tasks, measured)
    failed = {k: v["error"] for k, v in measured.items() if "error" in v}
    for key, error in failed.items():
        print(f"failed: {meta[key]['image_id']} {meta[key]['strategy']}: {error}", flush=True)
    images_failed = {key[0] for key in failed}
    meta = {k: v for k, v in meta.items() if k[0] not in images_failed}
    results = [
        {**info, "decoder": decoder, **measured[same[(key[0], tuple(info["flags"]))]][decoder]}
        for key, info in meta.items()
        for decoder in DECODERS[FLAGS.decoder]
    ]
    text, numbers = _tables(results)
    if FLAGS.decoder == "djxl":
        numbers = numbers["djxl"]  # as before --decoder
    out = Path(FLAGS.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/progressive/quality_run.py " + " ".join(sys.argv[1:])
    header = (
        f"Split {FLAGS.split}; {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"{time.time() - started:.0f} s; command: `{command}`"
    )
    suffix = "" if FLAGS.decoder == "djxl" else "_chromium"
    atomic_write_json(
        out / f"results_{FLAGS.split}{suffix}.json",
        {"command": command, "results": results, "summary": numbers},
        indent=None,
    )
    atomic_write_text(out / f"table_{FLAGS.split}{suffix}.md", header + "\n" + text + "\n")
    print(header + "\n" + text, flush=True)
    gains = {
        d: {c: {s: round(t["gain"], 4) for s, t in v.items()} for c, v in by_class.items()}
        for d, by_class in (numbers if FLAGS.decoder != "djxl" else {"djxl": numbers}).items()
    }
    print(json.dumps(gains))


if __name__ == "__main__":
    app.run(main)
