"""Train / validation / test split by image, reproducible from a seed.

Each ``image_id`` gets a split from a stable hash, so an image lands in the
same split whatever sources are combined and whatever order they are read.
"""

from __future__ import annotations

import hashlib

__all__ = ["FRACTIONS", "split_of"]

#: Fractions of images in each split.
FRACTIONS = (("train", 0.80), ("val", 0.08), ("test", 0.12))


def split_of(image_id: str, seed: int = 0, fractions=FRACTIONS) -> str:
    """``"train"``, ``"val"`` or ``"test"`` for an image.

    ``u = int(sha256(f"{seed}:{image_id}")[:8 bytes]) / 2**64`` in [0, 1) is
    compared with the cumulative fractions.
    """
    digest = hashlib.sha256(f"{seed}:{image_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    total = 0.0
    for name, fraction in fractions:
        total += fraction
        if u < total:
            return name
    return fractions[-1][0]
