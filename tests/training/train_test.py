"""`attention-center train` end to end on real OSIE eye-tracking records.

A tiny ground truth (12 OSIE images with their real fixations, written in the
generic JSONL format and built with `python -m ground_truth build`) and a tiny
model (MobileNetV2 x0.35, random weights, 96x128, steps run eagerly under TensorFlow:
tracing a step costs ~30 s on a CPU, more than the whole tiny run) keep each run to seconds.
Covers: the files a run writes, resume after SIGKILL (nothing lost, nothing
redone), and training under the JAX backend with TensorFlow made unimportable.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO

TRAIN_IMAGES, VAL_IMAGES, BATCH = 8, 4, 4  # an eager step costs ~2 s: few steps
TINY = [
    "--backbone",
    "mobilenet_v2",
    "--alpha",
    "0.35",
    "--backbone_weights",
    "none",
    "--input_size",
    "96x128",
    "--batch_size",
    str(BATCH),
    "--head_width",
    "16",
    "--sources",
    "osie_eye",
    "--freeze_epochs",
    "1",
    "--patience",
    "20",
]


def _env(backend="tensorflow"):
    return dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")


@pytest.fixture(scope="module")
def tiny_ground_truth(tmp_path_factory, shared_data_dir):
    """A portable ground truth of 8 train + 4 val OSIE images (real fixations)."""
    from attention_center.core.splits import split_of
    from ground_truth.readers import read_osie_eye

    records = read_osie_eye(shared_data_dir).records
    wanted = {"train": TRAIN_IMAGES, "val": VAL_IMAGES}
    rows = []
    for record in records:
        split = split_of(record.image_id)
        if wanted.get(split, 0) <= 0:
            continue
        wanted[split] -= 1
        for observer, points in zip(record.observer_ids, record.observers):
            for order, (x, y) in enumerate(points):
                rows.append(
                    {
                        "image": str(record.image_path),
                        "observer": str(observer),
                        "order": order,
                        "x": float(x),
                        "y": float(y),
                        "source": "eye",
                        "dataset": "osie",
                    }
                )
        if not any(wanted.values()):
            break
    assert not any(wanted.values()), f"not enough OSIE images per split: {wanted}"
    root = tmp_path_factory.mktemp("tiny_gt")
    records_file = root / "osie_subset.jsonl"
    records_file.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = root / "gt"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ground_truth",
            "build",
            "--source",
            str(records_file),
            "--data_dir",
            str(root),
            "--out",
            str(out),
            "--noprogress",
        ],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _train_cmd(data, out, *extra, eager=True):
    return [
        sys.executable,
        "-m",
        "attention_center",
        "train",
        "--data",
        str(data),
        "--out",
        str(out),
        *TINY,
        *(["--run_eagerly"] if eager else []),
        *extra,
    ]


def _trained(data, out, *extra):
    """Runs ``attention-center train`` (tiny, eager) into ``out``; asserts that it succeeded."""
    proc = subprocess.run(
        _train_cmd(data, out, *extra),
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _history(run_dir):
    with open(run_dir / "history.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def test_training_writes_checkpoints_history_logs_and_a_loadable_model(tiny_ground_truth, tmp_path):
    run_dir = _trained(tiny_ground_truth, tmp_path / "run", "--epochs", "3")
    history = _history(run_dir)
    assert [(r["phase"], r["epoch"]) for r in history] == [
        ("warmup", 0),
        ("finetune", 0),
        ("finetune", 1),
    ]
    for row in history:
        assert 0.0 < row["val_center_error"] < 1.0  # normalized by the diagonal
    summary = json.loads((run_dir / "summary.json").read_text())
    best = min(r["val_center_error"] for r in history)
    assert summary["val_center_error"] == pytest.approx(best)
    assert os.path.basename(summary["best_checkpoint"]).startswith("best_")
    config = json.loads((run_dir / "config.json").read_text())
    assert config["input_hw"] == [96, 128] and config["alpha"] == 0.35
    # TensorBoard scalars and the images with centres drawn.
    events = [p for p in (run_dir / "logs").rglob("events.out.tfevents.*")]
    assert any("images" in str(p) for p in events), events
    assert any("validation" in str(p) for p in events), events

    import numpy as np

    from attention_center.models import load_model

    model = load_model(run_dir / "model.keras", compile=True)  # losses and metrics registered too
    centre = model.predict(np.full((1, 96, 128, 3), 0.5, np.float32), verbose=0)["center"]
    assert centre.shape == (1, 2)
    assert 0 <= centre[0, 0] <= 127 and 0 <= centre[0, 1] <= 95


def test_final_retrain_on_train_and_val_keeps_the_last_epoch(tiny_ground_truth, tmp_path):
    """``--train_splits train,val --val_split ""``: the fixed-epoch retrain after model choice."""
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        _train_cmd(
            tiny_ground_truth,
            run_dir,
            "--epochs",
            "2",
            "--train_splits",
            "train,val",
            "--val_split",
            "",
        ),
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Train and val images together in batches: one step more than on train alone.
    per_epoch = -(-(TRAIN_IMAGES + VAL_IMAGES) // BATCH)
    assert per_epoch > -(-TRAIN_IMAGES // BATCH)
    steps = [line.split()[0] for line in proc.stdout.splitlines() if "/step" in line]
    assert steps == [f"{per_epoch}/{per_epoch}"] * 2, proc.stdout[-2000:]
    history = _history(run_dir)
    assert [(r["phase"], r["epoch"]) for r in history] == [("warmup", 0), ("finetune", 0)]
    assert all(
        0.0 < r["center_error"] < 1.0 and not any(k.startswith("val_") for k in r) for r in history
    )
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best_checkpoint"] is None and summary["val_center_error"] is None
    assert not list(run_dir.glob("best_*.keras"))
    assert any("images" in str(p) for p in (run_dir / "logs").rglob("events.out.tfevents.*"))

    import numpy as np

    from attention_center.models import load_model

    # model.keras holds the weights after the last epoch: those of the last backup.
    final = load_model(run_dir / "model.keras", compile=True)
    last = load_model(run_dir / "model.keras", compile=True)
    for weight in last.weights:
        weight.assign(np.zeros(weight.shape, weight.dtype))
    last.load_weights(run_dir / "backup" / "finetune" / "latest.weights.h5")
    for a, b in zip(final.get_weights(), last.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_validation_split_that_is_also_trained_on_is_refused(tiny_ground_truth, tmp_path):
    proc = subprocess.run(
        _train_cmd(
            tiny_ground_truth, tmp_path / "run", "--epochs", "1", "--train_splits", "train,val"
        ),
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "val_split 'val' is also a training split" in proc.stderr, proc.stderr[-2000:]


def test_epochs_is_the_total_and_a_run_folder_keeps_its_settings(tiny_ground_truth, tmp_path):
    """``--epochs 1`` with ``--freeze_epochs 2`` trained two warm-up epochs: now one (the
    warm-up is capped at the total). A rerun into the finished run with another backbone
    rewrote its config.json before failing: now refused (exit 2) with the settings that
    differ, the run untouched; the same settings resume it (nothing left to train)."""
    once = ["--epochs", "1", "--freeze_epochs", "2", "--notensorboard"]
    run_dir = _trained(tiny_ground_truth, tmp_path / "run", *once)
    assert [(r["phase"], r["epoch"]) for r in _history(run_dir)] == [("warmup", 0)]
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["epochs"], config["freeze_epochs"]) == (1, 1)
    kept = {name: (run_dir / name).read_bytes() for name in ("config.json", "model.keras")}
    other = ["--backbone", "mobilenet_v3_small", "--alpha", "0.75"]
    proc = subprocess.run(
        _train_cmd(tiny_ground_truth, run_dir, *once, *other),
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert (
        "already holds a run with other settings (backbone 'mobilenet_v2' -> "
        "'mobilenet_v3_small'; alpha 0.35 -> 0.75)" in proc.stderr
    ), proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert {name: (run_dir / name).read_bytes() for name in kept} == kept
    # The same settings (verbosity aside) resume the finished run: no epoch is added.
    _trained(tiny_ground_truth, run_dir, *once, "--verbose", "0")
    assert [(r["phase"], r["epoch"]) for r in _history(run_dir)] == [("warmup", 0)]
    assert json.loads((run_dir / "config.json").read_text())["backbone"] == "mobilenet_v2"


def test_select_records_joins_splits(tiny_ground_truth):
    from attention_center.core.ground_truth_index import select_records

    train = select_records(tiny_ground_truth, "train")
    val = select_records(tiny_ground_truth, "val")
    both = select_records(tiny_ground_truth, ("train", "val"))
    assert len({r["image_id"] for r in train}) == TRAIN_IMAGES
    assert len({r["image_id"] for r in val}) == VAL_IMAGES
    assert sorted(r["image_id"] for r in both) == sorted(r["image_id"] for r in train + val)
    assert [r["image_id"] for r in both] == sorted(r["image_id"] for r in both)


def _backed_up_epochs(run_dir, phase):
    """Epochs of ``phase`` saved by BackupAndRestore (its own metadata file); 0 before any."""
    try:
        meta = json.loads((run_dir / "backup" / phase / "training_metadata.json").read_text())
    except (OSError, ValueError):  # not there yet, or being written
        return 0
    return int(meta["epoch"])


def test_training_resumes_after_a_kill_without_losing_or_redoing_epochs(
    tiny_ground_truth, tmp_path
):
    from attention_center.training.trainer import read_history

    run_dir = tmp_path / "run"
    cmd = _train_cmd(tiny_ground_truth, run_dir, "--epochs", "5", "--notensorboard")
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(
        cmd, cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.time() + 600
    try:
        # SIGKILL once two fine-tune epochs are backed up (the third is under way).
        while time.time() < deadline:
            if first.poll() is not None:
                pytest.fail(
                    f"training ended before the kill: {first.returncode}\n"
                    + (tmp_path / "first.log").read_text()[-3000:]
                )
            if _backed_up_epochs(run_dir, "finetune") >= 2:
                break
            time.sleep(0.1)
        else:
            pytest.fail("no fine-tune epoch within the time limit")
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        log.close()
    assert first.returncode == -signal.SIGKILL
    saved = _backed_up_epochs(run_dir, "finetune")
    assert 2 <= saved < 4
    before = {(r["phase"], r["epoch"]): r for r in _history(run_dir)}
    assert all(("finetune", e) in before for e in range(saved))

    second = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    expected = [("warmup", 0)] + [("finetune", e) for e in range(4)]
    # Nothing lost: every epoch has its row, in order.
    assert [(r["phase"], r["epoch"]) for r in read_history(run_dir / "history.jsonl")] == expected
    # Nothing redone: only an epoch that was under way at the kill (its row may have been
    # written just before its backup) can appear twice; the rows of backed-up epochs are kept.
    raw = [(r["phase"], r["epoch"]) for r in _history(run_dir)]
    repeated = {key for key in raw if raw.count(key) > 1}
    assert repeated <= {("finetune", saved)}, raw
    for key in [("warmup", 0)] + [("finetune", e) for e in range(saved)]:
        assert _history(run_dir)[raw.index(key)] == before[key]
    # Keras's own progress line: the restart begins at the first epoch not backed up.
    first_epoch_line = next(
        line for line in second.stdout.splitlines() if line.startswith("Epoch ")
    )
    assert first_epoch_line.split()[1] == f"{saved + 1}/4", second.stdout[-2000:]


_NO_TENSORFLOW = """
import runpy, sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("tensorflow is blocked in this test")
sys.meta_path.insert(0, _Block())
sys.argv = ["attention-center"] + sys.argv[1:]
runpy.run_module("attention_center", run_name="__main__", alter_sys=True)
"""


def test_training_runs_under_jax_without_tensorflow(tiny_ground_truth, tmp_path):
    pytest.importorskip("jax")
    run_dir = tmp_path / "run"
    # One (warm-up) epoch, jit-compiled as under JAX by default: the fine-tune phase's
    # thawing is the same code and is trained under TensorFlow above.
    cmd = _train_cmd(tiny_ground_truth, run_dir, "--epochs", "1", eager=False)
    cmd = [sys.executable, "-c", _NO_TENSORFLOW] + cmd[3:]  # from "train" on
    proc = subprocess.run(
        cmd, cwd=REPO, env=_env("jax"), capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [(r["phase"], r["epoch"]) for r in _history(run_dir)] == [("warmup", 0)]
    assert (run_dir / "model.keras").exists()
    assert not (run_dir / "logs").exists()  # TensorBoard needs TF: skipped, not crashed


def test_a_moving_average_of_the_weights_is_what_the_run_writes(tiny_ground_truth, tmp_path):
    """``--ema_momentum``: model.keras holds the average, not the last step's weights; with
    validation, ``SwapEMAWeights`` runs before the backup and the best checkpoint."""
    import numpy as np

    from attention_center.models import load_model

    extra = ["--epochs", "2", "--val_split", "", "--ema_momentum", "0.5", "--notensorboard"]
    run_dir = _trained(tiny_ground_truth, tmp_path / "run", *extra)
    assert json.loads((run_dir / "config.json").read_text())["ema_momentum"] == 0.5
    final = load_model(run_dir / "model.keras")
    last = load_model(run_dir / "model.keras")
    last.load_weights(run_dir / "backup" / "finetune" / "latest.weights.h5")  # the raw weights
    trainable = {id(v) for v in final.trainable_weights}
    moved = kept = 0
    for a, b in zip(final.weights, last.weights, strict=True):
        same = np.array_equal(np.asarray(a), np.asarray(b))
        if id(a) in trainable:
            moved += not same
        else:  # batch-norm statistics are not averaged
            assert same, a.path
            kept += 1
    assert kept > 0 and moved > len(trainable) // 2, (moved, len(trainable))

    # With validation, the average is validated, checkpointed and backed up: the swap comes
    # before the backup and the best checkpoint, and only in the fine-tune phase.
    from attention_center.training.trainer import TrainConfig, Trainer

    config = TrainConfig(out_dir=str(tmp_path / "wiring"), ema_momentum=0.5, tensorboard=False)
    trainer = Trainer(config)
    held_out = object()  # only its presence matters to the callback list
    kinds = [type(c).__name__ for c in trainer.callbacks("finetune", held_out)]
    assert kinds.index("SwapEMAWeights") < kinds.index("BackupAndRestore")
    assert kinds.index("SwapEMAWeights") < kinds.index("ModelCheckpoint")
    assert "SwapEMAWeights" not in [type(c).__name__ for c in trainer.callbacks("warmup", held_out)]
    assert "SwapEMAWeights" not in [type(c).__name__ for c in trainer.callbacks("finetune", None)]


def test_the_trainers_check_decodes_the_frames_and_writes_nothing(tiny_ground_truth, tmp_path):
    """:meth:`Trainer.check` (the API's path, and the command's for a TFDS dataset): every
    frame of the selected records decoded, each bad one named; ``freeze_epochs`` capped."""
    import shutil

    from attention_center.core.ground_truth_index import select_records
    from attention_center.training.trainer import TrainConfig, Trainer, TrainSetupError

    build = tmp_path / "gt"
    shutil.copytree(tiny_ground_truth, build)
    settings = dict(
        data_dir=str(build),
        out_dir=str(tmp_path / "run"),
        sources=("osie_eye",),
        backbone_weights=None,
        alpha=0.35,
        epochs=1,
        freeze_epochs=2,
    )
    trainer = Trainer(TrainConfig(**settings))
    trainer.check()
    assert (trainer.config.epochs, trainer.config.freeze_epochs) == (1, 1)
    frame = build / select_records(build, "train")[0]["frame_path"]
    frame.write_bytes(frame.read_bytes()[:2500])  # the header still opens
    with pytest.raises(TrainSetupError) as raised:
        Trainer(TrainConfig(**settings)).check()
    assert f"{frame}: corrupt or truncated image: image file is truncated" in str(raised.value)
    assert not (tmp_path / "run").exists()
