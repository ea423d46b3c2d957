"""How far the int8 file moves the centre from the Keras model's, by kind of image.

The export's parity check (``python -m export``) runs on OSIE photos; users also send web
pages, charts and designs. This benchmark converts one Keras model to int8 with several
export settings in one run and measures, on held-out images of every kind in
``../shared/data`` (the val and test splits of ``export.images.CALIBRATION_FOLDERS``, never
calibrated on), the largest and the mean distance between the int8 file's centre and the
Keras model's, in frame pixels and as a fraction of the frame diagonal.

Settings (``--settings``, comma-separated):

- ``photos``: 0.4.0's export: calibrated on the Kodak photos and OSIE train-split stimuli,
  every layer but the gravity centre in int8;
- ``mixed``: calibrated on Kodak and the train split of every kind
  (``export.images.default_representative_paths``), every layer in int8;
- ``mixed_p2`` (today's default of ``python -m export``): ``mixed`` with the backbone's
  layers up to P2 in float (``--int8_float_until P2``);
- ``photos_p2``: photos calibration with the P2 layers in float;
- ``mixed_p2_mse``: ``mixed_p2`` with each activation's range narrowed to the one of least
  squared error over the calibration frames (``--int8_ranges mse``, :mod:`export.ranges`);
- ``mixed_p2_mse_bc``: ``mixed_p2_mse`` with each quantized op's bias corrected for the int8
  model's channel means (``--int8_bias_correction``, :mod:`export.bias_correction`).

The last column is each setting's mean of means over the first setting's (``--settings``
order; the default puts ``photos`` first).

Usage::

    python benchmarks/int8_parity_by_kind.py \\
        [--model attention_center/assets/default_model/model.keras] [--per_kind 30]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "model", "attention_center/assets/default_model/model.keras", "The .keras model."
)
flags.DEFINE_string("settings", "photos,mixed,photos_p2,mixed_p2", "Export settings to compare.")
flags.DEFINE_integer("per_kind", 30, "Held-out images per kind (evenly spaced).")
flags.DEFINE_integer("num_representative", 100, "Calibration images.")
flags.DEFINE_string("data_dir", None, "The shared data folder (default: ../shared/data).")
flags.DEFINE_string("json_out", None, "Also write the results here as JSON.")

#: Setting -> (calibration images, float_until, int8_ranges, int8_bias_correction).
SETTINGS = {
    "photos": ("photos", None, "minmax", False),
    "mixed": ("mixed", None, "minmax", False),
    "photos_p2": ("photos", "P2", "minmax", False),
    "mixed_p2": ("mixed", "P2", "minmax", False),
    "mixed_p2_mse": ("mixed", "P2", "mse", False),
    "mixed_p2_mse_bc": ("mixed", "P2", "mse", True),
}


def held_out_sets(data_dir: Path, per_kind: int) -> dict[str, list[Path]]:
    """Kind -> val/test-split images of that kind (evenly spaced, up to ``per_kind``)."""
    from attention_center.core.splits import split_of
    from export import images

    sets = {}
    for dataset, folder in images.CALIBRATION_FOLDERS.items():
        if not (data_dir / folder).is_dir():
            continue
        paths = [
            p
            for p in images.list_images(data_dir / folder)
            if split_of(f"{dataset}/{p.stem}") in ("val", "test")
        ]
        if paths:
            sets[dataset] = images._evenly_spaced(paths, per_kind)
    return sets


def calibration_paths(kind: str, data_dir: Path, count: int) -> list[Path]:
    from export import images

    if kind == "mixed":
        return images.default_representative_paths(count, data_dir)
    kodak = images.list_images(data_dir / "kodak")[:count]
    return kodak + images._evenly_spaced(
        images._osie_stimuli(data_dir, ["train"]), count - len(kodak)
    )


def main(argv):
    del argv
    from export import converter, images
    from export.parity import diagonal, keras_centers, parity_report
    from export.pipeline import Exporter

    data_dir = Path(FLAGS.data_dir) if FLAGS.data_dir else images.shared_data_dir()
    started = time.time()
    sets = held_out_sets(data_dir, FLAGS.per_kind)
    results = []
    with Exporter(FLAGS.model, progress=False) as exporter:
        frames = {k: images.load_frames(p) for k, p in sets.items()}
        reference = {k: keras_centers(exporter.model, f) for k, (_, f) in frames.items()}
        diag = diagonal(exporter.input_hw)
        for name in FLAGS.settings.split(","):
            calibration, until, int8_ranges, bias_correction = SETTINGS[name]
            cal = calibration_paths(calibration, data_dir, FLAGS.num_representative)
            _, cal_frames = images.load_frames(cal)
            float_layers = converter.backbone_layers_until(exporter.model, until) if until else []
            content = converter.convert_saved_model(
                exporter.saved_model(),
                "int8",
                lambda cal_frames=cal_frames: cal_frames,
                exporter.outputs,
                float_layers,
                int8_ranges,
                bias_correction,
            )
            row = {"setting": name, "size_mb": len(content) / 1e6}
            for kind, (names, kind_frames) in frames.items():
                report = parity_report(content, "int8", kind_frames, reference[kind], names)
                row[kind] = {
                    "images": report.num_images,
                    "max_px": report.max_px,
                    "max_diag": report.max_px / diag,
                    "mean_px": report.mean_px,
                    "worst": report.worst_image,
                }
            results.append(row)
            print(json.dumps(row), flush=True)
    kinds = list(sets)
    print(
        f"\n{FLAGS.model}; {int(time.time() - started)} s; held-out images per kind: "
        + ", ".join(f"{k} {len(v)}" for k, v in sets.items())
    )
    print(
        "\n| setting | size (MB) | "
        + " | ".join(f"{k} max / mean" for k in kinds)
        + f" | worst max | mean of means | / {results[0]['setting'] if results else '-'} |"
    )
    print("|---|---:|" + "---:|" * len(kinds) + "---:|---:|---:|")
    anchor = None
    for row in results:
        worst = max(row[k]["max_diag"] for k in kinds)
        mean = sum(row[k]["mean_px"] for k in kinds) / len(kinds)
        if anchor is None:
            anchor = mean
        ratio = f"{mean / anchor:.2f}" if anchor else "-"
        cells = " | ".join(
            f"{100 * row[k]['max_diag']:.2f}% / {row[k]['mean_px']:.1f} px" for k in kinds
        )
        print(
            f"| {row['setting']} | {row['size_mb']:.2f} | {cells} | {100 * worst:.2f}% "
            f"| {mean:.1f} px | {ratio} |"
        )
    if FLAGS.json_out:
        Path(FLAGS.json_out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    app.run(main)
