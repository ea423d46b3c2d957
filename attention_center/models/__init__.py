"""Models assembled from configuration, and loading them from ``.keras`` files."""

from attention_center.models.center_model import AttentionCenterModel, build_model
from attention_center.models.ensemble import AttentionCenterEnsemble
from attention_center.models.saving import load_model
from attention_center.models.soup import weight_averaged_model
from attention_center.models.temperature import with_head_temperature

__all__ = [
    "AttentionCenterEnsemble",
    "AttentionCenterModel",
    "build_model",
    "load_model",
    "weight_averaged_model",
    "with_head_temperature",
]
