"""attention-center: predict where people look first in an image.

Public API (every name is imported on first use, so ``import attention_center`` is quick
and loads neither Keras nor TensorFlow; ``attention_center.core`` never loads them)::

    import attention_center as ac
    centers = ac.predict(["a.jpg", "b.png"])          # float64 [2, 2]: (x, y) original pixels
    model = ac.build_model("mobilenet_v2", input_shape=(480, 640, 3))
    ac.GravityCenter, ac.AttentionCenterHead, ac.ImageNormalization, ac.ResizeTo
    ac.backbones.list_backbones(), ac.presets.list_presets()
    model = ac.load_model("model.keras")     # keras.saving.load_model, our layers registered

Keras models built from our classes (layers, heads, losses, models) reload with Keras's own
loader once the package is imported, in any order::

    import attention_center, keras
    model = keras.saving.load_model("model.keras")   # "attention_center>GravityCenter" known

Importing Keras registers them: if Keras is already imported, ``import attention_center``
imports our Keras modules at once; if not, a finder on ``sys.meta_path``
(:mod:`attention_center.keras_registration`) waits for ``keras`` to be imported and then
imports them. Until then the package loads no Keras.

Layout (``docs/ARCHITECTURE.md``): ``core`` (Keras-free) <- ``layers``, ``heads``,
``backbones``, ``weights``, ``models``, ``presets``, ``losses``, ``metrics``, ``training``,
``inference``, ``evaluation``, ``jxl`` (the library) <- ``cli`` (the programs, never imported
here: ``attention-center`` and ``python -m attention_center`` run them).
"""

from __future__ import annotations

import importlib

from attention_center import keras_registration as _keras_registration

__version__ = "0.13.0"

#: Public name -> module that defines it.
_EXPORTS = {
    "AttentionCenterEnsemble": "attention_center.models",
    "AttentionCenterHead": "attention_center.heads",
    "AttentionCenterModel": "attention_center.models",
    "CenterL2Loss": "attention_center.losses",
    "GravityCenter": "attention_center.layers",
    "ImageNormalization": "attention_center.layers",
    "NormalizedCenterError": "attention_center.losses",
    "Prediction": "attention_center.inference.prediction",
    "ResizeTo": "attention_center.layers",
    "build_model": "attention_center.models",
    "load_model": "attention_center.models",
    "load_predictor": "attention_center.inference.predictors",
    "predict": "attention_center.inference.prediction",
    "predict_images": "attention_center.inference.prediction",
}
_SUBPACKAGES = (
    "backbones",
    "core",
    "evaluation",
    "heads",
    "inference",
    "jxl",
    "layers",
    "losses",
    "metrics",
    "models",
    "presets",
    "training",
    "weights",
)

__all__ = sorted(_EXPORTS) + list(_SUBPACKAGES)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"attention_center.{name}")
    else:
        raise AttributeError(f"module 'attention_center' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


# Last, once the names above exist: registration may import our Keras modules right away.
_keras_registration.install()
