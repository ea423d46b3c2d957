"""build_model, the backbone registry and .keras round trips (run under TF and JAX)."""

from __future__ import annotations

import json
import math
import re
import warnings
import zipfile

import keras
import numpy as np
import pytest

import attention_center as ac
from attention_center.backbones import build_backbone, level_stride, list_backbones
from attention_center.core.images import load_image, resize_with_pad
from attention_center.presets import resolve_model

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


@pytest.fixture()
def restore_global_policy():
    """Puts Keras's global dtype policy back as it was after the test (which may change it)."""
    previous = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(previous)


#: The policy ``train --mixed_precision`` sets on this backend.
MIXED = "mixed_bfloat16" if keras.backend.backend() == "jax" else "mixed_float16"
SMALL = dict(input_shape=(48, 64, 3), backbone_weights=None, head_width=8)


def _trainable_flags(model) -> list:
    """``(layer class, trainable)`` of every layer under ``model``, depth first (layer names
    differ in a rebuilt model: Keras numbers ``activation_18`` per session)."""
    flags = []

    def visit(layer):
        for child in layer._flatten_layers(include_self=False, recursive=False):
            flags.append((type(child).__name__, child.trainable))
            visit(child)

    visit(model)
    return flags


@pytest.mark.slow  # about a minute under JAX (tools/test.sh's JAX subset skips it)
def test_frozen_layers_and_the_dtype_policy_survive_save_and_load(tmp_path, restore_global_policy):
    """A frozen backbone (and a head layer frozen on its own) stay frozen after a ``.keras``
    round trip, and a model built under a mixed policy reloads mixed under the float32 global
    policy, with its optimizer state (no "Skipping variable loading for optimizer")."""
    keras.config.set_dtype_policy(MIXED)
    keras.utils.set_random_seed(0)
    model = ac.build_model("mobilenet_v3_small", head_priors=2, **SMALL)
    model.backbone.trainable = False
    model.get_layer("center_head").logits.trainable = False
    frozen_count = len(model.trainable_weights)
    frames = np.random.default_rng(0).random((2, 48, 64, 3)).astype("float32")
    model.compile(optimizer="adam", loss={"center": "mse"})
    model.fit(frames, {"center": np.full((2, 2), 10.0, np.float32)}, epochs=1, verbose=0)
    path = tmp_path / "frozen_mixed.keras"
    model.save(path)
    keras.config.set_dtype_policy("float32")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*Skipping variable loading.*")
        loaded = keras.saving.load_model(path, compile=True)
    assert loaded.get_config() == model.get_config()
    assert loaded.get_config()["dtype_policy"] == MIXED
    assert {layer.dtype_policy.name for layer in loaded.layers} == {MIXED}
    assert not loaded.backbone.trainable
    assert len(loaded.trainable_weights) == frozen_count < len(loaded.weights)
    assert _trainable_flags(loaded) == _trainable_flags(model)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(frames)["center"]),
        keras.ops.convert_to_numpy(model(frames)["center"]),
    )
    # A whole frozen model, a backbone thawed but for its first stages (the trainer's
    # frozen_level), and with_input_shape keep their flags too.
    features = loaded.backbone.get_layer("mobilenet_v3_small_features")
    loaded.backbone.trainable = True
    for layer in features.layers[:20]:  # conv, bn, activation_18...: Keras-numbered names
        layer.trainable = False
    loaded.save(path)
    for clone in (
        keras.saving.load_model(path, compile=False),
        loaded.with_input_shape((64, 96, 3)),
    ):
        assert _trainable_flags(clone) == _trainable_flags(loaded)
        assert len(clone.trainable_weights) == len(loaded.trainable_weights)
    loaded.trainable = False
    loaded.save(path)
    assert keras.saving.load_model(path, compile=False).trainable_weights == []
    # Rebuilt in float32 (a CPU or TFLite export of a mixed-precision model): same weights.
    float32 = model.with_dtype_policy("float32")
    assert {layer.dtype_policy.name for layer in float32.layers} == {"float32"}
    assert _trainable_flags(float32) == _trainable_flags(model)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(float32(frames)["center"]),
        keras.ops.convert_to_numpy(model(frames)["center"]),
        atol=0.5,
    )


def test_configs_without_a_policy_load_in_float32_whatever_the_global_policy(
    restore_global_policy, kodak_paths
):
    """Configs written by 0.13.0 and earlier (the bundled presets) hold no dtype policy: they
    were trained in float32 and load so, also while a mixed policy is set."""
    frames = _frames(kodak_paths, (480, 640), 1)
    expected = keras.ops.convert_to_numpy(ac.load_model("default")(frames)["center"])
    keras.config.set_dtype_policy(MIXED)
    preset = ac.load_model("default")
    with zipfile.ZipFile(resolve_model("default", fmt="keras")) as archive:
        assert "dtype_policy" not in json.loads(archive.read("config.json"))["config"]
    assert {layer.dtype_policy.name for layer in preset.layers} == {"float32"}
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(preset(frames)["center"]), expected)
    old = {**ac.build_model("mobilenet_v3_small", **SMALL).get_config()}
    del old["dtype_policy"], old["trainable_layers"]
    rebuilt = ac.AttentionCenterModel.from_config(old)
    assert {layer.dtype_policy.name for layer in rebuilt.layers} == {"float32"}
    assert len(rebuilt.trainable_weights) > 0
    built_now = ac.build_model("mobilenet_v3_small", **SMALL)  # a new model: the global policy
    assert built_now.get_config()["dtype_policy"] == MIXED


@pytest.mark.slow  # 36 s under JAX (tools/test.sh's JAX subset skips it)
@pytest.mark.parametrize("levels", [("P2", "P3", "P4", "P5"), ("P2", "P4")])
def test_transposed_head_weights_fit_every_input_size(levels, kodak_paths):
    """The transposed convolutions upsample by the ratio of the level strides: a model built
    at 96x128 rebuilds at sizes not divisible by 32 and at any size with the same weights, and
    its map stays the finest level's (cropped), the same at a fixed and at any size."""
    keras.utils.set_random_seed(1)
    model = ac.build_model(
        "efficientnet_lite0",
        input_shape=(96, 128, 3),
        backbone_weights=None,
        head_width=8,
        levels=levels,
        upsampling="transpose",
    )
    head = model.get_layer("center_head")
    factors = [level_stride(level) // 4 for level in levels]
    kernels = [None if f == 1 else (2 * f, 2 * f, 8, 8) for f in factors]
    assert [None if u is None else tuple(u.kernel.shape) for u in head.upsamplers] == kernels
    # 101x137: not divisible by 32 (levels of 26x35, 13x18, 7x9, 4x5 cells).
    frames = _frames(kodak_paths, (101, 137), 2)
    fixed = model.with_input_shape((101, 137, 3))
    any_size = model.with_input_shape((None, None, 3))
    for clone in (fixed, any_size):
        upsamplers = clone.get_layer("center_head").upsamplers
        assert [None if u is None else tuple(u.kernel.shape) for u in upsamplers] == kernels
    out = fixed(frames)
    assert tuple(out["weight_map"].shape) == (2, 26, 35, 1)  # ceil(101 / 4), ceil(137 / 4)
    again = any_size(frames)["weight_map"]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(again), keras.ops.convert_to_numpy(out["weight_map"]), atol=1e-5
    )
    if keras.backend.backend() == "tensorflow":  # a graph of unknown sizes (a SavedModel's)
        import tensorflow as tf

        spec = tf.TensorSpec((None, None, None, 3), tf.float32)
        graph = tf.function(lambda x: any_size(x)["weight_map"], input_signature=[spec])
        np.testing.assert_allclose(graph(frames).numpy(), np.asarray(out["weight_map"]), atol=1e-5)
    # An ensemble rebuilds its members at its own input size.
    ensemble = ac.AttentionCenterEnsemble.from_models([model], input_shape=(100, 130, 3))
    assert tuple(ensemble(_frames(kodak_paths, (100, 130), 1))["center"].shape) == (1, 2)


def test_output_stride_counts_input_frame_pixels_per_map_cell():
    """With ``internal_hw`` the map's cells cover more input pixels than the finest level's
    stride (the presets: 480x640 worked at 240x320, a 60x80 map, stride 8)."""
    model = ac.build_model(
        "mobilenet_v3_small",
        input_shape=(96, 128, 3),
        backbone_weights=None,
        head_width=8,
        internal_hw=(48, 64),
    )
    weight_map = model(np.zeros((1, 96, 128, 3), np.float32))["weight_map"]
    assert tuple(weight_map.shape) == (1, 12, 16, 1)
    assert model.feature_stride == 4
    assert model.output_stride == 8 == 96 // weight_map.shape[1] == 128 // weight_map.shape[2]
    assert model.with_input_shape((48, 64, 3)).output_stride == 4
    assert model.with_input_shape((72, 96, 3)).output_stride == 6
    assert model.with_input_shape((None, None, 3)).output_stride is None  # depends on the input
    assert model.with_input_shape((96, 64, 3)).output_stride is None  # 8 down, 4 across


def test_load_model_points_tflite_models_to_the_predictor_api():
    for spec in ("default:tflite", resolve_model("default", fmt="tflite")):
        with pytest.raises(ValueError, match=r"TFLite model.*load_predictor") as error:
            ac.load_model(spec)
        assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "arguments, words",
    [
        ({"levels": "P3"}, "levels must be a sequence of level names"),  # was int('')
        ({"levels": ()}, "levels must name at least one level"),  # was Keras's empty outputs
        ({"levels": ("P3", "P3")}, "levels must not name a level twice"),  # was built
        ({"levels": ("P3", "P9")}, "levels: backbone 'mobilenet_v2' has no level(s) P9"),
        ({"input_shape": (64, 64, 1)}, "input_shape must be (H, W, 3)"),  # was built
        ({"input_shape": (64, 64, 4)}, "input_shape must be (H, W, 3)"),  # was built
        ({"input_shape": (64, 64)}, "input_shape must be (H, W, 3)"),
        ({"head_convs": -1}, "head_convs"),  # was taken as 0
    ],
)
def test_build_model_refuses_bad_arguments_before_building_naming_them(arguments, words):
    """Each is refused with a ValueError that names the argument, before the backbone is
    built (so these cost nothing); ``levels`` errors say which levels the backbone has."""
    arguments = {"input_shape": (64, 64, 3), "backbone_weights": None, **arguments}
    with pytest.raises(ValueError, match=re.escape(words)) as raised:
        ac.build_model("mobilenet_v2", **arguments)
    if "levels" in arguments:
        assert "P2, P3, P4, P5" in str(raised.value)
    with pytest.raises(ValueError, match=re.escape(words)):
        ac.AttentionCenterModel("mobilenet_v2", **arguments)
