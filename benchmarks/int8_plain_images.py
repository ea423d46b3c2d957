"""Where the int8 files put the centre on plain images: flat frames and blurred photos.

The export's parity check runs on sharp photos. On a flat, dark or blurred image the float
model's weighting map is low everywhere (about 0.001); TFLite's int8 sigmoid has a fixed
step of 1/256, so every cell can round to 0 and the gravity centre of an all-zero map is
(0, 0), the top-left corner (0.9.0's export of model 3.4 did that; 3.4.1 keeps the sigmoid
in float32: ``export.converter.FLOAT_SIGMOID``). This benchmark runs each ``--model``
(``.tflite`` files, our Keras model as the reference, Google's ``center.tflite`` as the
anchor) on flat grey, black and white frames and on the Kodak photos blurred by
``--blur`` pixels (Gaussian radius), and prints, per model, how many centres fall in the
frame's corner (within 1% of the diagonal of (0, 0)) and the mean and largest distance to
the Keras model's centre, in pixels of the image.

Usage::

    python benchmarks/int8_plain_images.py --data_dir ../shared/data \\
        --model "3.4 (0.9.0 export)=runs/model_3.4.0.tflite" \\
        --model 3.4=attention_center/assets/default_model/model.tflite \\
        --keras attention_center/assets/default_model/model.keras \\
        --anchor ../shared/anchors/google_center.tflite
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from absl import app, flags
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", "../shared/data", "The shared data folder (kodak/ in it).")
flags.DEFINE_multi_string("model", [], "NAME=PATH of a .tflite file (repeatable).")
flags.DEFINE_string(
    "keras", "attention_center/assets/default_model/model.keras", "The float reference."
)
flags.DEFINE_string("anchor", None, "Google's center.tflite (the anchor), if at hand.")
flags.DEFINE_list("blur", ["4", "8", "16"], "Gaussian blur radii, pixels.")


def plain_images(data_dir: Path, radii) -> dict[str, np.ndarray]:
    """``name -> uint8 [h, w, 3]``: three flat 480x640 frames and the blurred Kodak photos."""
    images = {f"flat {v}": np.full((480, 640, 3), v, np.uint8) for v in (0, 128, 255)}
    for path in sorted((data_dir / "kodak").glob("*.png")):
        with Image.open(path) as photo:
            rgb = photo.convert("RGB")
            for radius in radii:
                blurred = rgb.filter(ImageFilter.GaussianBlur(float(radius)))
                images[f"{path.stem} blur {radius}"] = np.asarray(blurred)
    return images


def main(argv) -> int:
    del argv
    import attention_center as ac

    images = plain_images(Path(FLAGS.data_dir), FLAGS.blur)
    names = list(images)
    pixels = [images[n] for n in names]
    reference = ac.predict(pixels, model=ac.load_predictor(FLAGS.keras))
    models = [spec.split("=", 1) for spec in FLAGS.model]
    if FLAGS.anchor:
        models.append(["Google center.tflite", FLAGS.anchor])
    print(f"{len(names)} images: 3 flat frames, Kodak blurred by {', '.join(FLAGS.blur)} px")
    print("| model | centres in the corner | mean distance to Keras (px) | largest (px) |")
    print("|---|---:|---:|---:|")
    for name, path in models:
        centers = ac.predict(pixels, model=ac.load_predictor(path))
        diagonals = np.array([np.hypot(*images[n].shape[:2]) for n in names])
        corner = int((np.linalg.norm(centers, axis=1) <= 0.01 * diagonals).sum())
        if path == FLAGS.anchor:  # another model: its distance to ours says nothing of int8
            print(f"| {name} | {corner} | - | - |")
            continue
        distance = np.linalg.norm(centers - reference, axis=1)
        print(f"| {name} | {corner} | {distance.mean():.1f} | {distance.max():.1f} |")
    return 0


if __name__ == "__main__":
    app.run(main)
