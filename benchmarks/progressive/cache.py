"""The benchmark's cache: every result keyed by the content it depends on (resumable runs).

Layout under ``--cache_dir``: ``measurements/<k[:2]>/<k>.json`` (one encoding measured),
``groups/<k[:2]>/<k>.json`` (group section sizes of one image), ``centers/<model
sha256>.json`` (image path -> centre), ``maps/<model sha256>/<path sha256>.npy``
(weighting maps, float16). Everything is written atomically
(:mod:`attention_center.core.atomic`); an unreadable entry counts as missing and is
redone.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Optional

import numpy as np

from attention_center.core.atomic import atomic_path, atomic_write_json

__all__ = ["Cache", "file_digest", "read_json", "text_digest"]


def file_digest(path) -> str:
    """sha256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def text_digest(data) -> str:
    """sha256 of a JSON-serializable value (keys sorted)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def read_json(path: Path):
    """The JSON in ``path``, or ``None`` when it is missing or unreadable (then it is redone)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class Cache:
    """Content-keyed entries under one folder."""

    def __init__(self, root):
        self.root = Path(root)
        self._digests: dict[str, str] = {}

    def digest(self, path) -> str:
        """sha256 of a file, remembered per path for this run."""
        key = str(path)
        if key not in self._digests:
            self._digests[key] = file_digest(path)
        return self._digests[key]

    @staticmethod
    def digest_bytes(data: bytes) -> str:
        """sha256 of bytes (hex)."""
        return hashlib.sha256(data).hexdigest()

    def entry(self, kind: str, key_data) -> Path:
        key = text_digest(key_data)
        return self.root / kind / key[:2] / f"{key}.json"

    def get(self, kind: str, key_data) -> Optional[dict]:
        return read_json(self.entry(kind, key_data))

    def put(self, kind: str, key_data, value) -> None:
        atomic_write_json(self.entry(kind, key_data), value, indent=None)

    def centers_path(self, model_digest: str) -> Path:
        return self.root / "centers" / f"{model_digest}.json"

    def map_path(self, model_digest: str, image_path: str) -> Path:
        name = hashlib.sha256(image_path.encode()).hexdigest()
        return self.root / "maps" / model_digest / f"{name}.npy"

    def read_map(self, model_digest: str, image_path: str) -> Optional[np.ndarray]:
        try:
            return np.load(self.map_path(model_digest, image_path)).astype(np.float32)
        except (OSError, ValueError):
            return None

    def write_map(self, model_digest: str, image_path: str, weight_map: np.ndarray) -> None:
        with atomic_path(self.map_path(model_digest, image_path), suffix=".npy") as tmp:
            np.save(tmp, np.asarray(weight_map, np.float16))
