"""A RunInference ``ModelHandler`` for attention-centre models.

:class:`CenterModelHandler` keeps only the model *spec* and its settings (a TFLite
interpreter cannot be pickled), and loads the model in :meth:`~CenterModelHandler.load_model`
through :func:`attention_center.inference.predictors.load_predictor`, the project's one
loader: once per worker process (RunInference shares it between the threads of a process),
on ai-edge-litert by default, so a worker needs neither TensorFlow nor Keras.

Examples are frames, ``float32 [H, W, 3]`` RGB in [0, 1], the image fitted into the
model frame by :func:`attention_center.core.images.resize_with_pad`. Each inference is the
model's centre, ``float64 [2]`` ``(x, y)`` in 0-based pixel centres **of the frame**; map it
to the image with the image's :class:`~attention_center.core.frames.FrameTransform`.
``PredictionResult.example`` is ``None`` (a frame is 3.7 MB: it is not carried downstream)
and ``PredictionResult.model_id`` is the model's version (:func:`model_version`).

Wrap it in ``KeyedModelHandler`` to carry each image's key through ``RunInference``::

    from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
    keyed = KeyedModelHandler(CenterModelHandler("default"))
    results = keyed_frames | RunInference(keyed)     # (key, PredictionResult)
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from typing import Any, Optional

import numpy as np
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult

from attention_center.beam import io as beam_io
from attention_center.core.atomic import atomic_write_bytes
from attention_center.inference.predictors import Predictor, load_predictor

__all__ = [
    "CenterModelHandler",
    "DeadLetterKeyedModelHandler",
    "InferenceFailure",
    "LoadedModel",
    "METRICS_NAMESPACE",
    "model_version",
]

#: Namespace of every Beam metric of attention-center (RunInference's own ones too).
METRICS_NAMESPACE = "attention_center"


@dataclasses.dataclass(frozen=True)
class LoadedModel:
    """What :meth:`CenterModelHandler.load_model` returns (one per worker process).

    Attributes:
      predictor: the loaded :class:`~attention_center.inference.predictors.Predictor`.
      name: the model as the user named it (``"default"``, a file name).
      version: :func:`model_version` of it.
    """

    predictor: Predictor
    name: str
    version: str


def model_version(predictor: Predictor) -> str:
    """A model's version: the exporter's ``model.version`` (``"1.3.0"``), else a content hash.

    Models without our metadata (Google's ``center.tflite``, a plain ``.keras`` file) get
    ``"sha256:<first 16 hex digits of the file>"``, so records always say which model made
    them.
    """
    version = ((predictor.metadata or {}).get("model") or {}).get("version")
    if version:
        return str(version)
    if predictor.path and os.path.isfile(predictor.path):
        digest = hashlib.sha256()
        with open(predictor.path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return f"sha256:{digest.hexdigest()[:16]}"
    return f"object:{predictor.name}"


def _model_name(spec: Optional[str]) -> str:
    if spec is None:
        return "default"
    return spec if not spec.endswith((".tflite", ".keras", ".h5")) else os.path.basename(spec)


def _fetch_remote(spec: str) -> str:
    """A remote model file (``gs://.../m.tflite``) copied once into a local cache folder.

    Its ``<file>.json`` metadata sidecar comes along when there is one.
    """
    folder = os.path.join(
        tempfile.gettempdir(),
        "attention-center-models",
        hashlib.sha1(spec.encode("utf-8")).hexdigest()[:16],
    )
    local = os.path.join(folder, spec.rsplit("/", 1)[-1])
    if not os.path.isfile(local):
        sidecar = spec + ".json"
        if beam_io.exists(sidecar):
            atomic_write_bytes(local + ".json", beam_io.read_bytes(sidecar))
        atomic_write_bytes(local, beam_io.read_bytes(spec))
    return local


class CenterModelHandler(ModelHandler[np.ndarray, PredictionResult, LoadedModel]):
    """RunInference handler: frames -> attention centres in frame pixels.

    Args:
      model: a model spec as everywhere in attention-center (``None``/``"default"``,
        ``"large"``, a ``.tflite``/``.keras`` path); a ``gs://``/``s3://`` file is fetched
        to the worker once. Presets resolve on the worker, in its installed package.
      num_threads: interpreter threads per worker process (default 1: Beam's parallelism
        is its worker processes, one per core).
      runtime: TFLite runtime, ``"litert"`` (ai-edge-litert, the default), ``"tf"`` or
        ``"auto"``.
      min_batch_size, max_batch_size: bounds for ``beam.BatchElements`` (a batch of
        ``n`` frames holds ``n x 3.7 MB``).
    """

    def __init__(
        self,
        model: Optional[str] = None,
        num_threads: Optional[int] = 1,
        runtime: str = "litert",
        min_batch_size: int = 1,
        max_batch_size: int = 8,
    ):
        super().__init__()
        self._spec = None if model is None else os.fspath(model)
        self._num_threads = num_threads
        self._runtime = runtime
        self._batching = {
            "min_batch_size": max(1, int(min_batch_size)),
            "max_batch_size": max(int(min_batch_size), int(max_batch_size)),
        }

    @property
    def spec(self) -> Optional[str]:
        """The model spec as given."""
        return self._spec

    def load_model(self) -> LoadedModel:
        """Loads the model (once per worker process; cached by file by ``load_predictor``).

        Raises:
          attention_center.inference.predictors.ModelLoadError: unknown preset, missing or
            unreadable file, wrong interface.
        """
        spec = self._spec
        if spec is not None and not beam_io.is_local(spec):
            spec = _fetch_remote(spec)
        predictor = load_predictor(
            spec,
            num_threads=self._num_threads,
            batch_size=self._batching["max_batch_size"],
            runtime=self._runtime,
        )
        return LoadedModel(
            predictor=predictor, name=_model_name(self._spec), version=model_version(predictor)
        )

    def run_inference(
        self,
        batch: Sequence[np.ndarray],
        model: LoadedModel,
        inference_args: Optional[dict[str, Any]] = None,
    ) -> Iterable[PredictionResult]:
        """Runs one batch of frames.

        Args:
          batch: frames, each ``float32 [H, W, 3]`` RGB in [0, 1], ``(H, W)`` the model's
            ``frame_hw``.
          model: from :meth:`load_model`.
          inference_args: unused (must be empty).
        Returns:
          one :class:`PredictionResult` per frame, in order: ``inference`` the centre
          ``float64 [2]`` (x, y) frame pixels, ``model_id`` the model's version.
        """
        if not len(batch):
            return []
        frames = np.stack([np.asarray(frame, np.float32) for frame in batch])
        centers = model.predictor.predict_frames(frames)["center"]
        # Copies: the runner's output buffers are reused by the next invoke.
        return [
            PredictionResult(
                example=None, inference=np.array(center, np.float64), model_id=model.version
            )
            for center in centers
        ]

    def get_num_bytes(self, batch: Sequence[np.ndarray]) -> int:
        return int(sum(np.asarray(frame).nbytes for frame in batch))

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE

    def batch_elements_kwargs(self) -> dict:
        return dict(self._batching)

    def validate_inference_args(self, inference_args: Optional[dict[str, Any]]):
        if inference_args:
            raise ValueError(f"CenterModelHandler takes no inference_args, got {inference_args}")


@dataclasses.dataclass(frozen=True)
class InferenceFailure:
    """``PredictionResult.inference`` of a frame whose batch the model failed on.

    Attributes:
      message: ``"<exception type>: <message>"``.
    """

    message: str


class DeadLetterKeyedModelHandler(KeyedModelHandler):
    """``KeyedModelHandler`` whose failed batches come back as results, not exceptions.

    A batch that raises becomes one ``(key, PredictionResult(None, InferenceFailure, model
    version))`` per key, so the pipeline dead-letters those images on its one output and goes
    on. (RunInference's ``with_exception_handling`` would use a tagged output instead, which
    Beam's DaskRunner does not keep apart from the main one.)

    Args:
      unkeyed: the :class:`CenterModelHandler`.
    """

    def run_inference(self, batch, model, inference_args=None):
        try:
            return list(super().run_inference(batch, model, inference_args))
        except Exception as error:  # noqa: BLE001 - any model failure is these images' error
            failure = InferenceFailure(f"{type(error).__name__}: {error}")
            version = getattr(model, "version", None)
            return [(key, PredictionResult(None, failure, version)) for key, _ in batch]
