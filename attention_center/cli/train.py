"""``attention-center train``: train an attention-centre model.

Usage (the bundled default model's recipe is in MODEL_CARD.md)::

  attention-center ground-truth build --source osie_eye,scene_eye --data_dir ../shared/data --out gt
  attention-center train --data gt --out runs/default [--backbone efficientnet_lite0 ...]
  attention-center ground-truth tfds --source osie_eye,scene_eye --data_dir ../shared/data --out
  tfds_gt
  attention-center train --data tfds:tfds_gt --out runs/default      # the same, from TFDS

Flags may also come from ``--config file.json`` (or ``.yaml``); flags given on the
command line win. Runs on any Keras backend (``KERAS_BACKEND=jax`` on a machine without
TensorFlow). Resumable: a run killed at any point continues from its last backup when the
same command is run again; a run folder whose ``config.json`` holds other settings is refused
(the settings that differ are named). ``--epochs`` is the total, the ``--freeze_epochs``
warm-up included.

Exit 2 for a usage error, found before the run folder is made or anything is written in it:
no build, a broken index or an undecodable training frame (each named), bad flags (an unknown
backbone, level or width, a missing or bad teacher, warm-start or weights file, sources
without records, ...). A folder this run created is removed again when empty.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from absl import flags

from attention_center.core.command_flags import (
    EXIT_OK,
    UsageError,
    output_folder_flag,
    run_with_flags,
)
from attention_center.core.frames import parse_hw

__all__ = ["FLAGS", "USAGE", "config_from_flags", "main", "run"]

USAGE = __doc__
FLAGS = flags.FlagValues()
flags.DEFINE_string(
    "config", None, "JSON or YAML file of flag values (command line wins).", flag_values=FLAGS
)
flags.DEFINE_string(
    "data",
    None,
    "Portable ground-truth folder from `python -m ground_truth build`, "
    "or tfds:DIR (the --out of `ground-truth tfds`, or one prepared config) / "
    "tfds:NAME/CONFIG (in $TFDS_DATA_DIR): a prepared TFDS dataset.",
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "out", "runs/default", "Run folder: checkpoints, logs, model.keras.", flag_values=FLAGS
)
flags.DEFINE_list(
    "sources", ["osie_eye", "scene_eye"], "Record sources to train on.", flag_values=FLAGS
)
flags.DEFINE_list(
    "train_splits",
    ["train"],
    "Ground-truth splits to train on (train,val for "
    "the final retrain once the settings are chosen; never test).",
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "val_split",
    "val",
    "Split for the best checkpoint and early stopping; "
    "empty: none (a fixed epoch count, model.keras = the last epoch).",
    flag_values=FLAGS,
)
flags.DEFINE_string("backbone", "mobilenet_v2", "Registered backbone name.", flag_values=FLAGS)
flags.DEFINE_float(
    "alpha",
    1.0,
    "Backbone width multiplier (families that have one; e.g. mobilenet_v2: 0.35, 0.5, 0.75, "
    "1.0, 1.3, 1.4).",
    flag_values=FLAGS,
)
flags.DEFINE_list(
    "levels",
    None,
    "Pyramid levels the head taps (default: every level the "
    "backbone has: P2-P5, or P2-P4 for efficientnet_lite0_compact).",
    flag_values=FLAGS,
)
flags.DEFINE_integer(
    "head_width", 64, "Channels of the head (>= 1).", lower_bound=1, flag_values=FLAGS
)
flags.DEFINE_integer(
    "head_convs", 1, "3x3 convolutions after aggregation.", lower_bound=0, flag_values=FLAGS
)
flags.DEFINE_integer(
    "head_priors",
    0,
    "Learned Gaussian priors the head weights per image from a global descriptor (where people "
    "start on pages, charts, photos); 0: none.",
    lower_bound=0,
    flag_values=FLAGS,
)
flags.DEFINE_enum(
    "upsampling", "bilinear", ["bilinear", "transpose"], "Head upsampling.", flag_values=FLAGS
)
flags.DEFINE_enum("aggregation", "add", ["add", "concat"], "Head aggregation.", flag_values=FLAGS)
flags.DEFINE_float(
    "dropout", 0.1, "Spatial dropout in the head, in [0, 1).", lower_bound=0.0, flag_values=FLAGS
)
flags.DEFINE_string(
    "backbone_weights",
    "imagenet",
    "imagenet | offline | keras | none | path to .weights.h5",
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "input_size",
    "240x320",
    "Training input HxW (4:3; the model frame is 480x640).",
    flag_values=FLAGS,
)
flags.DEFINE_integer(
    "batch_size",
    16,
    "Images per batch (global, across replicas).",
    lower_bound=1,
    flag_values=FLAGS,
)
flags.DEFINE_integer(
    "epochs",
    12,
    "Total epochs, warm-up included (>= 1): the first --freeze_epochs of them train the "
    "head on a frozen backbone, the rest fine-tune.",
    lower_bound=1,
    flag_values=FLAGS,
)
flags.DEFINE_integer(
    "freeze_epochs",
    2,
    "Of the --epochs, this many first with the backbone frozen (head warm-up); more than "
    "--epochs is capped at --epochs (all warm-up, no fine-tune).",
    lower_bound=0,
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "frozen_level",
    "",
    "Stages up to this level's tap stay frozen after thawing (e.g. P2); empty: thaw everything.",
    flag_values=FLAGS,
)
flags.DEFINE_float(
    "learning_rate", 3e-4, "Peak learning rate of the fine-tune phase (cosine).", flag_values=FLAGS
)
flags.DEFINE_float(
    "head_learning_rate", 1e-3, "Learning rate of the warm-up phase.", flag_values=FLAGS
)
flags.DEFINE_float("weight_decay", 1e-4, "AdamW weight decay.", flag_values=FLAGS)
flags.DEFINE_float(
    "ema_momentum",
    0.0,
    "Keep an exponential moving average of the weights in the fine-tune phase with this "
    "momentum (e.g. 0.996: about the last 250 steps) and end it with it (Keras use_ema); "
    "0: none.",
    lower_bound=0.0,
    upper_bound=0.9999,
    flag_values=FLAGS,
)
flags.DEFINE_float(
    "aux_saliency_weight",
    1.0,
    "Weight of the KL+CC loss on the weighting map "
    "against fixation density maps (0: centre loss only). Default 1: measured "
    "to lower the validation centre error (docs/model_card_large_1.3.0.md).",
    flag_values=FLAGS,
)
flags.DEFINE_float(
    "density_sigma", 12.0, "Density-map Gaussian sigma, training-frame pixels.", flag_values=FLAGS
)
flags.DEFINE_float(
    "min_scale", 0.8, "Smallest random crop side (1.0: no crop augmentation).", flag_values=FLAGS
)
flags.DEFINE_integer(
    "patience",
    6,
    "Early-stopping patience (epochs) on validation error.",
    lower_bound=0,
    flag_values=FLAGS,
)
flags.DEFINE_integer("seed", 0, "Seed for weights, shuffling and augmentation.", flag_values=FLAGS)
flags.DEFINE_integer(
    "max_images",
    0,
    "Use only this many training images (smoke runs); 0: all.",
    lower_bound=0,
    flag_values=FLAGS,
)
flags.DEFINE_bool(
    "mixed_precision", False, "float16 (TF) / bfloat16 (JAX) compute; for GPUs.", flag_values=FLAGS
)
flags.DEFINE_enum(
    "strategy",
    "default",
    ["default", "mirrored", "multiworker", "tpu"],
    "Distribution strategy.",
    flag_values=FLAGS,
)
flags.DEFINE_bool("tensorboard", True, "TensorBoard logs (TensorFlow backend).", flag_values=FLAGS)
flags.DEFINE_string(
    "save_freq", "epoch", "Backup every epoch, or every N batches (N >= 1).", flag_values=FLAGS
)
flags.register_validator(
    "save_freq",
    lambda value: value == "epoch" or (value or "").isdigit() and int(value) >= 1,
    message="--save_freq must be 'epoch' or a number of batches >= 1",
    flag_values=FLAGS,
)
flags.DEFINE_integer("workers", 1, "PyDataset worker threads.", lower_bound=1, flag_values=FLAGS)
flags.DEFINE_integer(
    "verbose",
    2,
    "Keras fit verbosity (0: silent, 1: progress bar, 2: a line per epoch).",
    lower_bound=0,
    upper_bound=2,
    flag_values=FLAGS,
)
flags.DEFINE_bool(
    "run_eagerly",
    False,
    "Run each step eagerly, without compiling it (debugging "
    "and tiny smoke runs: no ~30 s of tracing on a CPU; much slower per step).",
    flag_values=FLAGS,
)

flags.DEFINE_string(
    "source_weights",
    "",
    "Loss weights per source: 'proxies' (the measured "
    "ground_truth.training_use.TRAINING_USE: eye tracking 1, clicks and mouse less; "
    "docs/proxies.md), or SOURCE=CENTRE:DENSITY,... (others 1:1); empty: all 1.",
    flag_values=FLAGS,
)
flags.DEFINE_list(
    "exclude_datasets",
    [],
    "Leave these datasets out (leave-one-dataset-out runs), e.g. fiwi.",
    flag_values=FLAGS,
)
flags.DEFINE_list(
    "repeat_datasets",
    [],
    "DATASET=N,...: each training image of DATASET is "
    "seen N times an epoch (small sets of another kind of image).",
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "teacher",
    None,
    "A model (preset name or file, with a weighting map) "
    "whose centres and maps are mixed into the targets (distillation).",
    flag_values=FLAGS,
)
flags.DEFINE_float(
    "teacher_weight",
    0.5,
    "The teacher's share of the targets, 0..1.",
    lower_bound=0.0,
    upper_bound=1.0,
    flag_values=FLAGS,
)
flags.DEFINE_list(
    "teacher_datasets",
    [],
    "Only these datasets' records get the teacher's "
    "targets (default: all), e.g. osie,scene,salicon for a teacher of photos.",
    flag_values=FLAGS,
)
flags.DEFINE_list(
    "no_flip_datasets",
    [],
    "Datasets never flipped left-right in training, e.g. fiwi,massvis,gdi: web pages, "
    "charts and designs are read from the top left, and a mirrored one teaches a symmetric "
    "prior (default: every image may be flipped).",
    flag_values=FLAGS,
)
flags.DEFINE_string(
    "warm_start",
    None,
    "A .keras model (or preset 'NAME:keras') whose layers "
    "of the same name and shape start this model.",
    flag_values=FLAGS,
)

_TRAIN_FLAGS = (
    "data",
    "out",
    "sources",
    "train_splits",
    "val_split",
    "backbone",
    "alpha",
    "levels",
    "head_width",
    "head_convs",
    "head_priors",
    "upsampling",
    "aggregation",
    "dropout",
    "backbone_weights",
    "input_size",
    "batch_size",
    "epochs",
    "freeze_epochs",
    "frozen_level",
    "learning_rate",
    "head_learning_rate",
    "weight_decay",
    "ema_momentum",
    "aux_saliency_weight",
    "density_sigma",
    "min_scale",
    "patience",
    "seed",
    "max_images",
    "mixed_precision",
    "strategy",
    "tensorboard",
    "save_freq",
    "workers",
    "verbose",
    "run_eagerly",
    "source_weights",
    "exclude_datasets",
    "teacher",
    "teacher_weight",
    "teacher_datasets",
    "warm_start",
    "repeat_datasets",
    "no_flip_datasets",
)


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


def source_weights(text: str):
    """``--source_weights`` -> ``{source: (centre, density)}`` or ``None``.

    Raises:
      UsageError: not 'proxies' nor SOURCE=CENTRE:DENSITY items.
    """
    if not text:
        return None
    if text == "proxies":
        from ground_truth.training_use import loss_weights

        return loss_weights()
    weights = {}
    for item in text.split(","):
        source, sep, pair = item.partition("=")
        centre, colon, density = pair.partition(":")
        try:
            weights[source.strip()] = (float(centre), float(density) if colon else float(centre))
        except ValueError:
            raise UsageError(f"--source_weights: {item!r} is not SOURCE=CENTRE:DENSITY") from None
    return weights


def _repeats(items):
    """``["fiwi=3", ...]`` -> ``{"fiwi": 3}`` (``None`` when empty)."""
    repeats = {}
    for item in items:
        name, sep, count = item.partition("=")
        if not sep or not count.strip().isdigit() or int(count) < 1:
            raise UsageError(f"--repeat_datasets: {item!r} is not DATASET=N (N >= 1)")
        repeats[name.strip()] = int(count)
    return repeats or None


def _model_file(spec):
    """A preset name or file -> the file (for ``--warm_start``)."""
    if not spec:
        return None
    from attention_center.presets import PresetError, resolve_model

    try:
        return str(resolve_model(spec, fmt="keras"))
    except PresetError as error:
        raise UsageError(f"--warm_start: {error}") from error


def config_from_flags():
    from attention_center.training.trainer import TrainConfig

    weights = FLAGS.backbone_weights
    return TrainConfig(
        data_dir=FLAGS.data,
        out_dir=FLAGS.out,
        sources=tuple(FLAGS.sources),
        train_splits=tuple(FLAGS.train_splits),
        val_split=FLAGS.val_split,
        backbone=FLAGS.backbone,
        alpha=FLAGS.alpha,
        levels=tuple(FLAGS.levels) if FLAGS.levels else None,
        head_width=FLAGS.head_width,
        head_convs=FLAGS.head_convs,
        head_priors=FLAGS.head_priors,
        upsampling=FLAGS.upsampling,
        aggregation=FLAGS.aggregation,
        dropout=FLAGS.dropout,
        backbone_weights=None if weights.lower() == "none" else weights,
        input_hw=parse_hw(FLAGS.input_size),
        batch_size=FLAGS.batch_size,
        epochs=FLAGS.epochs,
        freeze_epochs=FLAGS.freeze_epochs,
        frozen_level=FLAGS.frozen_level,
        learning_rate=FLAGS.learning_rate,
        head_learning_rate=FLAGS.head_learning_rate,
        weight_decay=FLAGS.weight_decay,
        ema_momentum=FLAGS.ema_momentum,
        aux_saliency_weight=FLAGS.aux_saliency_weight,
        density_sigma=FLAGS.density_sigma,
        min_scale=FLAGS.min_scale,
        patience=FLAGS.patience,
        seed=FLAGS.seed,
        max_images=FLAGS.max_images,
        mixed_precision=FLAGS.mixed_precision,
        strategy=FLAGS.strategy,
        tensorboard=FLAGS.tensorboard,
        save_freq=FLAGS.save_freq,
        workers=FLAGS.workers,
        verbose=FLAGS.verbose,
        run_eagerly=FLAGS.run_eagerly,
        source_weights=source_weights(FLAGS.source_weights),
        exclude_datasets=tuple(FLAGS.exclude_datasets),
        teacher=FLAGS.teacher,
        repeat_datasets=_repeats(FLAGS.repeat_datasets),
        teacher_weight=FLAGS.teacher_weight if FLAGS.teacher else 0.0,
        teacher_datasets=tuple(FLAGS.teacher_datasets),
        no_flip_datasets=tuple(FLAGS.no_flip_datasets),
        warm_start=_model_file(FLAGS.warm_start),
    )


def _check_build(data_dir: str) -> None:
    """A ground-truth build's index and frames are usable, or a :class:`UsageError` naming
    each bad file (before any model is built: a broken build never fails mid-epoch).

    Reads ``index.jsonl`` (a line that is not JSON, or not an index row with the fields
    training reads, is named with its number) and decodes every frame completely
    (:func:`~attention_center.training.dataset.frame_problems`: missing, empty,
    unidentifiable, truncated and corrupt frames are all named; about 3 s for a build of
    1,500 frames).
    """
    from attention_center.core.ground_truth_index import REQUIRED_FIELDS, read_index
    from attention_center.training.dataset import frame_problems

    try:
        rows = read_index(data_dir, required=REQUIRED_FIELDS + ("center_frame",))
    except (OSError, ValueError) as error:
        raise UsageError(f"--data {error}") from error
    problems = frame_problems(data_dir, rows)
    if problems:
        raise UsageError(
            f"--data {data_dir}: {len(problems)} training frame(s) cannot be read "
            "(rebuild with `attention-center ground-truth build`):\n  " + "\n  ".join(problems)
        )


def _remove_if_empty(folder: str) -> None:
    """Removes ``folder`` (which this run created) when it is still empty."""
    try:
        os.rmdir(folder)
    except OSError:
        pass  # not empty, or gone


def main(argv: Sequence[str]) -> int:
    if len(argv) > 1:
        raise UsageError(f"unexpected arguments: {list(argv[1:])}")
    if FLAGS.config:
        try:
            _apply_config_file(FLAGS.config)
        except (OSError, ValueError) as error:
            raise UsageError(f"--config {FLAGS.config}: {error}") from error
    if not FLAGS.data:
        raise UsageError("--data is required (a folder from `attention-center ground-truth build`)")
    from attention_center.data.tfds_input import is_tfds, version_dirs

    if is_tfds(FLAGS.data):
        try:
            version_dirs(FLAGS.data)
        except (OSError, ValueError) as error:
            raise UsageError(f"--data {error}") from error
    elif not os.path.isfile(os.path.join(FLAGS.data, "index.jsonl")):
        raise UsageError(
            f"--data {FLAGS.data}: no index.jsonl (build it with "
            "`attention-center ground-truth build`)"
        )
    else:
        _check_build(FLAGS.data)
    created = not os.path.lexists(FLAGS.out)
    if not created:  # an --out that exists must be a folder we can write (nothing created)
        output_folder_flag("out", FLAGS.out)
    from attention_center.training.trainer import Trainer, TrainSetupError

    try:
        trainer = Trainer(config_from_flags())
        # Everything checked (settings, data, teacher, warm start, a run already in --out)
        # before the run folder is made or anything written into it; a build's frames were
        # all decoded above, a TFDS dataset's are now.
        trainer.check(frames=is_tfds(FLAGS.data))
    except (TrainSetupError, ValueError, TypeError) as error:
        raise UsageError(str(error)) from error
    output_folder_flag("out", FLAGS.out)  # checkpoints go there from the first epoch
    try:
        summary = trainer.run()
    except TrainSetupError as error:  # the model or the data could not be made: no epoch run
        if created:
            _remove_if_empty(FLAGS.out)
        raise UsageError(str(error)) from error
    print(json.dumps(summary, indent=2))
    return EXIT_OK


def run(argv: Sequence[str] | None = None) -> None:
    """Parses ``argv`` into this module's :data:`FLAGS` and exits with :func:`main`'s status."""
    run_with_flags(FLAGS, main, USAGE, argv)


if __name__ == "__main__":
    run()
