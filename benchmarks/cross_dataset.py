"""The cross-dataset table: each held-out dataset scored by every model that never saw it.

In one run, on the same images (``attention_center.evaluation.cross_dataset``): the image
centre, the dataset-mean centre, Google's ``center.tflite`` (the anchor), the presets given
with ``--model`` (e.g. ``large`` = the 1.3.0 model, ``default``), the row's leave-one-
dataset-out model (``--held_out DATASET=MODEL``, trained without that dataset), and the
human split-half ceiling. Prints the tables and, per row, our mean error over Google's, the
dataset-mean centre's and any ``--compare_with`` column's, each as a ratio with a 95% paired
bootstrap interval over the row's images (``RowResult.ratio``): an interval that spans 1 means
the row cannot tell the two apart.

Run from the repository root, on a build holding every row's source::

    python benchmarks/cross_dataset.py --data /work/gt2 --model large --model default \\
        --held_out fiwi=runs/loo_fiwi/model.tflite ... --markdown docs/cross_dataset.md

Google's model runs on TensorFlow's tf.lite interpreter (it falls back to slow kernels in
ai-edge-litert: same outputs, 8x the time); ours on ai-edge-litert, as ``predict`` runs them.
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
from pathlib import Path

from absl import app, flags

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.anchor import GOOGLE_COLUMN, GOOGLE_MODEL, named_specs  # noqa: E402

flags.DEFINE_string("data", str(REPO.parent / "gt2"), "Ground-truth build with every row's source.")
flags.DEFINE_multi_string(
    "model",
    [],
    "A model scored in every row: NAME=SPEC or a preset name "
    "(default, large) or a file. Repeatable.",
)
flags.DEFINE_multi_string(
    "held_out",
    [],
    "DATASET=MODEL: a model that never trained on that "
    "row's images (trained without DATASET; for a test-split row, one not "
    "trained on that split), scored on that row only. Repeatable.",
)
flags.DEFINE_string(
    "ours",
    None,
    "Column to compare with Google's in the ratio line "
    "(default: the held-out column if any, else the last --model).",
)
flags.DEFINE_string(
    "google_model", str(GOOGLE_MODEL), "Google's center.tflite ('' to leave it out)."
)
flags.DEFINE_list("rows", [], "Only these datasets (default: every row of HELD_OUT_SETS).")
flags.DEFINE_bool(
    "in_domain",
    False,
    "Also the in-domain rows (IN_DOMAIN_SETS: val+test splits of the web pages, charts, designs "
    "and SALICON, for a model trained on their train splits), each with its model over the "
    "dataset-mean centre.",
)
flags.DEFINE_list(
    "in_domain_splits",
    ["val", "test"],
    "Splits of the in-domain rows (test alone: none of them chose a setting such as the "
    "temperature of `attention-center calibrate`, which is chosen on val).",
)
flags.DEFINE_list(
    "compare_with",
    [GOOGLE_COLUMN, "dataset-mean centre"],
    "Columns the --ours column is compared with, row by row: the ratio of the mean errors and "
    "its paired bootstrap 95% interval over the row's images (e.g. add `large`).",
)
flags.DEFINE_integer("seed", 0, "Seed of the bootstrap intervals.")
flags.DEFINE_string("markdown", None, "Also write the command and the tables here.")
flags.DEFINE_string("json", None, "Also write every summary here.")
flags.DEFINE_integer("batch_size", 8, "Images per model call.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from attention_center.core.atomic import atomic_write_json, atomic_write_text
    from attention_center.evaluation.cross_dataset import (
        HELD_OUT_SETS,
        IN_DOMAIN_SETS,
        cross_dataset_table,
        markdown_tables,
    )
    from attention_center.inference.predictors import TFLitePredictor

    models = {}
    if FLAGS.google_model:
        models[GOOGLE_COLUMN] = TFLitePredictor(FLAGS.google_model, runtime="tf")
    models.update(named_specs(FLAGS.model))
    held_out = named_specs(FLAGS.held_out)
    in_domain = tuple(
        dataclasses.replace(
            row,
            splits=tuple(FLAGS.in_domain_splits),
            label=row.label.replace("+".join(row.splits), "+".join(FLAGS.in_domain_splits)),
        )
        for row in IN_DOMAIN_SETS
    )
    every = HELD_OUT_SETS + (in_domain if FLAGS.in_domain else ())
    rows = [r for r in every if not FLAGS.rows or r.dataset in FLAGS.rows]
    results = cross_dataset_table(FLAGS.data, rows, models, held_out, batch_size=FLAGS.batch_size)
    held_name = "ours (never trained on these images)"
    columns = (
        ["image centre", "dataset-mean centre"]
        + list(models)
        + ([held_name] if held_out else [])
        + ["human split-half"]
    )
    tables = markdown_tables(results, columns)
    ours = FLAGS.ours or (held_name if held_out else (list(models)[-1] if models else None))
    ratio_lines, ratios = [], []
    for result in results:
        mine = (result.summaries.get(ours) or {}).get("mean_error")
        if mine is None:
            continue
        parts = []
        for baseline in FLAGS.compare_with:
            other = (result.summaries.get(baseline) or {}).get("mean_error")
            if not other or baseline == ours:
                continue
            interval = result.ratio(ours, baseline, seed=FLAGS.seed)
            parts.append(f"vs {baseline} {other:.4f}: {interval}")
            ratios.append(
                {"dataset": result.row.dataset, "label": result.row.label, "method": ours}
                | {"baseline": baseline}
                | dataclasses.asdict(interval)
            )
        if parts:
            ratio_lines.append(f"- {result.row.label}: {ours} {mine:.4f}; " + "; ".join(parts))
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    print(tables)
    print("\n".join(ratio_lines))
    for result in results:
        for failure in result.failures:
            print(f"unreadable, left out: {failure}", file=sys.stderr)
    if FLAGS.markdown:
        atomic_write_text(
            FLAGS.markdown, f"```sh\n{command}\n```\n\n{tables}\n" + "\n".join(ratio_lines) + "\n"
        )
    if FLAGS.json:
        atomic_write_json(
            FLAGS.json,
            {
                "command": command,
                "rows": [
                    {
                        "dataset": r.row.dataset,
                        "source": r.row.source,
                        "splits": list(r.row.splits),
                        "num_images": r.num_images,
                        "summaries": r.summaries,
                    }
                    for r in results
                ],
                "ratios": ratios,
            },
        )
    return 0


if __name__ == "__main__":
    app.run(main)
