"""Layers: GravityCenter, AttentionCenterHead, ImageNormalization (run under TF and JAX)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from attention_center.heads import AttentionCenterHead
from attention_center.layers import GravityCenter, ImageNormalization


@pytest.mark.parametrize("i,j", [(0, 0), (3, 7), (9, 0), (9, 11)])
def test_one_hot_map_gives_that_pixels_centre(i, j):
    weight_map = np.zeros((1, 10, 12, 1), np.float32)
    weight_map[0, i, j, 0] = 1.0
    center = np.asarray(GravityCenter()(weight_map))
    np.testing.assert_allclose(center, [[j, i]], atol=1e-4)  # (x, y), 0-based pixel centres


def test_strides_map_cells_to_the_centre_of_their_block_of_frame_pixels():
    weight_map = np.zeros((1, 4, 6, 1), np.float32)
    weight_map[0, 2, 5, 0] = 1.0
    # Cell (2, 5) of a stride-4 map covers frame pixels x 20..23, y 8..11: centre (21.5, 9.5).
    np.testing.assert_allclose(
        np.asarray(GravityCenter(stride=4)(weight_map)), [[21.5, 9.5]], atol=1e-4
    )
    image = np.zeros((1, 16, 24, 3), np.float32)
    np.testing.assert_allclose(
        np.asarray(GravityCenter()([weight_map, image])), [[21.5, 9.5]], atol=1e-4
    )


def test_uniform_map_gives_the_frame_centre_and_weights_average():
    image = np.zeros((2, 480, 640, 3), np.float32)
    uniform = np.ones((2, 120, 160, 1), np.float32)
    np.testing.assert_allclose(
        np.asarray(GravityCenter()([uniform, image])), [[319.5, 239.5]] * 2, atol=1e-2
    )
    two = np.zeros((1, 10, 10, 1), np.float32)
    two[0, 0, 0, 0], two[0, 0, 9, 0] = 1.0, 3.0
    np.testing.assert_allclose(np.asarray(GravityCenter()(two)), [[6.75, 0.0]], atol=1e-4)


def test_layers_serialize_with_their_config():
    for layer in (
        GravityCenter(stride=(8, 4), epsilon=1e-6),
        AttentionCenterHead(
            width=16, num_convs=2, upsampling="transpose", aggregation="concat", dropout=0.1
        ),
        ImageNormalization("caffe"),
    ):
        config = keras.saving.serialize_keras_object(layer)
        clone = keras.saving.deserialize_keras_object(config)
        assert type(clone) is type(layer)
        assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize("upsampling", ["bilinear", "transpose"])
@pytest.mark.parametrize("aggregation", ["add", "concat"])
def test_head_fuses_taps_at_several_strides_into_a_map(upsampling, aggregation):
    rng = np.random.default_rng(0)
    features = [
        rng.random((2, 30, 40, 8), np.float32),
        rng.random((2, 15, 20, 16), np.float32),
        rng.random((2, 8, 10, 32), np.float32),
    ]  # 8 = ceil(7.5): odd sizes must work
    head = AttentionCenterHead(width=8, upsampling=upsampling, aggregation=aggregation)
    out = np.asarray(head(features))
    assert out.shape == (2, 30, 40, 1)
    assert np.all(out > 0) and np.all(out < 1)


def test_head_rejects_unknown_options():
    with pytest.raises(ValueError, match="upsampling"):
        AttentionCenterHead(upsampling="nearest")
    with pytest.raises(ValueError, match="aggregation"):
        AttentionCenterHead(aggregation="max")


def test_image_normalization_modes():
    x = np.full((1, 2, 2, 3), 0.5, np.float32)
    np.testing.assert_allclose(np.asarray(ImageNormalization("tf")(x)), 0.0, atol=1e-6)
    np.testing.assert_allclose(np.asarray(ImageNormalization("raw255")(x)), 127.5, atol=1e-4)
    torch = np.asarray(ImageNormalization("torch")(x))[0, 0, 0]
    np.testing.assert_allclose(
        torch, (0.5 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]), atol=1e-5
    )
    red = np.zeros((1, 1, 1, 3), np.float32)
    red[..., 0] = 1.0
    caffe = np.asarray(ImageNormalization("caffe")(red))[0, 0, 0]
    np.testing.assert_allclose(caffe, [-103.939, -116.779, 255 - 123.68], atol=1e-3)  # BGR
    with pytest.raises(ValueError):
        ImageNormalization("nope")


@pytest.mark.parametrize(
    "shape", [(3, 6, 8, 2), (3, 6, 8), (3, 6, 8, 1, 1)], ids=["2 channels", "rank 3", "rank 5"]
)
def test_gravity_center_refuses_maps_that_are_not_one_channel_rank_4(shape):
    """A [3, 6, 8, 2] map gave 6 centres (the channels folded into the batch)."""
    weight_map = np.random.default_rng(0).random(shape).astype(np.float32)
    with pytest.raises(ValueError, match=r"weighting map \[B, h, w, 1\]"):
        GravityCenter()(weight_map)
    with pytest.raises(ValueError, match=r"weighting map \[B, h, w, 1\]"):
        GravityCenter()([weight_map, np.zeros((3, 12, 16, 3), np.float32)])
    with pytest.raises(ValueError, match=r"weighting map \[B, h, w, 1\]"):
        GravityCenter()(keras.Input(shape[1:]))  # when a functional model is built
    layer = GravityCenter()
    layer(np.ones((3, 6, 8, 1), np.float32))  # built on a good map, then called on a bad one
    with pytest.raises(ValueError, match=r"weighting map \[B, h, w, 1\]"):
        layer(weight_map)
    with pytest.raises(ValueError, match=r"image \[B, H, W, C\]"):
        GravityCenter()([np.ones((3, 6, 8, 1), np.float32), np.zeros((3, 12, 16), np.float32)])
    assert tuple(GravityCenter()(np.ones((3, 6, 8, 1), np.float32)).shape) == (3, 2)


def test_transposed_head_upsamples_by_the_ratio_of_the_tap_strides():
    """The transposed convolutions' kernels follow the taps' strides, whatever the input size
    (P2, P3 and P5 of a 50x66 input: 13x17, 7x9, 2x3 cells); the output is the finest tap's."""
    rng = np.random.default_rng(0)
    for hw in ((50, 66), (64, 96)):
        sizes = [(-(-hw[0] // s), -(-hw[1] // s)) for s in (4, 8, 32)]
        taps = [rng.random((2, h, w, 4), np.float32) for h, w in sizes]
        head = AttentionCenterHead(width=8, upsampling="transpose", strides=(4, 8, 32))
        out = np.asarray(head(taps))
        assert out.shape == (2, *sizes[0], 1)
        kernels = [None if u is None else tuple(u.kernel.shape) for u in head.upsamplers]
        assert kernels == [None, (4, 4, 8, 8), (16, 16, 8, 8)]  # factors 2 and 8
    assert head.get_config()["strides"] == [4, 8, 32]
    default = AttentionCenterHead(width=8, upsampling="transpose")  # consecutive levels
    default(taps)
    assert [None if u is None else u.strides for u in default.upsamplers] == [None, (2, 2), (4, 4)]
    with pytest.raises(ValueError, match="strides"):
        AttentionCenterHead(strides=(4, 6))
    with pytest.raises(ValueError, match="3 feature maps"):
        AttentionCenterHead(upsampling="transpose", strides=(4, 8))(taps)


@pytest.mark.parametrize(
    "stride", [0, -1, "2", (1, 2, 3), (2, 0), (2, "2"), None, float("nan"), float("inf"), True]
)
def test_gravity_center_refuses_a_stride_that_is_not_one_or_two_positive_numbers(stride):
    """0 collapsed every centre to (-0.5, -0.5), -1 gave negative coordinates, and '2' or a
    triple failed only when called, with a bare unpacking error."""
    with pytest.raises(ValueError, match=r"stride must be a positive number or \(stride_y"):
        GravityCenter(stride=stride)


def test_gravity_center_takes_a_positive_number_or_pair_as_its_stride():
    for stride, expected in [(4, [4.0, 4.0]), (2.5, [2.5, 2.5]), ((2, 4), [2.0, 4.0])]:
        layer = GravityCenter(stride=stride)
        assert layer.get_config()["stride"] == expected
        assert GravityCenter.from_config(layer.get_config()).stride == tuple(expected)
    weight_map = np.zeros((1, 4, 6, 1), np.float32)
    weight_map[0, 1, 3, 0] = 1.0  # row 1, column 3
    np.testing.assert_allclose(
        np.asarray(GravityCenter(stride=np.array([2, 4]))(weight_map)), [[13.5, 2.5]], atol=1e-4
    )


def test_head_refuses_a_negative_number_of_convolutions():
    with pytest.raises(ValueError, match="num_convs"):
        AttentionCenterHead(num_convs=-1)  # was taken as 0
    assert AttentionCenterHead(num_convs=0).num_convs == 0
