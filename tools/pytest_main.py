"""Runs test files under pytest: the ``main`` of every ``py_test`` in the top-level BUILD.

Usage (Bazel passes the arguments)::

    pytest_main.py tests/image_test.py [more pytest arguments ...]

The working directory is the runfiles tree of the workspace, so the project's
packages are imported from the ``py_library`` targets the test depends on.
Before pytest starts, the editable install of the project (``pip install -e .``
puts a finder into ``site-packages``) is taken out of the import machinery: a
module missing from a ``py_library``'s ``srcs``, or a library missing from a
test's ``deps``, then fails with ``ModuleNotFoundError`` instead of being
quietly imported from the source tree. Third-party packages still come from the
interpreter's ``site-packages``.

Bazel's test protocol: ``XML_OUTPUT_FILE`` gets pytest's JUnit XML;
``TESTBRIDGE_TEST_ONLY`` (``--test_filter``) becomes ``-k``.
"""

from __future__ import annotations

import os
import sys

PACKAGES = ("attention_center", "ground_truth", "export")


def _inside(path: str, root: str) -> bool:
    path, root = os.path.abspath(path), os.path.abspath(root)
    return path == root or path.startswith(root + os.sep)


def hide_editable_install(runfiles_root: str) -> list[str]:
    """Removes import paths to the project's sources that are not in the runfiles.

    Returns:
      what was removed (finder modules and ``sys.path`` entries), for the log.
    """
    removed = []
    for finder in list(sys.meta_path):
        module = getattr(finder, "__module__", "") or ""
        if module.startswith("__editable__"):
            sys.meta_path.remove(finder)
            removed.append(module)
    for entry in list(sys.path):
        if not entry or _inside(entry, runfiles_root):
            continue
        if any(os.path.isfile(os.path.join(entry, name, "__init__.py")) for name in PACKAGES):
            sys.path.remove(entry)
            removed.append(entry)
    for name in list(sys.modules):
        if name.split(".")[0] in PACKAGES:
            module_file = getattr(sys.modules[name], "__file__", None) or ""
            if not _inside(module_file, runfiles_root):
                del sys.modules[name]
    return removed


def main(argv: list[str]) -> int:
    import pytest

    runfiles_root = os.getcwd()
    hide_editable_install(runfiles_root)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = ["-p", "no:cacheprovider", "-o", "addopts=", "-q", *argv[1:]]
    xml = os.environ.get("XML_OUTPUT_FILE")
    if xml:
        args.append(f"--junitxml={xml}")
    test_filter = os.environ.get("TESTBRIDGE_TEST_ONLY")
    if test_filter:
        args += ["-k", test_filter]
    return int(pytest.main(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
