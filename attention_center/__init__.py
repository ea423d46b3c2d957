"""attention-center: predict where people look first in an image.

Public API::

    import attention_center as ac
    centers = ac.predict(["a.jpg", "b.png"])   # float64 [2, 2]: (x, y) original pixels
    model = ac.build_model("mobilenet_v2", input_shape=(480, 640, 3))
    ac.layers.GravityCenter, ac.layers.AttentionCenterHead, ac.layers.ImageNormalization
    ac.backbones.list_backbones()
"""

__version__ = "0.1.0"

from attention_center import backbones, heads, layers  # noqa: E402
from attention_center.heads import AttentionCenterHead  # noqa: E402
from attention_center.layers import GravityCenter, ImageNormalization, ResizeTo  # noqa: E402
from attention_center.losses import CenterL2Loss, NormalizedCenterError  # noqa: E402
from attention_center.models import (AttentionCenterEnsemble, AttentionCenterModel,  # noqa: E402
                                     build_model)
from attention_center.prediction import Prediction, predict, predict_images  # noqa: E402

__all__ = [
    "AttentionCenterEnsemble",
    "AttentionCenterHead",
    "AttentionCenterModel",
    "CenterL2Loss",
    "GravityCenter",
    "ImageNormalization",
    "NormalizedCenterError",
    "Prediction",
    "ResizeTo",
    "backbones",
    "build_model",
    "heads",
    "layers",
    "predict",
    "predict_images",
]
