"""``python -m attention_center.train``: train an attention-centre model.

Example (the bundled default model; see MODEL_CARD.md)::

    python -m ground_truth build --source osie_eye,scene_eye --data_dir ../shared/data --out gt
    python -m attention_center.train --data gt --out runs/default

Flags may also come from ``--config file.json`` (or ``.yaml``); flags given on
the command line win. Runs on any Keras backend (``KERAS_BACKEND=jax`` on a
machine without TensorFlow).
"""

from __future__ import annotations

import json
import os
import sys

from absl import app, flags

from attention_center.image import parse_hw

FLAGS = flags.FLAGS
flags.DEFINE_string("config", None, "JSON or YAML file of flag values (command line wins).")
flags.DEFINE_string("data", None, "Portable ground-truth folder from `python -m ground_truth build`.")
flags.DEFINE_string("out", "runs/default", "Run folder: checkpoints, logs, model.keras.")
flags.DEFINE_list("sources", ["osie_eye", "scene_eye"], "Record sources to train on.")
flags.DEFINE_list("train_splits", ["train"], "Ground-truth splits to train on (train,val for "
                  "the final retrain once the settings are chosen; never test).")
flags.DEFINE_string("val_split", "val", "Split for the best checkpoint and early stopping; "
                    "empty: none (a fixed epoch count, model.keras = the last epoch).")
flags.DEFINE_string("backbone", "mobilenet_v2", "Registered backbone name.")
flags.DEFINE_float("alpha", 1.0, "Backbone width multiplier (families that have one).")
flags.DEFINE_list("levels", ["P2", "P3", "P4", "P5"], "Pyramid levels the head taps.")
flags.DEFINE_integer("head_width", 64, "Channels of the head.")
flags.DEFINE_integer("head_convs", 1, "3x3 convolutions after aggregation.")
flags.DEFINE_enum("upsampling", "bilinear", ["bilinear", "transpose"], "Head upsampling.")
flags.DEFINE_enum("aggregation", "add", ["add", "concat"], "Head aggregation.")
flags.DEFINE_float("dropout", 0.1, "Spatial dropout in the head.")
flags.DEFINE_string("backbone_weights", "imagenet",
                    "imagenet | offline | keras | none | path to .weights.h5")
flags.DEFINE_string("input_size", "240x320", "Training input HxW (4:3; the model frame is 480x640).")
flags.DEFINE_integer("batch_size", 16, "Images per batch (global, across replicas).")
flags.DEFINE_integer("epochs", 12, "Total epochs (warm-up + fine-tune).")
flags.DEFINE_integer("freeze_epochs", 2, "Epochs with the backbone frozen (head warm-up).")
flags.DEFINE_string("frozen_level", "", "Stages up to this level's tap stay frozen after thawing "
                    "(e.g. P2); empty: thaw everything.")
flags.DEFINE_float("learning_rate", 3e-4, "Peak learning rate of the fine-tune phase (cosine).")
flags.DEFINE_float("head_learning_rate", 1e-3, "Learning rate of the warm-up phase.")
flags.DEFINE_float("weight_decay", 1e-4, "AdamW weight decay.")
flags.DEFINE_float("aux_saliency_weight", 1.0, "Weight of the KL+CC loss on the weighting map "
                   "against fixation density maps (0: centre loss only). Default 1: measured "
                   "to lower the validation centre error (MODEL_CARD.md).")
flags.DEFINE_float("density_sigma", 12.0, "Density-map Gaussian sigma, training-frame pixels.")
flags.DEFINE_float("min_scale", 0.8, "Smallest random crop side (1.0: no crop augmentation).")
flags.DEFINE_integer("patience", 6, "Early-stopping patience (epochs) on validation error.")
flags.DEFINE_integer("seed", 0, "Seed for weights, shuffling and augmentation.")
flags.DEFINE_integer("max_images", 0, "Use only this many training images (smoke runs); 0: all.")
flags.DEFINE_bool("mixed_precision", False, "float16 (TF) / bfloat16 (JAX) compute; for GPUs.")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multiworker", "tpu"],
                  "Distribution strategy.")
flags.DEFINE_bool("tensorboard", True, "TensorBoard logs (TensorFlow backend).")
flags.DEFINE_string("save_freq", "epoch", "Backup every epoch, or every N batches.")
flags.DEFINE_integer("workers", 1, "PyDataset worker threads.")
flags.DEFINE_integer("verbose", 2, "Keras fit verbosity (1: progress bar).")

_TRAIN_FLAGS = ("data", "out", "sources", "train_splits", "val_split", "backbone", "alpha", "levels", "head_width",
                "head_convs", "upsampling", "aggregation", "dropout", "backbone_weights",
                "input_size", "batch_size", "epochs", "freeze_epochs", "frozen_level",
                "learning_rate", "head_learning_rate", "weight_decay", "aux_saliency_weight",
                "density_sigma", "min_scale", "patience", "seed", "max_images",
                "mixed_precision", "strategy", "tensorboard", "save_freq", "workers", "verbose")


def _apply_config_file(path: str):
    """Sets flags from a JSON/YAML file, except those given on the command line."""
    with open(path, encoding="utf-8") as handle:
        if path.endswith((".yaml", ".yml")):
            import yaml

            values = yaml.safe_load(handle)
        else:
            values = json.load(handle)
    for name, value in (values or {}).items():
        if name not in _TRAIN_FLAGS:
            raise ValueError(f"{path}: unknown training flag {name!r}")
        if not FLAGS[name].present:
            FLAGS[name].value = value


def config_from_flags():
    from attention_center.training.trainer import TrainConfig

    weights = FLAGS.backbone_weights
    return TrainConfig(
        data_dir=FLAGS.data, out_dir=FLAGS.out, sources=tuple(FLAGS.sources),
        train_splits=tuple(FLAGS.train_splits), val_split=FLAGS.val_split,
        backbone=FLAGS.backbone, alpha=FLAGS.alpha, levels=tuple(FLAGS.levels),
        head_width=FLAGS.head_width, head_convs=FLAGS.head_convs, upsampling=FLAGS.upsampling,
        aggregation=FLAGS.aggregation, dropout=FLAGS.dropout,
        backbone_weights=None if weights.lower() == "none" else weights,
        input_hw=parse_hw(FLAGS.input_size), batch_size=FLAGS.batch_size, epochs=FLAGS.epochs,
        freeze_epochs=FLAGS.freeze_epochs, frozen_level=FLAGS.frozen_level,
        learning_rate=FLAGS.learning_rate, head_learning_rate=FLAGS.head_learning_rate,
        weight_decay=FLAGS.weight_decay, aux_saliency_weight=FLAGS.aux_saliency_weight,
        density_sigma=FLAGS.density_sigma, min_scale=FLAGS.min_scale, patience=FLAGS.patience,
        seed=FLAGS.seed, max_images=FLAGS.max_images, mixed_precision=FLAGS.mixed_precision,
        strategy=FLAGS.strategy, tensorboard=FLAGS.tensorboard, save_freq=FLAGS.save_freq,
        workers=FLAGS.workers, verbose=FLAGS.verbose)


def main(argv):
    del argv
    if FLAGS.config:
        _apply_config_file(FLAGS.config)
    if not FLAGS.data:
        raise app.UsageError("--data is required (a folder from `python -m ground_truth build`)")
    if not os.path.isfile(os.path.join(FLAGS.data, "index.jsonl")):
        print(f"error: {FLAGS.data}: no index.jsonl (build it with `python -m ground_truth build`)",
              file=sys.stderr)
        return 2
    from attention_center.training.trainer import Trainer

    try:
        trainer = Trainer(config_from_flags())
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    summary = trainer.run()
    print(json.dumps(summary, indent=2))
    return 0


def run():
    app.run(main)


if __name__ == "__main__":
    run()
