"""Evaluating on a prepared TFDS dataset (``--data tfds:...``) gives the portable build's results.

The small ground truth of ``tests/small_ground_truth.py`` (real OSIE fixations) in both
forms. A model whose centre and map are the brightness of its input (numpy, no Keras) is
scored at the stored frame size (480x640: the stored frame is used as is) and at 120x160
(the stored frame refitted with the original's geometry). Records, centres and every
baseline (image centre, dataset mean, human ceiling) are equal; the model's scores agree to
JPEG and resampling tolerance (the build evaluates on the original images).
"""

from __future__ import annotations

import numpy as np
import pytest
from small_ground_truth import small_ground_truth

from attention_center.inference.predictors import Predictor

pytest.importorskip("tensorflow_datasets")


class Brightness(Predictor):
    """Centre = the brightness centroid of the frame; map = brightness at stride 4."""

    path = None
    has_weight_map = True

    def __init__(self, frame_hw):
        self.frame_hw = tuple(frame_hw)
        self.name = f"brightness {frame_hw[0]}x{frame_hw[1]}"

    def predict_frames(self, frames):
        frames = np.asarray(frames, np.float64)
        weight = frames.mean(-1)  # [B, H, W]
        h, w = weight.shape[1:]
        total = weight.sum((1, 2))
        x = (weight * np.arange(w)[None, None, :]).sum((1, 2)) / total
        y = (weight * np.arange(h)[None, :, None]).sum((1, 2)) / total
        maps = weight.reshape(len(frames), h // 4, 4, w // 4, 4).mean((2, 4))[..., None]
        return {"center": np.stack([x, y], 1), "weight_map": maps.astype(np.float32)}


@pytest.fixture(scope="module")
def small(tmp_path_factory, shared_data_dir):
    return small_ground_truth(tmp_path_factory, shared_data_dir)


def test_tfds_evaluation_equals_the_portable_builds(small):
    from attention_center.evaluation.evaluate import evaluate

    models = [Brightness((480, 640)), Brightness((120, 160))]
    kwargs = dict(models=models, split=("val", "test"), progress=False)
    built = evaluate(small.build_dir, **kwargs)
    from_tfds = evaluate(small.spec, **kwargs)
    assert [r["image_id"] for r in from_tfds.records] == [r["image_id"] for r in built.records]
    assert len(built.records) == 4 and not built.failures and not from_tfds.failures
    for a, b in zip(built.records, from_tfds.records):
        assert (a["center"], a["points"], a["original_hw"]) == (
            b["center"],
            b["points"],
            b["original_hw"],
        )
    names = [m.name for m in built.methods]
    assert names == [m.name for m in from_tfds.methods] and len(names) == 5
    for a, b in zip(built.methods, from_tfds.methods):
        if a.saliency is None:  # baselines and the human ceiling: from the records alone
            np.testing.assert_array_equal(b.errors, a.errors)
            np.testing.assert_array_equal(b.same_group, a.same_group)
            continue
        # The model sees the stored JPEG frame (refitted, at 120x160), not the original:
        # measured 1.3e-5 / 1.9e-5 of the diagonal apart at most, KLD 0.006.
        np.testing.assert_allclose(b.errors, a.errors, atol=2e-4, err_msg=a.name)
        for metric, values in a.saliency.items():
            np.testing.assert_allclose(
                b.saliency[metric], values, rtol=0.01, atol=0.01, err_msg=f"{a.name} {metric}"
            )


def test_evaluate_command_on_a_prepared_tfds_dataset(small, capsys):
    from attention_center.cli import evaluate as evaluate_cli

    with pytest.raises(SystemExit) as exit_:
        evaluate_cli.run(["evaluate", "--data", small.spec, "--split", "test", "--noprogress"])
    out, err = capsys.readouterr()
    assert exit_.value.code == 0, err[-3000:]
    assert "| image centre |" in out and "human ceiling" in out and "| 2 |" in out
    with pytest.raises(SystemExit) as exit_:
        evaluate_cli.run(["evaluate", "--data", f"tfds:{small.tfds_dir / 'nothing'}"])
    assert exit_.value.code == 2 and "prepare one with" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_evaluate_command_names_a_damaged_shard_and_exits_2(small, tmp_path, damage, capsys):
    """A partial prepared folder (a shard removed, or cut short as by a full disk) was a
    TensorFlow traceback and exit 1; now one error line names the shard, exit 2."""
    import shutil

    from attention_center.cli import evaluate as evaluate_cli

    version = tmp_path / "attention_center_ground_truth" / "osie_small" / "1.1.0"
    shutil.copytree(small.version_dir, version)
    [shard] = version.glob("*-test.tfrecord-*")
    if damage == "missing":
        shard.unlink()
    else:
        shard.write_bytes(shard.read_bytes()[:100])
    with pytest.raises(SystemExit) as exit_:
        evaluate_cli.run(["evaluate", "--data", f"tfds:{tmp_path}", "--split", "test"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err[-3000:]
    assert "Traceback" not in err and f"{shard}: {damage}" in err, err[-3000:]
    assert "prepare it again with `attention-center ground-truth tfds`" in err
