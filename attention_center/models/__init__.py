"""Models assembled from configuration."""

from attention_center.models.center_model import (DEFAULT_INPUT_SHAPE, AttentionCenterModel,
                                                  build_model)
from attention_center.models.ensemble import AttentionCenterEnsemble

__all__ = ["DEFAULT_INPUT_SHAPE", "AttentionCenterEnsemble", "AttentionCenterModel", "build_model"]
