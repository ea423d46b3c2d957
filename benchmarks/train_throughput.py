"""Training throughput: images/s of the training step, and of the input pipeline alone.

Shows which is the bottleneck: if the pipeline's images/s is far above the
step's, the step (the accelerator or CPU compute) limits training.

    python benchmarks/train_throughput.py --input_size 240x320 --batch_size 16 \
        [--data gt] [--backbone efficientnet_lite0] [--frozen_level P2] [--steps 6]

The defaults are the bundled default model's training configuration
(EfficientNet-Lite0, stem frozen up to P2, the auxiliary saliency loss on density
maps). Runs under any Keras backend (KERAS_BACKEND=jax on the GPU machine).
"""

from __future__ import annotations

import time

import numpy as np
from absl import app, flags

flags.DEFINE_string("input_size", "240x320", "HxW.")
flags.DEFINE_integer("batch_size", 16, "Batch size.")
flags.DEFINE_integer("steps", 6, "Timed steps (after 2 warm-up steps).")
flags.DEFINE_string("backbone", "efficientnet_lite0", "Backbone (default: the bundled model's).")
flags.DEFINE_string(
    "frozen_level", "P2", "Keep stages up to this level frozen ('' = full fine-tune)."
)
flags.DEFINE_float("aux_saliency_weight", 1.0, "Weight of the saliency loss (0: centre loss only).")
flags.DEFINE_bool("frozen_backbone", False, "Freeze the whole backbone (head only).")
flags.DEFINE_string("data", None, "Portable ground-truth folder: also time the input pipeline.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import keras

    from attention_center.core.frames import parse_hw
    from attention_center.training.trainer import TrainConfig, Trainer, set_backbone_trainable

    height, width = parse_hw(FLAGS.input_size)
    config = TrainConfig(
        backbone=FLAGS.backbone,
        input_hw=(height, width),
        backbone_weights=None,
        batch_size=FLAGS.batch_size,
        out_dir="/tmp/tp",
        aux_saliency_weight=FLAGS.aux_saliency_weight,
    )
    trainer = Trainer(config)
    model = trainer.model()
    set_backbone_trainable(model, not FLAGS.frozen_backbone, FLAGS.frozen_level)
    trainer.compile(model, 1e-4, 0)
    rng = np.random.default_rng(0)
    frames = rng.random((FLAGS.batch_size, height, width, 3), dtype=np.float32)
    centers = rng.random((FLAGS.batch_size, 2)).astype(np.float32) * [width, height]
    map_stride = model.output_stride if FLAGS.aux_saliency_weight > 0 else None
    if map_stride:  # A density target of the weighting map's shape, as in training.
        density = rng.random((FLAGS.batch_size, height // map_stride, width // map_stride, 1))
        density = (density / density.sum(axis=(1, 2, 3), keepdims=True)).astype(np.float32)
    else:
        density = np.zeros((FLAGS.batch_size, 1, 1, 1), np.float32)
    targets = {"center": centers, "weight_map": density}
    for _ in range(2):
        model.train_on_batch(frames, targets)
    start = time.perf_counter()
    for _ in range(FLAGS.steps):
        model.train_on_batch(frames, targets)
    step_rate = FLAGS.steps * FLAGS.batch_size / (time.perf_counter() - start)
    print(
        f"backend={keras.backend.backend()} backbone={FLAGS.backbone} input={height}x{width} "
        f"batch={FLAGS.batch_size} frozen_level={FLAGS.frozen_level or '-'} "
        f"frozen_backbone={FLAGS.frozen_backbone} aux_saliency_weight={FLAGS.aux_saliency_weight}"
    )
    print(f"training step: {step_rate:.2f} images/s")
    if FLAGS.data:
        config.data_dir = FLAGS.data
        train, _ = trainer.datasets(map_stride)
        start, count = time.perf_counter(), 0
        for index in range(min(len(train), FLAGS.steps * 3)):
            count += len(train[index][0])
        first_rate = count / (time.perf_counter() - start)
        start, count = time.perf_counter(), 0
        for index in range(min(len(train), FLAGS.steps * 3)):
            count += len(train[index][0])
        cached_rate = count / (time.perf_counter() - start)
        print(
            f"input pipeline (PyDataset, augmenting{', density maps' if map_stride else ''}): "
            f"{first_rate:.1f} images/s first pass "
            f"(decoding), {cached_rate:.1f} images/s cached"
        )
        print(f"bottleneck: {'input pipeline' if cached_rate < step_rate else 'training step'}")


if __name__ == "__main__":
    app.run(main)
