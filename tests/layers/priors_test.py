"""The head's learned priors and image context (issue 24): the layer serializes and survives a
``.keras`` round trip, starts as the head without priors, learns its prior parameters, and the
model converts to a builtin-only int8 TFLite file whose centres follow the Keras model's."""

from __future__ import annotations

import os

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from head_inputs import random_taps  # noqa: E402

from attention_center import AttentionCenterHead, build_model  # noqa: E402
from attention_center.heads.center_head import initial_priors  # noqa: E402

HW = (48, 64)


def test_priors_serialize_and_the_config_round_trips():
    head = AttentionCenterHead(width=8, priors=5, name="h")
    head(random_taps())
    config = head.get_config()
    assert config["priors"] == 5
    clone = AttentionCenterHead.from_config(config)
    clone(random_taps())
    clone.set_weights(head.get_weights())
    np.testing.assert_allclose(clone(random_taps()), head(random_taps()), atol=1e-6)
    assert AttentionCenterHead.from_config({**config, "priors": 0}).priors == 0  # old configs


def test_prior_maps_peak_where_their_means_are():
    head = AttentionCenterHead(width=8, priors=3)
    head(random_taps())
    maps = keras.ops.convert_to_numpy(head.prior_maps(12, 16))
    assert maps.shape == (12, 16, 3)
    means, _ = initial_priors(3)
    for k, (u, v) in enumerate(means):
        y, x = np.unravel_index(np.argmax(maps[..., k]), maps.shape[:2])
        assert abs((x + 0.5) / 16 - u) <= 1 / 16 and abs((y + 0.5) / 12 - v) <= 1 / 12
        assert maps[..., k].max() == pytest.approx(1.0, abs=0.05)  # a cell next to the mean


def test_a_head_with_priors_starts_as_the_head_without():
    plain = AttentionCenterHead(width=8, name="h")
    with_priors = AttentionCenterHead(width=8, priors=4, name="h")
    plain(random_taps())
    with_priors(random_taps())
    trained = {w.path: w for w in plain.weights}
    for variable in with_priors.weights:  # the same weights where the paths match (warm start)
        if variable.path in trained:
            variable.assign(trained[variable.path])
    assert sum(v.path in trained for v in with_priors.weights) == len(plain.weights)
    np.testing.assert_allclose(with_priors(random_taps()), plain(random_taps()), atol=1e-6)


def test_prior_parameters_are_learned_and_context_moves_the_centre(tmp_path):
    """A short run on images whose centre depends on the whole image (bright images: top
    left, dark ones: bottom right) moves the priors and the context weights."""
    keras.utils.set_random_seed(1)
    model = build_model(
        "mobilenet_v3_small",
        input_shape=(*HW, 3),
        backbone_weights=None,
        head_priors=4,
        head_width=8,
    )
    model.backbone.trainable = False  # the priors and the context are the head's: train it alone
    head = model.get_layer("center_head")
    before = {w.path: keras.ops.convert_to_numpy(w).copy() for w in head.weights}
    rng = np.random.default_rng(0)
    bright = rng.random(32) > 0.5
    images = rng.random((32, *HW, 3)) * 0.2 + np.where(bright, 0.7, 0.1)[:, None, None, None]
    centers = np.where(bright[:, None], [[8.0, 6.0]], [[56.0, 42.0]]).astype("float32")
    model.compile(optimizer=keras.optimizers.Adam(3e-2), loss={"center": "mse"})
    model.fit(images.astype("float32"), {"center": centers}, epochs=8, batch_size=8, verbose=0)
    after = {w.path: keras.ops.convert_to_numpy(w) for w in head.weights}
    moved = [p for p in before if "prior" in p and not np.allclose(before[p], after[p])]
    assert any("prior_means" in p for p in moved), moved
    assert any("prior_log_sigmas" in p for p in moved), moved
    assert any("prior_weights" in p for p in moved), moved
    path = tmp_path / "m.keras"
    model.save(path)
    import attention_center

    loaded = attention_center.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(images[:4], verbose=0)["center"],
        model.predict(images[:4], verbose=0)["center"],
        atol=1e-4,
    )


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TFLite export needs TF")
def test_int8_tflite_with_priors_is_builtin_only(kodak_paths):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from export_models import int8_content_following, structured_lite0_model

    from export import flatbuffer

    model, frames = structured_lite0_model(kodak_paths, head_priors=6)
    dense = model.get_layer("center_head").prior_weights
    kernel = np.random.default_rng(0).normal(0, 0.5, dense.kernel.shape).astype("float32")
    dense.kernel.assign(kernel)  # the context matters: priors differ per image
    content = int8_content_following(model, frames)
    # Only the gravity centre after the sigmoid stays in float (as without priors).
    assert set(flatbuffer.float_ops(content)) <= {"RESHAPE", "SUM", "ADD", "DIV", "FULLY_CONNECTED"}
