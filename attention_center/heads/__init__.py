"""Heads: feature pyramid -> weighting map."""

from attention_center.heads.center_head import AttentionCenterHead

HEADS = {"center": AttentionCenterHead}


def build_head(kind: str = "center", **kwargs):
    """Factory: a registered head layer by kind (``"center"``) with its arguments."""
    try:
        return HEADS[kind](**kwargs)
    except KeyError:
        raise ValueError(f"unknown head {kind!r}; known: {sorted(HEADS)}") from None


__all__ = ["AttentionCenterHead", "HEADS", "build_head"]
