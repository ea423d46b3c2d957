"""The one shape of every "this file has a problem" error: the path, then one line of reason."""

from __future__ import annotations

import os

__all__ = ["PathError"]


class PathError(ValueError):
    """Something named by a path (a file, a folder, a model) cannot be used.

    ``str(error)`` is ``"<path>: <reason>"``, the form every command prints.

    Attributes:
      path: the file or folder (or a description of an in-memory object).
      reason: one line saying what is wrong with it.
    """

    def __init__(self, path, reason: str):
        self.path = os.fspath(path) if isinstance(path, (str, os.PathLike)) else str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
