"""Progressive JPEG XL in a real browser: bytes until first paint and until the region is final.

For images of the djxl benchmark (``benchmarks/progressive/results/results.json``: the
same held-out images, human centres and per-strategy centres, chosen and oracle
included), each strategy's file is encoded with and without ``--progressive_dc=1``,
served by :class:`benchmarks.browser.server.PartialServer` (first N bytes, then the
connection held open) to headless Chromium driven by Playwright, and screenshotted
(:class:`benchmarks.browser.render.Renderer`). Per file, by bisection on N
(:mod:`benchmarks.browser.search`): the bytes until anything is drawn (first paint) and
until the 256x256 region around the human centre is within ``--threshold_db`` of the
browser's own render of the whole file; the same two figures from ``djxl
--allow_partial_files`` on the same bytes, to check that the browser agrees with the djxl
benchmark. Cached per file content (identical files, e.g. ``--progressive_dc`` on a JPEG
that cjxl transcodes losslessly and so ignores it, are measured once).

Writes ``OUT/results.json`` and ``OUT/table.md``; with ``--docs`` regenerates
``docs/progressive.md``. Run from the repository root after the djxl benchmark::

    python benchmarks/browser/run.py --max_per_source 6
"""

from __future__ import annotations

import datetime
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
from attention_center.jxl.center_choice import region_box  # noqa: E402
from attention_center.jxl.encoder import EncoderError  # noqa: E402
from attention_center.jxl.partial import PrefixDecoder  # noqa: E402
from benchmarks.browser import search  # noqa: E402
from benchmarks.browser.chromium import chromium_path, launch  # noqa: E402
from benchmarks.browser.render import Renderer, painted  # noqa: E402
from benchmarks.browser.server import PartialServer  # noqa: E402
from benchmarks.progressive.cache import Cache, read_json  # noqa: E402
from benchmarks.progressive.measure import encode  # noqa: E402
from benchmarks.progressive.strategies import LABELS, strategy_flags  # noqa: E402

flags.DEFINE_string(
    "progressive_results",
    str(REPO / "benchmarks" / "progressive" / "results" / "results.json"),
    "The djxl benchmark's results.",
)
flags.DEFINE_string("out_dir", str(REPO / "benchmarks" / "browser" / "results"), "Output folder.")
flags.DEFINE_string("cache_dir", str(REPO / "benchmarks" / "progressive" / "cache"), "Cache.")
flags.DEFINE_list("strategies", ["default", "google", "ours", "chosen", "oracle"], "Strategies.")
flags.DEFINE_list("variants", ["", "--progressive_dc=1"], "Extra cjxl flags compared ('' = none).")
flags.DEFINE_integer("max_images", 0, "Images (0 = all of the djxl benchmark).", lower_bound=0)
flags.DEFINE_integer(
    "max_per_source", 6, "At most this many images per set (0 = all).", lower_bound=0
)
flags.DEFINE_integer("side", 256, "Side of the looked-at region, pixels.")
flags.DEFINE_float("threshold_db", 50.0, "PSNR vs the final render at which the region is final.")
flags.DEFINE_float("tolerance", 0.0025, "Bisection tolerance, fraction of the file.")
flags.DEFINE_bool("docs", True, "Regenerate docs/progressive.md.")
FLAGS = flags.FLAGS


def chromium_version() -> str:
    path = chromium_path()
    if path is None:
        return "none"
    run = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return run.stdout.strip()


def pick_images(results: dict) -> list[dict]:
    """Images of the djxl benchmark with every group measured, at most N per set, in order."""
    chosen, per_set = [], {}
    for image in results["images"]:
        if not image.get("oracle") or image.get("orientation", 1) != 1:
            continue
        per_set[image["source"]] = per_set.get(image["source"], 0) + 1
        if FLAGS.max_per_source and per_set[image["source"]] > FLAGS.max_per_source:
            continue
        chosen.append(image)
    return chosen[: FLAGS.max_images] if FLAGS.max_images else chosen


def measure_file(
    renderer: Renderer, server: PartialServer, name: str, data: bytes, box, work: Path
) -> dict:
    """Browser and djxl figures for one file (bytes)."""
    total = len(data)
    tolerance = max(1, int(total * FLAGS.tolerance))
    server.add(name, data)
    started = time.time()
    renders_before = renderer.renders
    with PrefixDecoder(data, work_dir=work) as djxl:
        hw = djxl.full.shape[:2]
        final = renderer.render(name, total, hw)
        natural = renderer.natural_size()

        def browser(n):
            return renderer.render(name, n, hw)

        result = {
            "bytes": total,
            "natural_hw": list(natural),
            "decoded_hw": list(hw),
            "browser": {
                "first_paint": search.first_paint(browser, total, tolerance, painted),
                "region_final": search.region_final(
                    browser, total, tolerance, final, box, FLAGS.threshold_db
                ),
            },
            "djxl": {
                "first_paint": search.first_paint(djxl, total, tolerance),
                "region_final": search.region_final(
                    djxl, total, tolerance, djxl.full, box, FLAGS.threshold_db
                ),
            },
        }
    result["renders"] = renderer.renders - renders_before
    result["seconds"] = round(time.time() - started, 1)
    return result


def summarize(rows: list[dict], strategies: list[str], variants: list[str]) -> dict:
    """(strategy, variant) -> means of the figures as fractions of each file, and kB."""
    table = {}
    for strategy in strategies:
        for variant in variants:
            cells = [r for r in rows if r["strategy"] == strategy and r["variant"] == variant]
            if not cells:
                continue
            entry = {
                "files": len(cells),
                "mean_kb": float(np.mean([c["bytes"] for c in cells])) / 1e3,
            }
            for who in ("browser", "djxl"):
                for what in ("first_paint", "region_final"):
                    entry[f"{who}_{what}"] = float(
                        np.mean([c[who][what] / c["bytes"] for c in cells])
                    )
            base = [
                r
                for r in rows
                if r["strategy"] == strategy
                and r["variant"] == ""
                and r["image_id"] in {c["image_id"] for c in cells}
            ]
            entry["size_vs_plain"] = (
                float(np.sum([c["bytes"] for c in cells]) / np.sum([b["bytes"] for b in base]))
                if base
                else None
            )
            table[f"{strategy}|{variant}"] = entry
    return table


def agreement(rows: list[dict]) -> dict:
    """How close the browser's figures are to djxl's on the same files (fractions of a file)."""
    out = {}
    for what in ("first_paint", "region_final"):
        diff = np.array([(r["browser"][what] - r["djxl"][what]) / r["bytes"] for r in rows])
        out[what] = {
            "mean_abs": float(np.mean(np.abs(diff))),
            "mean": float(np.mean(diff)),
            "within_2pct": float(np.mean(np.abs(diff) <= 0.02)),
            "files": len(rows),
        }
    return out


def table_markdown(table: dict, strategies: list[str], variants: list[str], side: int) -> str:
    lines = [
        f"| strategy | cjxl flags | files | first paint: browser | djxl | {side}x{side} "
        "region final: browser | djxl | mean file (kB) | file size vs no flag |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for strategy in strategies:
        for variant in variants:
            entry = table.get(f"{strategy}|{variant}")
            if entry is None:
                continue
            size = entry["size_vs_plain"]
            lines.append(
                f"| {strategy}: {LABELS.get(strategy, '')} | {variant or 'none'} | "
                f"{entry['files']} | {entry['browser_first_paint']:.1%} | "
                f"{entry['djxl_first_paint']:.1%} | {entry['browser_region_final']:.1%} | "
                f"{entry['djxl_region_final']:.1%} | {entry['mean_kb']:.1f} | "
                f"{'-' if size is None or not variant else f'{size - 1:+.1%}'} |"
            )
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    from playwright.sync_api import sync_playwright

    started = time.time()
    results = read_json(Path(FLAGS.progressive_results))
    if not results:
        sys.exit(f"{FLAGS.progressive_results}: run benchmarks/progressive/run.py first")
    images = pick_images(results)
    variants = [v.strip() for v in FLAGS.variants]
    strategies = [s for s in FLAGS.strategies if s]
    cache = Cache(FLAGS.cache_dir)
    version = chromium_version()
    settings = {
        "side": FLAGS.side,
        "threshold_db": FLAGS.threshold_db,
        "tolerance": FLAGS.tolerance,
        "chromium": version,
        "version": 2,
    }
    print(
        f"{len(images)} images x {len(strategies)} strategies x {len(variants)} variants; "
        f"{version}",
        flush=True,
    )
    rows, failures = [], 0
    work = Path(tempfile.mkdtemp(prefix="browser_bench_"))
    try:
        with sync_playwright() as playwright, PartialServer() as server:
            browser = launch(playwright)
            renderer = Renderer(browser, server)
            for k, image in enumerate(images):
                row = {"center": image["center"], "original_hw": image["original_hw"]}
                box = region_box(image["center"], image["original_hw"], FLAGS.side)
                path = image["abspath"]
                for strategy in strategies:
                    base_flags = strategy_flags(
                        strategy,
                        row,
                        image["predicted"],
                        1,
                        image.get("chosen_center"),
                        image.get("oracle"),
                    )
                    if base_flags is None:
                        continue
                    for variant in variants:
                        all_flags = [
                            *base_flags,
                            *([variant] if variant else []),
                            *results["meta"].get("cjxl_flags", []),
                        ]
                        try:
                            data = encode(path, work / "file.jxl", all_flags)
                        except EncoderError as error:
                            failures += 1
                            print(
                                f"{image['image_id']} {strategy} {variant}: {error}",
                                file=sys.stderr,
                            )
                            continue
                        key = {"jxl": cache.digest_bytes(data), **settings, "box": list(box)}
                        hit = cache.get("browser", key)
                        if hit is None:
                            hit = measure_file(
                                renderer, server, f"{k}.jxl", data, box, work / "decode"
                            )
                            cache.put("browser", key, hit)
                        rows.append(
                            {
                                "image_id": image["image_id"],
                                "source": image["source"],
                                "input": Path(path).suffix.lower().lstrip("."),
                                "strategy": strategy,
                                "variant": variant,
                                **hit,
                            }
                        )
                print(
                    f"[{k + 1}/{len(images)}] {image['image_id']}: {time.time() - started:.0f} s",
                    flush=True,
                )
            renderer.close()
            browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = summarize(rows, strategies, variants)
    text = table_markdown(table, strategies, variants, FLAGS.side)
    pixels = [r for r in rows if r["input"] not in ("jpg", "jpeg")]
    pixel_table = summarize(pixels, strategies, variants) if pixels else {}
    if pixels:
        text += (
            f"\nNon-JPEG inputs only ({len({r['image_id'] for r in pixels})} images; cjxl "
            "transcodes JPEGs losslessly and ignores `--progressive_dc` for them, so "
            "their files are identical with and without it):\n\n"
            + table_markdown(pixel_table, strategies, variants, FLAGS.side)
        )
    agree = agreement(rows) if rows else {}
    bad_sizes = [r for r in rows if r["natural_hw"] != r["decoded_hw"]]
    meta = {
        "images": len(images),
        "sets": sorted({i["source"] for i in images}),
        "strategies": strategies,
        "variants": variants,
        "chromium": version,
        "side": FLAGS.side,
        "threshold_db": FLAGS.threshold_db,
        "tolerance": FLAGS.tolerance,
        "date": datetime.date.today().isoformat(),
        "seconds": time.time() - started,
        "failures": failures,
        "natural_size_mismatches": len(bad_sizes),
        "command": "python benchmarks/browser/run.py "
        + " ".join(a for a in sys.argv[1:] if not a.startswith(("--out_dir", "--cache_dir"))),
    }
    out = Path(FLAGS.out_dir)
    atomic_write_json(
        out / "results.json",
        {
            "meta": meta,
            "summary": table,
            "summary_non_jpeg": pixel_table,
            "agreement": agree,
            "rows": rows,
        },
    )
    atomic_write_text(out / "table.md", text)
    print(text)
    print(f"agreement browser vs djxl: {agree}")
    if FLAGS.docs:
        from benchmarks.progressive import docs

        docs.write_docs(REPO)
        print(f"wrote {REPO / 'docs' / 'progressive.md'}")
    if failures:
        sys.exit(f"{failures} encodings failed")


if __name__ == "__main__":
    app.run(main)
