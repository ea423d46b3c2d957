"""ImageNet-1k (ILSVRC-2012) class names, shipped with the package (no download).

The list is ``attention_center/assets/imagenet_classes.txt``: 1000 lines in the
standard class-index order (the sorted WordNet ids ``n01440764`` ...
``n15075141``) shared by torchvision, Keras (``imagenet_class_index.json``) and
TF checkpoints with 1000 outputs. Names are Keras's short names with ``_``
replaced by a space (``281 "tabby"``, ``282 "tiger cat"``, ``285 "Egyptian
cat"``, ``504 "coffee mug"``, ``967 "espresso"``, ``968 "cup"``). Two names
occur twice because two synsets share them: ``134``/``517`` ``"crane"`` (bird /
machine) and ``638``/``639`` ``"maillot"``.
"""

from __future__ import annotations

import functools
import pathlib

__all__ = ["imagenet_class_names", "IMAGENET_CLASSES_PATH"]

IMAGENET_CLASSES_PATH = (
    pathlib.Path(__file__).resolve().parent.parent / "assets" / "imagenet_classes.txt"
)


@functools.lru_cache(maxsize=1)
def _names() -> tuple[str, ...]:
    names = tuple(
        line.strip()
        for line in IMAGENET_CLASSES_PATH.read_text(encoding="utf-8").splitlines()
        if line.strip()
    )
    if len(names) != 1000:
        raise ValueError(f"{IMAGENET_CLASSES_PATH} has {len(names)} names, expected 1000")
    return names


def imagenet_class_names() -> list[str]:
    """Return the 1000 ImageNet class names; index ``i`` is the name of logit ``i``.

    Returns:
      A new ``list`` of 1000 ``str`` (safe to mutate; the file is read once).
    """
    return list(_names())
