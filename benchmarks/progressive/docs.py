"""``docs/progressive.md``: written from the benchmarks' results (djxl, browser, tuning).

:func:`write_docs` reads ``benchmarks/progressive/results/results.json`` (the djxl
benchmark), ``benchmarks/progressive/results/tune.md`` (the centre-choice settings, on the
validation split) and ``benchmarks/browser/results/results.json`` (the browser benchmark),
whichever exist, and writes the page atomically; either benchmark calls it at the end of a
``--docs`` run, so the page always shows the latest of both.
"""

from __future__ import annotations

from pathlib import Path

from attention_center.core.atomic import atomic_write_text
from benchmarks.progressive import report
from benchmarks.progressive.cache import read_json

__all__ = ["write_docs"]


def _pct(value) -> str:
    return "-" if value is None else f"{value:.0%}"


def _headlines(results: dict) -> str:
    summary, images, models = results["summary"], results["images"], results["models"]
    sides = results["meta"]["regions"]
    lines = [f"- {report.headline(summary['all'], images, models, side)}" for side in sides]
    key = str(sides[0])
    for name, table in summary.items():
        if name != "all" and name not in report.POOLS:
            continue
        chosen, truth, oracle = (table.get(k) for k in ("chosen", "truth", "oracle"))
        if not (chosen and truth and oracle and table.get("ours")):
            continue
        lines.append(
            f"- **Chosen centre**, {'every held-out set' if name == 'all' else name} "
            f"({table['images']} images): {chosen[key]['mean']:.1%} of the file before the "
            f"{key}x{key} region is final, **{_pct(chosen[key]['share_truth'])} of the "
            f"distance from scanline order ({table['default'][key]['mean']:.1%}) to the "
            f"ground-truth centre ({truth[key]['mean']:.1%})** and "
            f"{_pct(chosen[key]['share_oracle'])} of the distance to the oracle "
            f"({oracle[key]['mean']:.1%}, the best order for the human region); our centre "
            f"as it is: {table['ours'][key]['mean']:.1%}, "
            f"{_pct(table['ours'][key]['share_truth'])} and "
            f"{_pct(table['ours'][key]['share_oracle'])}."
        )
    return "\n".join(lines)


def _djxl_section(results: dict) -> str:
    meta, summary = results["meta"], results["summary"]
    strategies, sides = meta["strategies"], meta["regions"]
    parts = [
        f"### All held-out sets ({summary['all']['images']} images)\n\n",
        report.table_markdown(summary["all"], strategies, sides),
    ]
    parts += [
        "\nPer set, 256x256 region (mean fraction of the file; shares of the "
        "distance from scanline to the bound):\n\n",
        report.sets_markdown(summary, strategies, sides[0]),
    ]
    for name in report.set_names(results["images"]):
        table = summary[name]
        parts += [
            f"\n<details><summary>{name}: {table['images']} images, every column</summary>\n\n",
            report.table_markdown(table, strategies, sides),
            "\n</details>\n",
        ]
    return "".join(parts)


def _model_check(results: dict) -> str:
    check = results["meta"].get("model_check") or {}
    if not check.get("files_checked"):
        return ""
    truth = check.get("truth_mean_abs")
    oracle = check.get("oracle_mean_abs")
    return (
        f"On the benchmark's own images the order read from {check['files_checked']} "
        f"real files (two per image: scanline and centre-first) matched the model in "
        f"**{check['orders_agree']} of {check['files_checked']}**; with the measured "
        f"group sizes the model predicts the djxl figure of the ground-truth centre to "
        f"{truth:.2%} of the file on average and the oracle's to {oracle:.2%} "
        f"({check['n']} images)."
    )


def _browser_section(browser: dict | None, table_path: Path) -> str:
    if not browser:
        return "Not run yet: `python benchmarks/browser/run.py` (after the djxl benchmark).\n"
    meta, agree = browser["meta"], browser["agreement"]
    text = table_path.read_text() if table_path.is_file() else ""
    first, region = agree.get("first_paint", {}), agree.get("region_final", {})
    return (
        f"{meta['images']} images ({', '.join(meta['sets'])}), {meta['chromium']}, "
        f"headless, driven by Playwright; {meta['date']}, {meta['seconds'] / 60:.0f} min. "
        f"Each cell: mean over files of the bytes, as a fraction of each file, until "
        f"the page shows anything (first paint) and until the {meta['side']}x"
        f"{meta['side']} region around the human centre is within "
        f"{meta['threshold_db']:g} dB of the browser's render of the whole file; found by "
        f"bisection to {meta['tolerance']:.2%} of the file. The djxl columns are "
        f"`djxl --allow_partial_files` on the same bytes with the same criterion.\n\n"
        f"{text}\n"
        f"Browser vs djxl on the same {region.get('files', 0)} files: region final "
        f"{region.get('mean', 0):+.1%} of the file on average (mean absolute difference "
        f"{region.get('mean_abs', 0):.1%}; {region.get('within_2pct', 0):.0%} of files "
        f"within 2% of the file); first paint {first.get('mean', 0):+.1%} (mean absolute "
        f"{first.get('mean_abs', 0):.1%}). Natural sizes that differ from the image: "
        f"{meta['natural_size_mismatches']}.\n\nCommand: `{meta['command']}`\n"
    )


def _mean_groups_seconds(results: dict) -> float:
    values = [
        i["groups"]["seconds"]
        for i in results["images"]
        if i.get("groups") and "seconds" in i["groups"]
    ]
    return sum(values) / len(values) if values else 0.0


def write_docs(repo: Path) -> Path:
    """Writes ``docs/progressive.md`` from whatever results exist; returns its path."""
    repo = Path(repo)
    results = read_json(repo / "benchmarks" / "progressive" / "results" / "results.json")
    browser = read_json(repo / "benchmarks" / "browser" / "results" / "results.json")
    tune = repo / "benchmarks" / "progressive" / "results" / "tune.md"
    template = (Path(__file__).with_name("docs_template.md")).read_text(encoding="utf-8")
    meta = results["meta"]
    fields = {
        "headlines": _headlines(results),
        "status": (
            f"\n**A check run on {meta['images']} of the {meta['eligible']} eligible "
            "images**, not the benchmark's figure.\n"
            if meta["images"] < meta["eligible"] and not meta.get("capped")
            else ""
        ),
        "djxl_tables": _djxl_section(results),
        "model_check": _model_check(results),
        "tune": tune.read_text(encoding="utf-8") if tune.is_file() else "(not run)\n",
        "browser": _browser_section(
            browser, repo / "benchmarks" / "browser" / "results" / "table.md"
        ),
        "images": meta["images"],
        "eligible": meta["eligible"],
        "by_source": ", ".join(f"{k} {v}" for k, v in meta.get("by_source", {}).items()),
        "sources": ", ".join(meta["sources"]),
        "split": meta["split"],
        "training": ", ".join(meta.get("training_datasets", [])),
        "left_out_source": meta["left_out_source"],
        "left_out_small": meta["left_out_small"],
        "gt_index": meta["gt_index"],
        "cjxl": meta["cjxl"],
        "cjxl_flags": " ".join(meta["cjxl_flags"]) or "none",
        "google": results["models"]["google"],
        "ours": results["models"]["ours"],
        "machine": meta["machine"],
        "date": meta["date"],
        "seconds": f"{meta['seconds']:.0f}",
        "cached": meta["cached"],
        "command": meta["command"],
        "threshold": f"{meta['threshold_db']:g}",
        "grid": f"{meta['grid_step']:.0%}",
        "sigma": meta.get("sigma"),
        "per_image": f"{meta['measure_seconds_per_image']:.0f}",
        "groups_seconds": f"{_mean_groups_seconds(results):.0f}",
    }
    path = repo / "docs" / "progressive.md"
    atomic_write_text(path, template.format(**fields))
    return path
