"""The models' predicted centres (and our model's weighting maps), cached per model file.

Every model gets the same input (:func:`attention_center.inference.prediction.predict_images`:
EXIF-upright image, resize-with-pad into the model frame); centres come back in displayed
pixels of the original image. Cached by the model file's sha256, so a new model gives new
entries and a rerun predicts only images it has not seen.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np

from attention_center.core.atomic import atomic_write_json
from benchmarks.progressive.cache import Cache, read_json

__all__ = ["Predictions", "predict_cached", "resolve_our_model"]

#: While no default model is bundled, "ours" falls back to this training checkpoint.
STAND_IN = Path("runs") / "default" / "best_warmup.keras"


class Predictions:
    """Centres (and maps) of one model for the benchmark's images.

    Attributes:
      description: the model file, or why it is missing.
      centers: image path -> ``[x, y]`` displayed pixels, or ``None`` (failed).
      digest: sha256 of the model file (``None`` when missing).
    """

    def __init__(
        self, description: str, centers: dict, digest: Optional[str], cache: Cache, frame_hw=None
    ):
        self.description, self.centers, self.digest = description, centers, digest
        self.cache, self.frame_hw = cache, frame_hw

    @property
    def ok(self) -> bool:
        return self.digest is not None

    def center(self, image_path: str):
        return self.centers.get(image_path)

    def weight_map(self, image_path: str) -> Optional[np.ndarray]:
        """``float32 [h', w']`` on the frame grid, or ``None``."""
        if not self.ok:
            return None
        return self.cache.read_map(self.digest, image_path)


def resolve_our_model(flag: Optional[str], repo: Path) -> tuple[Optional[str], str]:
    """Our model file and a note: ``--model``, else the bundled model, else the stand-in."""
    from attention_center.presets import PresetError, resolve_model

    if flag:
        return flag, ""
    try:
        path = resolve_model("default:keras")
        if Path(path).is_file():
            return str(path), "bundled default model"
    except PresetError:
        pass
    stand_in = repo / STAND_IN
    if stand_in.is_file():
        return str(stand_in), (
            "stand-in: no bundled default model yet, the training run's checkpoint"
        )
    return None, "no bundled default model and no stand-in"


def predict_cached(
    model: Optional[str],
    paths: list[str],
    label: str,
    cache: Cache,
    keep_maps: bool = False,
    threads: int = 2,
) -> Predictions:
    """Predicts (or reads from the cache) every image's centre; maps too with ``keep_maps``."""
    from attention_center.inference.prediction import predict_images
    from attention_center.inference.predictors import ModelLoadError, load_predictor

    if model is None or not Path(model).is_file():
        return Predictions(f"missing: {model or 'no model'}", {}, None, cache)
    digest = cache.digest(model)
    centers_path = cache.centers_path(digest)
    centers = read_json(centers_path) or {}
    todo = [
        p
        for p in paths
        if p not in centers
        or (keep_maps and centers[p] is not None and cache.read_map(digest, p) is None)
    ]
    if todo:
        try:
            predictor = load_predictor(model, num_threads=threads)
        except ModelLoadError as error:
            return Predictions(f"missing: {error}", {}, None, cache)
        start = time.time()
        for path, prediction in zip(
            todo, predict_images(todo, predictor, batch_size=8, keep_weight_maps=keep_maps)
        ):
            centers[path] = None if not prediction.ok else [float(v) for v in prediction.center]
            if keep_maps and prediction.weight_map is not None:
                cache.write_map(digest, path, prediction.weight_map)
        print(
            f"{label}: {model}, {(time.time() - start) / len(todo):.2f} s/image "
            f"({len(todo)} predicted, {len(paths) - len(todo)} cached)",
            flush=True,
        )
        atomic_write_json(centers_path, centers, indent=None)
    else:
        print(f"{label}: {model}, all {len(paths)} centres cached", flush=True)
    return Predictions(str(model), centers, digest, cache)
