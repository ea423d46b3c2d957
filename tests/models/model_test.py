"""build_model, the backbone registry and .keras round trips (run under TF and JAX)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

import attention_center as ac
from attention_center.backbones import build_backbone, level_stride, list_backbones
from attention_center.core.images import load_image, resize_with_pad

EXPECTED_BACKBONES = {
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "resnet50",
    "efficientnet_b0",
    "efficientnet_lite0",
}


def test_registry_has_the_promised_backbones():
    assert EXPECTED_BACKBONES <= set(list_backbones())
    with pytest.raises(ValueError, match="unknown backbone"):
        build_backbone("vgg99")


# Under JAX, building a large Keras Applications backbone compiles each initializer on the CPU
# (20-40 s each): those run under TensorFlow only (the JAX run skips "slow"). The taps are
# found by layer name, the same code under both backends; the smaller ones run under both.
_SLOW_UNDER_JAX = {"efficientnet_b0", "mobilenet_v3_large", "resnet50"}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.slow)
        if keras.backend.backend() == "jax" and name in _SLOW_UNDER_JAX
        else name
        for name in sorted(EXPECTED_BACKBONES)
    ],
)
def test_every_backbone_exposes_taps_at_strides_4_to_32(name):
    height, width = 96, 128
    backbone = build_backbone(name, input_shape=(height, width, 3), weights=None)
    outputs = backbone(np.zeros((1, height, width, 3), np.float32))
    assert sorted(outputs) == ["P2", "P3", "P4", "P5"]
    assert set(backbone.pyramid_outputs) == set(outputs)
    for level, feature in outputs.items():
        stride = level_stride(level)
        assert tuple(feature.shape[1:3]) == (math.ceil(height / stride), math.ceil(width / stride))


def test_width_multiplier_is_checked():
    small = build_backbone("mobilenet_v2", input_shape=(64, 64, 3), weights=None, alpha=0.5)
    assert (
        small.count_params()
        < build_backbone("mobilenet_v2", input_shape=(64, 64, 3), weights=None).count_params()
    )
    with pytest.raises(ValueError, match="width multiplier"):
        build_backbone("resnet50", weights=None, alpha=0.5)


def _frames(kodak_paths, hw, count=3):
    return np.stack([resize_with_pad(load_image(p), hw)[0] for p in kodak_paths[:count]])


def test_build_model_outputs_and_keras_round_trip(tmp_path, kodak_paths):
    model = ac.build_model(
        "mobilenet_v2",
        input_shape=(120, 160, 3),
        backbone_weights=None,
        levels=("P3", "P4", "P5"),
        head_width=16,
        upsampling="transpose",
    )
    frames = _frames(kodak_paths, (120, 160))
    out = model(frames)
    assert set(out) == {"center", "weight_map"}
    assert tuple(out["center"].shape) == (3, 2)
    assert tuple(out["weight_map"].shape) == (3, 15, 20, 1)  # stride 8 of the finest tap
    center = np.asarray(out["center"])
    assert np.all((center >= -0.5) & (center <= [159.5, 119.5]))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, ac.AttentionCenterModel)
    again = loaded(frames)
    np.testing.assert_array_equal(np.asarray(again["center"]), center)
    np.testing.assert_array_equal(np.asarray(again["weight_map"]), np.asarray(out["weight_map"]))
    assert loaded.get_config() == model.get_config()


def test_with_input_shape_keeps_weights_and_internal_resolution(kodak_paths):
    keras.utils.set_random_seed(0)
    model = ac.build_model(
        "mobilenet_v2",
        input_shape=(120, 160, 3),
        backbone_weights=None,
        head_width=8,
        internal_hw=(120, 160),
    )
    big = model.with_input_shape((240, 320, 3))
    assert big.get_config()["internal_hw"] == [120, 160]
    for a, b in zip(model.get_weights(), big.get_weights()):
        np.testing.assert_array_equal(a, b)
    big_frames = _frames(kodak_paths, (240, 320), 2)
    # The bigger model resizes its input to the internal 120x160 in the graph (bilinear), then
    # runs the same network: the same as resizing first and running the small model, with the
    # centre in the bigger frame's pixels (x_big + 0.5 = 2 (x_small + 0.5)).
    small_frames = ac.layers.ResizeTo(120, 160)(big_frames)
    small_center = np.asarray(model(small_frames)["center"])
    # Called as model(x): inference mode (batch norm on its moving statistics) by default.
    big_center = np.asarray(big(big_frames)["center"])
    np.testing.assert_allclose(big_center, (small_center + 0.5) * 2 - 0.5, atol=0.05)
    np.testing.assert_allclose(big_center, big(big_frames, training=False)["center"], atol=1e-5)
    assert np.asarray(big(big_frames)["weight_map"]).shape == (2, 30, 40, 1)


def test_public_api_exposes_the_layers():
    assert ac.GravityCenter is ac.layers.GravityCenter
    assert ac.AttentionCenterHead is ac.heads.AttentionCenterHead
    for name in (
        "GravityCenter",
        "AttentionCenterHead",
        "ImageNormalization",
        "AttentionCenterModel",
        "CenterL2Loss",
    ):
        cls = getattr(ac, name)  # the lazy package imports (hence registers) it here
        assert keras.saving.get_registered_object(f"attention_center>{name}") is cls


def test_center_loss_and_error_are_normalized_by_the_frame():
    loss = ac.CenterL2Loss(frame_hw=(480, 640))
    y_true = np.array([[0.0, 0.0]], np.float32)
    y_pred = np.array([[64.0, 48.0]], np.float32)  # 10 % of width and of height
    assert float(loss(y_true, y_pred)) == pytest.approx(math.hypot(0.1, 0.1), rel=1e-4)
    metric = ac.NormalizedCenterError(frame_hw=(480, 640))
    metric.update_state(y_true, y_pred)
    assert float(metric.result()) == pytest.approx(
        80.0 / 800.0, rel=1e-4
    )  # 80 px of an 800 diagonal
