"""Writes ``colab/retrain.ipynb``, the retraining notebook, from the cells in ``colab/cells/``.

Usage (from the repository root)::

    python colab/make_notebook.py            # (re)writes colab/retrain.ipynb
    python colab/make_notebook.py --check    # exit 1 if the committed notebook differs

Edit the cells, not the notebook in Jupyter: each cell is one file of ``colab/cells/``,
``NN_<job>.md`` (markdown) or ``NN_<job>.py`` (code), in the order of ``NN``; the committed
``.ipynb`` is this script's output, without outputs and with stable cell ids, so that a diff
of the notebook is a diff of its code. ``tests/colab/notebook_test.py`` checks that both
agree and executes the notebook top to bottom with a tiny configuration.

The parameters cell (``*_parameters.py``) is tagged ``parameters``: papermill (``papermill
-p EPOCHS 3 ...``) and the test put their values in a cell right after it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat

COLAB = Path(__file__).resolve().parent
NOTEBOOK = COLAB / "retrain.ipynb"
CELLS_DIR = COLAB / "cells"
#: Cell file name suffix -> cell tags.
TAGS = {"_parameters.py": ["parameters"]}


def cell_files(folder: Path = CELLS_DIR) -> list[Path]:
    """The cell files, in notebook order (``NN_`` prefix)."""
    files = sorted(
        p for p in folder.iterdir() if p.suffix in (".md", ".py") and p.name[:2].isdigit()
    )
    if not files:
        raise FileNotFoundError(f"{folder}: no cell files (NN_<job>.md / NN_<job>.py)")
    return files


def make_cell(path: Path, number: int) -> nbformat.NotebookNode:
    """One notebook cell from its file: markdown or code, id ``cell-NN``, tags by name."""
    source = path.read_text(encoding="utf-8").rstrip("\n")
    cell = (
        nbformat.v4.new_markdown_cell(source)
        if path.suffix == ".md"
        else nbformat.v4.new_code_cell(source)
    )
    cell["id"] = f"cell-{number:02d}"
    tags = [tag for suffix, names in TAGS.items() if path.name.endswith(suffix) for tag in names]
    if tags:
        cell["metadata"]["tags"] = tags
    return cell


def make_notebook() -> nbformat.NotebookNode:
    """The notebook: no outputs, stable cell ids, the python3 kernel."""
    cells = [make_cell(path, number) for number, path in enumerate(cell_files())]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook["metadata"] = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
    }
    nbformat.validate(notebook)
    return notebook


def notebook_text() -> str:
    return nbformat.writes(make_notebook()) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if colab/retrain.ipynb is not this script's output",
    )
    parser.add_argument("--out", type=Path, default=NOTEBOOK, help="where to write the notebook")
    args = parser.parse_args(argv)
    text = notebook_text()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is out of date: run python colab/make_notebook.py", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    # Atomic, without importing the package (this script runs before it is installed).
    temporary = args.out.with_name(f".{args.out.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(args.out)
    print(f"wrote {args.out} ({len(cell_files())} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
