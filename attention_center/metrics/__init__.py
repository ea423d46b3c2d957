"""Evaluation metrics: centre error in original pixels, JPEG XL group agreement, saliency
metrics, and paired bootstrap intervals for comparing two methods."""

from attention_center.core.centers import (
    JXL_GROUP_SIZE,
    centers_from_normalized,
    image_centers,
    jxl_groups,
    normalized_center_errors,
    normalized_centers,
    same_jxl_group,
    summarize_center_errors,
)
from attention_center.metrics.intervals import RatioInterval, paired_mean_ratio
from attention_center.metrics.saliency import (
    MATLAB_EPS,
    SALIENCY_METRICS,
    auc_judd,
    cc,
    fixation_pixels,
    kld,
    map_to_original,
    nss,
    saliency_scores,
    sim,
)

__all__ = [
    "JXL_GROUP_SIZE",
    "MATLAB_EPS",
    "SALIENCY_METRICS",
    "RatioInterval",
    "auc_judd",
    "cc",
    "centers_from_normalized",
    "fixation_pixels",
    "image_centers",
    "jxl_groups",
    "kld",
    "map_to_original",
    "normalized_center_errors",
    "normalized_centers",
    "nss",
    "paired_mean_ratio",
    "saliency_scores",
    "same_jxl_group",
    "sim",
    "summarize_center_errors",
]
