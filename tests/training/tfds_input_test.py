"""Training from a prepared TFDS dataset (``--data tfds:...``) on real OSIE fixations.

The small ground truth of ``tests/small_ground_truth.py`` exists as a portable build and
as a prepared TFDS config made from the same records: the trainer's batches from both are
equal, pixel for pixel (the TFDS form stores the build's frame bytes), and
``attention-center train --data tfds:DIR`` runs a tiny model (the TINY settings of
``train_test.py``, steps run eagerly) end to end, in this process.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from small_ground_truth import SOURCE, small_ground_truth

pytest.importorskip("tensorflow_datasets")

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
    "4",
    "--head_width",
    "16",
    "--sources",
    SOURCE,
    "--freeze_epochs",
    "1",
    "--patience",
    "20",
]


@pytest.fixture(scope="module")
def small(tmp_path_factory, shared_data_dir):
    return small_ground_truth(tmp_path_factory, shared_data_dir)


def _batches(data, out_dir, **options):
    from attention_center.training.trainer import TrainConfig, Trainer

    trainer = Trainer(
        TrainConfig(
            data_dir=str(data),
            out_dir=str(out_dir),
            sources=(SOURCE,),
            input_hw=(96, 128),
            batch_size=2,
            tensorboard=False,
            **options,
        )
    )
    train, val = trainer.datasets(map_stride=4)
    return (
        [r["image_id"] for r in train.records + val.records],
        [train[i] for i in range(len(train))] + [val[i] for i in range(len(val))],
    )


def test_training_batches_from_tfds_equal_those_from_the_build(small, tmp_path):
    ids_build, from_build = _batches(small.build_dir, tmp_path / "a")
    ids_tfds, from_tfds = _batches(small.spec, tmp_path / "b")
    assert ids_tfds == ids_build and len(ids_build) == 5  # 3 train + 2 val images
    assert len(from_tfds) == len(from_build) == 3  # batches of 2: 2 train + 1 val
    for (frames_a, targets_a), (frames_b, targets_b) in zip(from_build, from_tfds):
        np.testing.assert_array_equal(frames_b, frames_a)  # augmented the same way, too
        np.testing.assert_array_equal(targets_b["center"], targets_a["center"])
        np.testing.assert_array_equal(targets_b["weight_map"], targets_a["weight_map"])
        assert frames_a.shape[1:] == (96, 128, 3) and targets_a["weight_map"].shape[1:] == (
            24,
            32,
            1,
        )


def test_a_teacher_distils_on_a_tfds_dataset_as_on_the_build(small, tmp_path):
    """``--teacher`` with ``--data tfds:...`` read ``tfds:DIR/frames/...`` as a file and
    failed: the teacher now sees the dataset's frames (the same bytes as the build's), so the
    soft targets equal the build's, and its cache goes in the run folder."""
    from conftest import save_centroid_model

    teacher = save_centroid_model(tmp_path / "teacher.keras", frame_hw=(480, 640))
    options = dict(teacher=str(teacher), teacher_weight=0.5)
    _, from_build = _batches(small.build_dir, tmp_path / "a", **options)
    _, from_tfds = _batches(small.spec, tmp_path / "b", **options)
    _, without = _batches(small.build_dir, tmp_path / "c")
    assert len(from_tfds) == len(from_build) == 3
    for (frames_a, targets_a), (frames_b, targets_b) in zip(from_build, from_tfds):
        np.testing.assert_array_equal(frames_b, frames_a)
        np.testing.assert_array_equal(targets_b["weight_map"], targets_a["weight_map"])
    # The teacher moved the density targets (else the equality above says nothing of it).
    assert not np.allclose(from_build[0][1]["weight_map"], without[0][1]["weight_map"])
    assert len(list((tmp_path / "b" / "teacher").glob("*.npz"))) == 1


def test_train_command_on_a_prepared_tfds_dataset(small, tmp_path, capsys):
    from attention_center.cli import train as train_cli

    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        train_cli.run(
            [
                "train",
                "--data",
                small.spec,
                "--out",
                str(run_dir),
                *TINY,
                "--epochs",
                "1",
                "--run_eagerly",
                "--notensorboard",
                "--verbose",
                "0",
            ]
        )
    out, err = capsys.readouterr()
    assert exit_.value.code == 0, err[-3000:]
    summary = json.loads(out[out.index("{") :])
    assert summary["model"] == str(run_dir / "model.keras") and (run_dir / "model.keras").is_file()
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert [(r["phase"], r["epoch"]) for r in history] == [("warmup", 0)]
    assert 0.0 < history[0]["val_center_error"] < 1.0
    assert json.loads((run_dir / "config.json").read_text())["data_dir"] == small.spec


def test_train_command_refuses_a_tfds_spec_with_nothing_prepared(tmp_path, capsys):
    from attention_center.cli import train as train_cli

    for spec in (f"tfds:{tmp_path}", "tfds:attention_center_ground_truth/nothing_here", "tfds:"):
        with pytest.raises(SystemExit) as exit_:
            train_cli.run(["train", "--data", spec, "--out", str(tmp_path / "run")])
        assert exit_.value.code == 2, spec
        assert "prepare" in capsys.readouterr().err or spec == "tfds:"


def test_every_form_of_tfds_spec_finds_the_prepared_config(small, monkeypatch, tmp_path):
    from attention_center.data.tfds_input import version_dirs

    version = small.version_dir
    for place in (small.tfds_dir, version.parent.parent, version.parent, version):
        assert version_dirs(f"tfds:{place}") == [version], place
    monkeypatch.setenv("TFDS_DATA_DIR", str(small.tfds_dir))
    assert version_dirs("tfds:attention_center_ground_truth/osie_small") == [version]
    assert version_dirs("tfds:attention_center_ground_truth/osie_small:1.1.0") == [version]
    with pytest.raises(FileNotFoundError, match="not prepared"):
        version_dirs("tfds:attention_center_ground_truth/osie_small:9.9.9")
    (tmp_path / "mnist" / "3.0.1").mkdir(parents=True)
    (tmp_path / "mnist" / "3.0.1" / "dataset_info.json").write_text('{"name": "mnist"}')
    with pytest.raises(ValueError, match="not 'attention_center_ground_truth'"):
        version_dirs(f"tfds:{tmp_path / 'mnist'}")


def test_two_configs_with_the_same_records_are_refused(small, tmp_path):
    import shutil

    from attention_center.data.selection import select

    for name in ("osie_small", "osie_small_copy"):
        shutil.copytree(
            small.version_dir, tmp_path / "attention_center_ground_truth" / name / "1.1.0"
        )
    with pytest.raises(ValueError, match="give one of them"):
        select(f"tfds:{tmp_path}", "test")
    one = select(f"tfds:{tmp_path}/attention_center_ground_truth/osie_small_copy", "test")
    assert len(one.records) == 2 and len(one.frames) == 2


def _damaged_copy(small, tmp_path, split: str, damage: str):
    """A copy of the prepared config with one split's shard removed, cut short or with one
    byte flipped; returns ``(the copy's version folder, that shard)``."""
    import shutil

    version = tmp_path / "attention_center_ground_truth" / "osie_small" / "1.1.0"
    shutil.copytree(small.version_dir, version)
    [shard] = version.glob(f"*-{split}.tfrecord-*")
    data = bytearray(shard.read_bytes())
    if damage == "missing":
        shard.unlink()
    elif damage == "truncated":
        shard.write_bytes(bytes(data[: len(data) // 2]))
    else:
        data[len(data) // 2] ^= 0xFF
        shard.write_bytes(bytes(data))
    return version, shard


@pytest.mark.parametrize(
    "damage, says",
    [("missing", "missing"), ("truncated", "truncated"), ("flipped", "unreadable: corrupted")],
)
def test_a_partial_or_corrupt_prepared_folder_is_named_not_a_traceback(
    small, tmp_path, damage, says
):
    """A shard that is missing, cut short or corrupt was TensorFlow's NotFoundError /
    DataLossError from deep in the iteration (exit 1 with a traceback); now a ValueError
    (exit 2 in train and evaluate) names the folder and the shard and says to prepare it
    again. The other splits still read."""
    from attention_center.data.selection import select

    version, shard = _damaged_copy(small, tmp_path, "test", damage)
    with pytest.raises(ValueError) as error:
        select(f"tfds:{tmp_path}", ("val", "test"))
    message = str(error.value)
    assert says in message and shard.name in message, message
    assert str(version) in message and "attention-center ground-truth tfds" in message, message
    assert len(select(f"tfds:{tmp_path}", "val").records) == 2
