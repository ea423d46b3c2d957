"""The weight-averaged model (a "model soup") and ``attention-center ensemble --average weights``.

Members are small random-backbone models of one architecture whose heads are given structure
on real Kodak photos (``export_models.give_structure``); the second member is the first with
its weights moved (as a fine-tune from the same start would move them), so the soup's weights
and centres differ from both members' and "the mean" is a claim that can fail.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from export_models import give_structure

import attention_center as ac
from attention_center.cli.main import main as attention_center_command
from attention_center.core.images import load_image, resize_with_pad
from attention_center.models import AttentionCenterEnsemble, load_model, weight_averaged_model

HW = (96, 128)


def _frames(kodak_paths, count=4):
    return np.stack([resize_with_pad(load_image(p), HW)[0] for p in kodak_paths[:count]])


def _model(seed, head_width=8):
    keras.utils.set_random_seed(seed)
    return ac.build_model(
        "mobilenet_v2",
        input_shape=(*HW, 3),
        alpha=0.35,
        backbone_weights=None,
        head_width=head_width,
        head_priors=2,
    )


@pytest.fixture(scope="module")
def members(kodak_paths):
    frames = _frames(kodak_paths)
    a = give_structure(_model(5), frames)
    b = _model(5)
    rng = np.random.default_rng(0)
    b.set_weights(
        [
            w + (0.2 * rng.standard_normal(w.shape) * (np.std(w) + 1e-3)).astype(w.dtype)
            for w in a.get_weights()
        ]
    )
    return a, give_structure(b, frames)


def test_every_weight_is_the_members_mean_and_the_soup_is_one_model(members, kodak_paths):
    a, b = members
    soup = weight_averaged_model([a, b], name="soup")
    assert isinstance(soup, ac.AttentionCenterModel) and soup.name == "soup"
    assert soup.count_params() == a.count_params()
    for got, wa, wb in zip(soup.get_weights(), a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(got, (wa + wb) / 2, rtol=1e-6, atol=1e-7)
    frames = _frames(kodak_paths)
    centres = [m.predict(frames, verbose=0)["center"] for m in (soup, a, b)]
    assert not np.allclose(centres[0], centres[1], atol=0.5)  # a new model, not member 0
    assert not np.allclose(centres[0], centres[2], atol=0.5)
    # Averaging a model with itself gives the model back; the members are not changed.
    same = weight_averaged_model([a, a])
    np.testing.assert_allclose(
        same.predict(frames, verbose=0)["center"], centres[1], rtol=1e-5, atol=1e-3
    )
    np.testing.assert_allclose(a.predict(frames, verbose=0)["center"], centres[1], atol=1e-4)


def test_members_that_differ_are_refused_with_the_difference_named(members):
    a, _ = members
    with pytest.raises(ValueError, match="head_width: 8 vs 16"):
        weight_averaged_model([a, _model(1, head_width=16)])
    with pytest.raises(ValueError, match="at least two"):
        weight_averaged_model([a])
    ensemble = AttentionCenterEnsemble.from_models([a], input_shape=(*HW, 3))
    with pytest.raises(TypeError, match="AttentionCenterEnsemble, not an AttentionCenterModel"):
        weight_averaged_model([a, ensemble])


def test_cli_writes_the_weight_average_atomically_and_refuses_a_mismatch(
    members, kodak_paths, tmp_path, capsys
):
    a, b = members
    a.save(tmp_path / "a.keras")
    b.save(tmp_path / "b.keras")
    out = tmp_path / "soup" / "model.keras"
    argv = ["ensemble", "--model", str(tmp_path / "a.keras"), "--model", str(tmp_path / "b.keras")]
    argv += ["--out", str(out), "--input_size", "96x128", "--average", "weights"]
    assert attention_center_command(["attention-center", *argv]) == 0
    loaded = load_model(out)
    assert isinstance(loaded, ac.AttentionCenterModel)  # one model, not an ensemble
    frames = _frames(kodak_paths)
    expected = weight_averaged_model([a, b]).predict(frames, verbose=0)["center"]
    np.testing.assert_allclose(loaded.predict(frames, verbose=0)["center"], expected, atol=1e-3)
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.keras"]

    # Another architecture: a usage error naming the difference; the output untouched.
    before = out.read_bytes()
    _model(2, head_width=16).save(tmp_path / "wide.keras")
    argv[4] = str(tmp_path / "wide.keras")
    capsys.readouterr()
    assert attention_center_command(["attention-center", *argv]) == 2
    assert "head_width: 8 vs 16" in capsys.readouterr().err
    assert out.read_bytes() == before
