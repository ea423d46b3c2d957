"""Models assembled from configuration."""

from attention_center.models.center_model import (DEFAULT_INPUT_SHAPE, AttentionCenterModel,
                                                  build_model)

__all__ = ["DEFAULT_INPUT_SHAPE", "AttentionCenterModel", "build_model"]
