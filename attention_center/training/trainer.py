"""Training an attention-centre model, on any Keras backend.

Two phases, each a ``fit`` with its own ``BackupAndRestore`` folder so a killed
run resumes where it stopped (at the last finished epoch, weights and optimizer
state included):

1. ``warmup``: the backbone frozen, only the head learns (``freeze_epochs``, at most
   ``epochs``).
2. ``finetune``: the backbone thawed except the stages up to ``frozen_level``
   (e.g. ``"P2"`` keeps the stride-2/4 stem frozen), AdamW with a warm-up and
   cosine decay, for the rest of the ``epochs`` (the total, warm-up included).

:meth:`Trainer.check` validates everything first (the settings, the data and its frames, the
teacher and warm-start files, and an existing run in ``out_dir``, whose ``config.json`` must
hold the same settings to be resumed); ``config.json`` is written only once the model and
the data are built, so it always describes the run folder's model.

The best model by validation centre error is saved as ``best_<phase>.keras``;
the final one (best weights) as ``model.keras``. With ``val_split=""`` (for the
final retrain on train+val, once the settings were chosen on validation) there is
no validation: no best checkpoint, no early stopping, and ``model.keras`` holds
the weights after the last epoch.

With ``ema_momentum > 0`` the fine-tune phase's optimizer also keeps an exponential moving
average of the trainable weights (Keras ``use_ema``) and ends the phase with it, so
``model.keras`` holds the average; with validation, ``keras.callbacks.SwapEMAWeights`` puts
the average in the model for validation, the best checkpoints and the backups. (A run
resumed from such a backup goes on from the averaged weights.) Not in the short warm-up
phase: an average over a time constant longer than the phase would undo most of it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections import ChainMap
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import keras
import numpy as np

from attention_center.backbones import get_backbone_spec
from attention_center.core.atomic import (
    atomic_path,
    atomic_write_json,
    atomic_write_text,
)
from attention_center.data.selection import select
from attention_center.losses import CenterL2Loss, NormalizedCenterError, SaliencyLoss
from attention_center.models import AttentionCenterModel, build_model
from attention_center.training.callbacks import CenterImagesCallback, JsonHistory
from attention_center.training.dataset import CenterDataset

MONITOR = "val_center_error"


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run depends on (written to ``config.json`` in the run folder)."""

    #: A portable ground-truth build, or ``tfds:DIR`` / ``tfds:NAME/CONFIG`` (a prepared
    #: TFDS dataset: :mod:`attention_center.data.tfds_input`).
    data_dir: str = ""
    out_dir: str = "runs/default"
    sources: Sequence[str] = ("osie_eye", "scene_eye")  # (): every source of the build
    train_splits: Sequence[str] = ("train",)
    val_split: str = "val"
    backbone: str = "mobilenet_v2"
    alpha: float = 1.0
    levels: Sequence[str] | None = None  # None: every level the backbone has
    head_width: int = 64
    head_convs: int = 1
    head_priors: int = 0  # learned Gaussian priors weighted per image (AttentionCenterHead)
    upsampling: str = "bilinear"
    aggregation: str = "add"
    dropout: float = 0.1
    backbone_weights: str | None = "imagenet"
    input_hw: Sequence[int] = (240, 320)
    batch_size: int = 16
    #: Total epochs, the warm-up included (>= 1).
    epochs: int = 12
    #: Warm-up epochs with the backbone frozen, the first of ``epochs``; more than ``epochs``
    #: is capped at ``epochs`` (all warm-up, no fine-tune).
    freeze_epochs: int = 2
    frozen_level: str = ""
    learning_rate: float = 3e-4
    head_learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    #: Momentum of an exponential moving average of the weights, kept by the optimizer over
    #: the fine-tune phase and written into the model when it ends (Keras ``use_ema``); 0: none.
    ema_momentum: float = 0.0
    aux_saliency_weight: float = 1.0
    density_sigma: float = 12.0
    min_scale: float = 0.8
    patience: int = 6
    seed: int = 0
    max_images: int = 0
    mixed_precision: bool = False
    strategy: str = "default"
    tensorboard: bool = True
    save_freq: str = "epoch"
    workers: int = 1
    verbose: int = 2
    #: ``source -> (centre weight, density weight)`` of the losses (default 1, 1); the
    #: command's ``--source_weights proxies`` takes ``ground_truth.training_use.TRAINING_USE``.
    source_weights: Optional[dict] = None
    #: Leave these datasets (the index rows' ``dataset``) out entirely: leave-one-dataset-out.
    exclude_datasets: Sequence[str] = ()
    #: ``dataset -> n``: each training record of the dataset is seen ``n`` times an epoch
    #: (small sets of another kind of image, e.g. 35 web pages beside 965 photos).
    repeat_datasets: Optional[dict] = None
    #: A model spec whose centres and maps are soft targets (knowledge distillation).
    teacher: Optional[str] = None
    #: The teacher's share of the targets, in [0, 1].
    teacher_weight: float = 0.0
    #: Datasets whose records get the teacher's targets (empty: all). A teacher trained on
    #: photos is a poor guide on web pages; there the human targets stay alone.
    teacher_datasets: Sequence[str] = ()
    #: Datasets never flipped left-right by the augmentation (kinds read in a direction:
    #: web pages, charts, designs); empty: every image may be flipped.
    no_flip_datasets: Sequence[str] = ()
    #: A ``.keras`` model whose weights of the same layers start this one (a trained
    #: teacher of the same backbone family); ``None``: ``backbone_weights`` only.
    warm_start: Optional[str] = None
    #: Execute step by step without compiling the step (Keras ``run_eagerly``): for
    #: debugging and tiny smoke runs, where tracing the step (~30 s on a CPU under
    #: TensorFlow) costs more than the steps themselves. Off for real training.
    run_eagerly: bool = False


def distribution_scope(name: str):
    """A context in which to build and compile the model for a distribution strategy.

    ``default`` (one device), ``mirrored`` (all local GPUs), ``multiworker`` and
    ``tpu`` use ``tf.distribute`` under the TensorFlow backend; under JAX,
    ``mirrored`` is ``keras.distribution.DataParallel`` over all devices.
    """
    if name == "default":
        return contextlib.nullcontext()
    backend = keras.backend.backend()
    if backend == "jax":
        if name != "mirrored":
            raise ValueError(
                f"strategy {name!r} needs the TensorFlow backend; under JAX use "
                "'mirrored' (keras.distribution.DataParallel)"
            )
        keras.distribution.set_distribution(keras.distribution.DataParallel())
        return contextlib.nullcontext()
    if backend != "tensorflow":
        raise ValueError(f"strategy {name!r} is not supported on the {backend} backend")
    import tensorflow as tf  # TF-only: tf.distribute.

    if name == "mirrored":
        return tf.distribute.MirroredStrategy().scope()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy().scope()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver).scope()
    raise ValueError(f"unknown strategy {name!r}: default, mirrored, multiworker or tpu")


def set_backbone_trainable(model: AttentionCenterModel, trainable: bool, frozen_level: str = ""):
    """Freezes the whole backbone, or thaws it except the layers up to ``frozen_level``'s tap.

    Frozen batch-norm layers run in inference mode (Keras 3 semantics).
    """
    features = model.backbone.get_layer(f"{model.backbone_name}_features")
    model.backbone.trainable = trainable
    if not trainable:
        return
    features.trainable = True
    stop_at = get_backbone_spec(model.backbone_name).taps[frozen_level] if frozen_level else None
    freezing = stop_at is not None
    for layer in features.layers:
        layer.trainable = not freezing
        if layer.name == stop_at:
            freezing = False


def _forget_restored_epoch(model):
    """Clears the epoch a previous phase's ``BackupAndRestore`` left on the model.

    Keras 3's ``fit`` starts at ``model._initial_epoch`` when it is set, and
    ``BackupAndRestore`` sets it only when it finds a backup: without this, a
    resumed run whose warm-up had finished would start the fine-tune phase at
    the warm-up's epoch count instead of 0.
    """
    model._initial_epoch = None


def read_history(path) -> list[dict]:
    """The rows of a run's ``history.jsonl``, one per (phase, epoch), the last written wins.

    Returns:
      Rows in the order their (phase, epoch) first appeared; each has ``phase``,
      ``epoch`` (0-based within the phase) and the epoch's logs.
    """
    rows: dict = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                rows[(row["phase"], row["epoch"])] = row
    return list(rows.values())


def _same_data(before, now) -> bool:
    """Whether two ``data_dir`` values name the same ground truth (paths resolved)."""
    if before == now:
        return True
    if not isinstance(before, str) or not isinstance(now, str) or "tfds:" in before + now:
        return False
    from attention_center.core.files import resolved

    return resolved(before) == resolved(now)


def _tensorflow_available() -> bool:
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


class TrainSetupError(ValueError):
    """A setting, the data or an input file that cannot make a run, found before any epoch
    (and before ``config.json`` is written): the command's usage error."""


#: Settings that do not change the model a run makes: a run may be resumed with others.
RESUME_FREE = (
    "out_dir",
    "verbose",
    "workers",
    "run_eagerly",
    "tensorboard",
    "strategy",
    "save_freq",
)


def _as_json(config: TrainConfig) -> dict:
    """``config`` as ``config.json`` holds it (tuples as lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=list))


class Trainer:
    """Builds data, model and callbacks from a :class:`TrainConfig` and runs both phases."""

    def __init__(self, config: TrainConfig):
        self.config = config
        self.frame_hw = tuple(int(v) for v in config.input_hw)
        self._selections = None
        self._checked = False

    # -- checks -------------------------------------------------------------
    def check(self, frames: bool = True) -> None:
        """Validates the run before anything is written.

        The settings (ranges, the backbone, its width, levels and weights, ``frozen_level``,
        ``save_freq``), the data (the records of every source in the training and validation
        splits, what ``exclude_datasets`` leaves, every frame they use decoded), the teacher
        and warm-start files, and an existing run in ``out_dir``: its ``config.json`` must
        hold the same settings (but those of :data:`RESUME_FREE`) to be resumed.
        ``freeze_epochs`` above ``epochs`` is capped at ``epochs``.

        Args:
          frames: decode the selected records' frames (``False``: the caller did, e.g. the
            command, which decodes every frame of a build).
        Raises:
          TrainSetupError: what is wrong, in one line per problem, naming the setting or file.
        """
        c = self.config
        try:
            self._check_settings()
            self._check_files()
            self._check_previous_run()
            self._selections = self._select()
            if frames:
                self._check_frames()
        except TrainSetupError:
            raise
        except (OSError, ValueError) as error:
            raise TrainSetupError(str(error)) from error
        if c.freeze_epochs > c.epochs:
            self.config = dataclasses.replace(c, freeze_epochs=c.epochs)
        self._checked = True

    def _check_settings(self) -> None:
        from attention_center.backbones import get_backbone_spec
        from attention_center.backbones.registry import resolve_weights

        c = self.config
        whole = [
            ("epochs", 1),
            ("batch_size", 1),
            ("head_width", 1),
            ("head_convs", 0),
            ("head_priors", 0),
            ("freeze_epochs", 0),
            ("patience", 0),
            ("max_images", 0),
            ("workers", 1),
        ]
        for name, low in whole:
            value = getattr(c, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise TrainSetupError(f"{name} must be an integer >= {low}, got {value!r}")
        # (name, lowest, lowest allowed, highest, highest allowed); None: no bound.
        ranges = [
            ("learning_rate", 0.0, False, None, False),
            ("head_learning_rate", 0.0, False, None, False),
            ("density_sigma", 0.0, False, None, False),
            ("min_scale", 0.0, False, 1.0, True),
            ("weight_decay", 0.0, True, None, False),
            ("aux_saliency_weight", 0.0, True, None, False),
            ("dropout", 0.0, True, 1.0, False),
            ("ema_momentum", 0.0, True, 1.0, False),
            ("teacher_weight", 0.0, True, 1.0, True),
        ]
        for name, low, low_ok, high, high_ok in ranges:
            value = getattr(c, name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            ok = ok and (value >= low if low_ok else value > low)
            ok = ok and (high is None or (value <= high if high_ok else value < high))
            if not ok:
                bounds = f"{'>=' if low_ok else '>'} {low:g}"
                if high is not None:
                    bounds += f" and {'<=' if high_ok else '<'} {high:g}"
                raise TrainSetupError(f"{name} must be a number {bounds}, got {value!r}")
        if len(self.frame_hw) != 2 or min(self.frame_hw) < 1:
            raise TrainSetupError(f"input_hw must be [height, width] (positive), got {c.input_hw}")
        if not (c.save_freq == "epoch" or (str(c.save_freq).isdigit() and int(c.save_freq) >= 1)):
            raise TrainSetupError(
                f"save_freq must be 'epoch' or a number of batches >= 1, got {c.save_freq!r}"
            )
        if not all(isinstance(s, str) and s for s in c.sources):  # (): every source of the build
            raise TrainSetupError(f"sources must be source names, got {list(c.sources)}")
        if not c.train_splits:
            raise TrainSetupError("train_splits must name at least one split")
        if c.val_split and c.val_split in tuple(c.train_splits):
            raise TrainSetupError(
                f"val_split {c.val_split!r} is also a training split "
                f"{tuple(c.train_splits)}: its error would not be held out "
                "(train on it with val_split='')"
            )
        spec = get_backbone_spec(c.backbone)  # ValueError: unknown, the registered ones named
        if c.alpha != 1.0 and (spec.alphas is None or c.alpha not in spec.alphas):
            raise TrainSetupError(
                f"alpha: backbone {c.backbone!r} "
                + (
                    f"has no width multiplier (alpha={c.alpha!r})"
                    if spec.alphas is None
                    else f"takes alpha {', '.join(map(str, spec.alphas))}; got {c.alpha!r}"
                )
            )
        levels = tuple(c.levels) if c.levels else tuple(spec.taps)
        unknown = [level for level in levels if level not in spec.taps]
        if unknown:
            raise TrainSetupError(
                f"levels: backbone {c.backbone!r} has no level(s) {', '.join(map(str, unknown))}; "
                f"it has {', '.join(spec.taps)}"
            )
        if c.frozen_level and c.frozen_level not in levels:
            raise TrainSetupError(
                f"frozen_level: {c.frozen_level!r} is not one of the model's levels "
                f"({', '.join(levels)}); empty to thaw the whole backbone"
            )
        if not c.warm_start:
            try:
                resolve_weights(spec, c.backbone_weights, c.alpha)
            except (OSError, ValueError) as error:
                raise TrainSetupError(f"backbone_weights: {error}") from error
        if c.strategy not in ("default", "mirrored", "multiworker", "tpu"):
            raise TrainSetupError(
                f"unknown strategy {c.strategy!r}: default, mirrored, multiworker or tpu"
            )
        backend = keras.backend.backend()
        if c.strategy != "default" and backend != "tensorflow":
            if backend != "jax" or c.strategy != "mirrored":
                raise TrainSetupError(
                    f"strategy {c.strategy!r} needs the TensorFlow backend (under JAX: "
                    f"'mirrored'); the backend is {backend}"
                )

    def _check_files(self) -> None:
        """The warm-start model and the teacher: files that a model loader can open."""
        from attention_center.core.files import not_a_file_reason
        from attention_center.inference.predictors import keras_file_problem
        from attention_center.presets import resolve_model

        c = self.config
        for name, spec in (("warm_start", c.warm_start), ("teacher", c.teacher)):
            if not spec:
                continue
            path = resolve_model(spec, fmt="keras")  # PresetError (a ValueError): unknown
            reason = not_a_file_reason(path)
            if reason:
                raise TrainSetupError(
                    f"{name} {path}: "
                    + ("no such model file" if reason == "no such file" else reason)
                )
            suffixes = (".keras",) if name == "warm_start" else (".keras", ".tflite")
            if path.suffix.lower() not in suffixes:
                raise TrainSetupError(f"{name} {path}: not a {' or '.join(suffixes)} model file")
            problem = keras_file_problem(path) if path.suffix.lower() == ".keras" else None
            if path.suffix.lower() == ".tflite" and path.stat().st_size == 0:
                problem = "empty (0 bytes)"
            if problem:
                raise TrainSetupError(f"{name} {path}: {problem}")

    def _check_previous_run(self) -> None:
        """An ``out_dir`` that already holds a run (``config.json``) is resumed only with the
        same settings: refused with the ones that differ, so its ``config.json`` keeps
        describing its model."""
        path = os.path.join(self.config.out_dir, "config.json")
        if not os.path.lexists(path):
            return
        try:
            with open(path, encoding="utf-8") as handle:
                previous = json.load(handle)
        except (OSError, ValueError) as error:
            raise TrainSetupError(
                f"{path}: cannot read the run's settings ({error}); train into a new out_dir"
            ) from error
        if not isinstance(previous, dict):
            raise TrainSetupError(f"{path}: not a run's settings (a JSON object)")
        current = _as_json(self.config)
        current["freeze_epochs"] = min(current["freeze_epochs"], current["epochs"])
        differ = []
        for name, value in current.items():
            if name in RESUME_FREE or name not in previous:
                continue
            before = previous[name]
            if name == "data_dir" and _same_data(before, value):
                continue
            if before != value:
                differ.append(f"{name} {before!r} -> {value!r}")
        if differ:
            raise TrainSetupError(
                f"{self.config.out_dir} already holds a run with other settings "
                f"({'; '.join(differ)}): resume it with its own settings (its config.json), "
                "or train into another folder"
            )

    def _select(self):
        """The training and validation selections (``exclude_datasets`` left out)."""
        c = self.config
        max_images = c.max_images or None
        chosen = self._without_excluded(
            select(
                c.data_dir,
                tuple(c.train_splits),
                sources=c.sources,
                max_images=max_images,
                require_sources=True,
            )
        )
        held_out = None
        if c.val_split:
            held_out = self._without_excluded(
                select(
                    c.data_dir,
                    c.val_split,
                    sources=c.sources,
                    max_images=max(4, max_images // 4) if max_images else None,
                    require_sources=True,
                )
            )
        return chosen, held_out

    def _check_frames(self) -> None:
        """Every frame of the selected records decodes (never a failure mid-epoch)."""
        from attention_center.training.dataset import frame_problems

        chosen, held_out = self._selections
        problems = frame_problems(self.config.data_dir, chosen.records, chosen.frames)
        if held_out is not None:
            problems += frame_problems(self.config.data_dir, held_out.records, held_out.frames)
        problems = list(dict.fromkeys(problems))
        if problems:
            raise TrainSetupError(
                f"{self.config.data_dir}: {len(problems)} training frame(s) cannot be read "
                "(rebuild with `attention-center ground-truth build`):\n  " + "\n  ".join(problems)
            )

    # -- data ---------------------------------------------------------------
    def datasets(self, map_stride):
        c = self.config
        if self._selections is None:
            self._selections = self._select()
        chosen, held_out = self._selections
        teacher = None
        if c.teacher and c.teacher_weight > 0:
            from attention_center.training.teacher import teacher_targets

            records = [
                r
                for r in chosen.records + (held_out.records if held_out else [])
                if not c.teacher_datasets or r.get("dataset") in c.teacher_datasets
            ]
            frames = None
            if chosen.frames is not None:  # a prepared TFDS dataset: its frames, no build folder
                frames = ChainMap(chosen.frames, (held_out.frames if held_out else None) or {})
            teacher = teacher_targets(
                c.teacher,
                c.data_dir,
                records,
                progress=c.verbose == 1,
                frames=frames,
                cache_dir=None if frames is None else Path(c.out_dir) / "teacher",
            )
        common = dict(
            frame_hw=self.frame_hw,
            batch_size=c.batch_size,
            seed=c.seed,
            map_stride=map_stride,
            density_sigma=c.density_sigma,
            workers=c.workers,
            use_multiprocessing=False,
            loss_weights=(
                {k: tuple(v) for k, v in c.source_weights.items()} if c.source_weights else None
            ),
            teacher=teacher,
            teacher_weight=c.teacher_weight,
        )
        repeats = dict(c.repeat_datasets or {})
        train_records = [
            r for r in chosen.records for _ in range(max(1, int(repeats.get(r.get("dataset"), 1))))
        ]
        train = CenterDataset(
            c.data_dir,
            train_records,
            training=True,
            min_scale=c.min_scale,
            no_flip_datasets=tuple(c.no_flip_datasets or ()),
            frames=chosen.frames,
            **common,
        )
        if not c.val_split:
            # TensorBoard's centre images then show the first training images, unaugmented.
            self._preview = CenterDataset(
                c.data_dir,
                chosen.records[: c.batch_size],
                training=False,
                frames=chosen.frames,
                **common,
            )
            return train, None
        val = CenterDataset(
            c.data_dir, held_out.records, training=False, frames=held_out.frames, **common
        )
        return train, val

    def _without_excluded(self, chosen):
        """``chosen`` without the records of ``exclude_datasets``."""
        excluded = set(self.config.exclude_datasets or ())
        if not excluded:
            return chosen
        kept = [r for r in chosen.records if r.get("dataset") not in excluded]
        if not kept:
            raise ValueError(f"no records left once datasets {sorted(excluded)} are excluded")
        return dataclasses.replace(chosen, records=kept)

    # -- model --------------------------------------------------------------
    def model(self) -> AttentionCenterModel:
        c = self.config
        model = build_model(
            c.backbone,
            input_shape=(*self.frame_hw, 3),
            levels=tuple(c.levels) if c.levels else None,
            alpha=c.alpha,
            head_width=c.head_width,
            head_convs=c.head_convs,
            head_priors=c.head_priors,
            upsampling=c.upsampling,
            aggregation=c.aggregation,
            dropout=c.dropout,
            backbone_weights=None if c.warm_start else c.backbone_weights,
            internal_hw=self.frame_hw,
        )
        if c.warm_start:
            from attention_center.training.warm_start import warm_start

            print(warm_start(model, c.warm_start).line(), flush=True)
        return model

    def compile(self, model, learning_rate, total_steps, warmup_steps=0, ema=False):
        """Compiles ``model`` with AdamW (cosine decay over ``total_steps`` after a linear
        warm-up of ``warmup_steps``; a constant rate when ``total_steps`` is 0), the losses
        and the metrics; ``ema``: the optimizer keeps the weights' moving average
        (``config.ema_momentum``, when > 0)."""
        c = self.config
        if total_steps > 0 and warmup_steps < total_steps:
            schedule = keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=learning_rate * (0.1 if warmup_steps else 1.0),
                decay_steps=max(1, total_steps - warmup_steps),
                alpha=0.01,
                warmup_target=learning_rate if warmup_steps else None,
                warmup_steps=warmup_steps,
            )
        else:
            schedule = learning_rate
        losses = {"center": CenterL2Loss(self.frame_hw)}
        weights = {"center": 1.0}
        if c.aux_saliency_weight > 0:
            losses["weight_map"] = SaliencyLoss()
            weights["weight_map"] = c.aux_saliency_weight
        model.compile(
            optimizer=keras.optimizers.AdamW(
                learning_rate=schedule,
                weight_decay=c.weight_decay,
                clipnorm=1.0,
                use_ema=ema and c.ema_momentum > 0,
                ema_momentum=c.ema_momentum,
            ),
            loss=losses,
            loss_weights=weights,
            metrics={"center": [NormalizedCenterError(self.frame_hw, name="error")]},
            run_eagerly=c.run_eagerly,
        )

    def callbacks(self, phase: str, val: CenterDataset | None):
        c = self.config
        backup_dir = os.path.join(c.out_dir, "backup", phase)
        save_freq = c.save_freq if c.save_freq == "epoch" else int(c.save_freq)
        # JsonHistory runs before the backup: a kill between the two redoes that epoch and
        # rewrites its row (readers keep the last row of each (phase, epoch)); the other order
        # could lose a row.
        callbacks = [
            JsonHistory(os.path.join(c.out_dir, "history.jsonl"), phase),
        ]
        if c.ema_momentum > 0 and val is not None and phase == "finetune":
            # Validation, the best checkpoints and the backups see the averaged weights (the
            # swap comes first at each epoch's end; the raw ones go back at the next's start).
            # Without validation the optimizer alone writes the average at the phase's end.
            callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
        callbacks += [
            keras.callbacks.BackupAndRestore(
                backup_dir, save_freq=save_freq, delete_checkpoint=False, double_checkpoint=True
            ),
        ]
        if val is not None:  # Without validation (a fixed epoch count): nothing to select on.
            callbacks.append(
                keras.callbacks.ModelCheckpoint(
                    os.path.join(c.out_dir, f"best_{phase}.keras"),
                    monitor=MONITOR,
                    mode="min",
                    save_best_only=True,
                    initial_value_threshold=self.best_score(phase),
                )
            )
            if phase == "finetune":
                callbacks.append(
                    keras.callbacks.EarlyStopping(monitor=MONITOR, mode="min", patience=c.patience)
                )
        if c.tensorboard and _tensorflow_available() and keras.backend.backend() == "tensorflow":
            log_dir = os.path.join(c.out_dir, "logs")
            callbacks.append(keras.callbacks.TensorBoard(log_dir=log_dir, write_graph=False))
            # Centres drawn on held-out images, or on the first training batch without them.
            first = (val if val is not None else self._preview)[0]
            frames, targets = first[0], first[1]
            callbacks.append(CenterImagesCallback(log_dir, frames, targets["center"]))
        return callbacks

    # -- run ----------------------------------------------------------------
    def run(self) -> dict:
        """Checks (:meth:`check`, unless done), builds the model and the data, writes
        ``config.json``, trains both phases and writes ``model.keras`` and ``summary.json``.

        Raises:
          TrainSetupError: the check failed, or the model, the teacher's targets or the data
            could not be made (nothing trained; ``config.json`` not written).
        """
        if not self._checked:
            self.check()
        c = self.config
        keras.utils.set_random_seed(c.seed)
        if c.mixed_precision:
            keras.mixed_precision.set_global_policy(
                "mixed_bfloat16" if keras.backend.backend() == "jax" else "mixed_float16"
            )
        os.makedirs(c.out_dir, exist_ok=True)
        with distribution_scope(c.strategy):
            try:
                model = self.model()
                map_stride = model.output_stride if c.aux_saliency_weight > 0 else None
                train, val = self.datasets(map_stride)
            except (OSError, ValueError) as error:
                raise TrainSetupError(str(error)) from error
            # Only now, the model and the data made: config.json describes this run's model.
            atomic_write_text(
                os.path.join(c.out_dir, "config.json"),
                json.dumps(dataclasses.asdict(c), indent=2, default=list) + "\n",
            )
            steps = len(train)
            if c.freeze_epochs > 0:
                set_backbone_trainable(model, False)
                self.compile(model, c.head_learning_rate, 0)
                _forget_restored_epoch(model)
                model.fit(
                    train,
                    validation_data=val,
                    epochs=c.freeze_epochs,
                    callbacks=self.callbacks("warmup", val),
                    verbose=c.verbose,
                )
            finetune_epochs = c.epochs - c.freeze_epochs
            if finetune_epochs > 0:
                set_backbone_trainable(model, True, c.frozen_level)
                self.compile(
                    model,
                    c.learning_rate,
                    steps * finetune_epochs,
                    warmup_steps=min(steps, steps * finetune_epochs // 10),
                    ema=True,
                )
                _forget_restored_epoch(model)
                model.fit(
                    train,
                    validation_data=val,
                    epochs=finetune_epochs,
                    callbacks=self.callbacks("finetune", val),
                    verbose=c.verbose,
                )
        best = self.best_checkpoint()
        # Without its optimizer state: model.keras is for inference, export and fine-tuning
        # from scratch; the backups keep the optimizer for resuming.
        final = keras.models.load_model(best, compile=False) if best else model
        final_path = os.path.join(c.out_dir, "model.keras")
        with atomic_path(final_path, suffix=".keras") as temporary:
            final.save(temporary)
        summary = {
            "best_checkpoint": best,
            "model": final_path,
            "val_center_error": self.best_score(),
        }
        atomic_write_json(os.path.join(c.out_dir, "summary.json"), summary, indent=2)
        return summary

    def _history(self) -> list[dict]:
        path = os.path.join(self.config.out_dir, "history.jsonl")
        if not os.path.exists(path):
            return []
        return read_history(path)

    def best_score(self, phase: str | None = None):
        """Lowest validation centre error so far (of one phase, or overall); None before any."""
        scores = [
            row[MONITOR]
            for row in self._history()
            if MONITOR in row and (phase is None or row["phase"] == phase)
        ]
        return float(np.min(scores)) if scores else None

    def best_checkpoint(self):
        """The phase checkpoint with the lowest validation error (``best_<phase>.keras``)."""
        best_phase, best_score = None, np.inf
        for row in self._history():
            if row.get(MONITOR, np.inf) < best_score:
                best_phase, best_score = row["phase"], row[MONITOR]
        if best_phase is None:
            return None
        path = os.path.join(self.config.out_dir, f"best_{best_phase}.keras")
        return path if os.path.exists(path) else None
