"""``colab/retrain.ipynb``: executed top to bottom with a tiny offline configuration.

The notebook is run by nbclient in a python3 kernel of this interpreter, in a
temporary folder (the executed copy is never written into the repository),
with a parameters cell injected after the notebook's own (as papermill does):
a user's own points in the generic CSV format, made from real OSIE eye-tracking
records of 10 images (6 train, 2 val, 2 test), 1 epoch at 64x80 with a random
MobileNetV2 (alpha 0.35), int8 export calibrated on the 6 training frames.
The assertions are on what the notebook wrote and showed.

It takes about 2-3 minutes on a loaded 2-core CPU; CI runs it (``tools/test.sh``
through pytest, and the ``bazel_ci`` subset of ``bazel test``).
"""

from __future__ import annotations

import csv
import json
import os
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

from conftest import REPO  # noqa: E402

NOTEBOOK = REPO / "colab" / "retrain.ipynb"
DATASET = "mydata"  # the user's dataset name: image ids are "mydata/<stem>"
SPLIT_COUNTS = {"train": 6, "val": 2, "test": 2}


def load_generator():
    """``colab/make_notebook.py`` as a module (it is a script, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_notebook", REPO / "colab" / "make_notebook.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parameters_cell(notebook) -> tuple[int, dict]:
    """(index, {name: default source}) of the cell tagged ``parameters``."""
    import ast

    for index, cell in enumerate(notebook.cells):
        if "parameters" in cell.metadata.get("tags", []):
            names = {
                node.targets[0].id: ast.unparse(node.value)
                for node in ast.parse(cell.source).body
                if isinstance(node, ast.Assign)
            }
            return index, names
    raise AssertionError("no cell tagged 'parameters'")


def inject_parameters(notebook, values: dict):
    """Inserts an ``injected-parameters`` cell after the ``parameters`` cell (papermill's way)."""
    index, names = parameters_cell(notebook)
    unknown = set(values) - set(names)
    assert not unknown, f"not notebook parameters: {sorted(unknown)}"
    source = "# Parameters injected by tests/notebook_test.py\n" + "".join(
        f"{name} = {value!r}\n" for name, value in values.items()
    )
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["injected-parameters"]
    cell["id"] = "injected-parameters"
    notebook.cells.insert(index + 1, cell)


# ----------------------------------------------------------------------- the committed file


def test_committed_notebook_is_the_generators_output_without_outputs():
    generator = load_generator()
    assert NOTEBOOK.read_text(encoding="utf-8") == generator.notebook_text(), (
        "colab/retrain.ipynb differs from colab/make_notebook.py: run python colab/make_notebook.py"
    )
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    index, names = parameters_cell(notebook)
    assert index == min(notebook.cells.index(c) for c in code), (
        "parameters must be the first code cell"
    )
    for name in (
        "DATA_DIR",
        "SOURCES",
        "RECORDS",
        "BACKBONE",
        "EPOCHS",
        "INPUT_SIZE",
        "MAX_IMAGES",
        "OUT_DIR",
    ):
        assert name in names


# ----------------------------------------------------------------------- the executed notebook


def write_user_records(shared_data_dir: Path, path: Path) -> dict:
    """Writes real OSIE eye fixations of a few images as a user's generic CSV.

    Returns:
      ``{image_id: split}`` of the images written.
    """
    from attention_center.core.splits import split_of
    from ground_truth.readers import read_source

    records = sorted(read_source("osie_eye", shared_data_dir).records, key=lambda r: r.image_id)
    wanted = dict(SPLIT_COUNTS)
    chosen = {}
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["image", "observer", "order", "x", "y", "duration_ms", "source", "dataset"]
        )
        for record in records:
            stem = Path(record.image_path).stem
            split = split_of(f"{DATASET}/{stem}", 0)
            if wanted[split] == 0:
                continue
            wanted[split] -= 1
            chosen[f"{DATASET}/{stem}"] = split
            for k, points in enumerate(record.observers):
                durations = record.duration_ms[k] if record.duration_ms else [""] * len(points)
                for order, ((x, y), duration) in enumerate(zip(points, durations), 1):
                    writer.writerow(
                        [
                            record.image_path,
                            f"s{k + 1}",
                            order,
                            f"{x:.2f}",
                            f"{y:.2f}",
                            duration,
                            "eye",
                            DATASET,
                        ]
                    )
            if not any(wanted.values()):
                break
    assert not any(wanted.values()), f"not enough OSIE images for {SPLIT_COUNTS}"
    return chosen


def write_kernelspec(jupyter_dir: Path) -> str:
    """A ``python3`` kernelspec that runs ipykernel in this interpreter; returns its name.

    Put first on ``JUPYTER_PATH``, it wins over any other ``python3`` kernelspec
    (a user's or a system one could point at an interpreter without the project).
    """
    folder = jupyter_dir / "kernels" / "python3"
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (tests)",
                "language": "python",
            }
        )
    )
    return "python3"


@pytest.fixture(scope="module")
def executed(shared_data_dir, tmp_path_factory):
    """``(executed notebook, out dir, {image_id: split})`` after a run with a tiny configuration."""
    work = tmp_path_factory.mktemp("notebook")
    records_path = work / "my_points.csv"
    chosen = write_user_records(shared_data_dir, records_path)
    out = work / "out"
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    inject_parameters(
        notebook,
        {
            "DATA_DIR": str(shared_data_dir),
            "RECORDS": str(records_path),
            "OUT_DIR": str(out),
            "BACKBONE": "mobilenet_v2",
            "ALPHA": 0.35,
            "BACKBONE_WEIGHTS": None,
            "INPUT_SIZE": "64x80",
            "EPOCHS": 1,
            "FREEZE_EPOCHS": 1,
            "BATCH_SIZE": 4,
            "NUM_CALIBRATION": 6,
            "NUM_PARITY": 4,
            "CALIBRATE_TEMPERATURES": "1,2",  # the calibration runs; two candidates are enough
            "STRATEGY": "auto",
            "INSTALL": "auto",
        },
    )
    environment = {
        "CI": "1",  # never pip install
        "KERAS_BACKEND": "tensorflow",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONDONTWRITEBYTECODE": "1",
        "JUPYTER_PATH": str(work / "jupyter"),  # our kernelspec first
        "JUPYTER_RUNTIME_DIR": str(work / "jupyter_runtime"),  # the kernel's connection file
        "IPYTHONDIR": str(work / "ipython"),  # writable under Bazel's sandbox too
        "MPLCONFIGDIR": str(work / "matplotlib"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    kernel_name = write_kernelspec(work / "jupyter")
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        client = nbclient.NotebookClient(
            notebook,
            timeout=900,
            kernel_name=kernel_name,
            allow_errors=False,
            resources={"metadata": {"path": str(work)}},
        )
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"the notebook failed:\n{str(error)[-4000:]}")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        nbformat.write(notebook, work / "retrain.executed.ipynb")  # in tmp, for debugging
    return notebook, out, chosen


def outputs_of(notebook, kind: str) -> list:
    """All outputs with a ``kind`` data key (e.g. ``image/png``, ``text/markdown``) or stream
    text."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if kind == "stream" and output.output_type == "stream":
                found.append(output.text)
            elif kind in output.get("data", {}):
                found.append(output.data[kind])
    return found


slow = pytest.mark.slow  # the notebook's run: ~2 min on a loaded 2-core CPU (CI runs it)


@slow
def test_the_kernel_is_this_interpreter_and_nothing_was_installed(executed):
    notebook, _, _ = executed
    text = "".join(outputs_of(notebook, "stream"))
    assert "attention_center: installed already" in text
    assert f"({sys.executable})" in text
    package = re.search(r"^attention_center \S+ \((.*?)\), keras", text, re.M).group(1)
    if os.environ.get("TEST_SRCDIR"):  # under Bazel: the py_library's files, not the checkout
        assert package.startswith(os.environ["TEST_SRCDIR"]), package
    assert not any(o.output_type == "error" for c in notebook.cells for o in c.get("outputs", []))


@slow
def test_ground_truth_was_built_from_the_users_records(executed):
    _, out, chosen = executed
    rows = [
        json.loads(line) for line in (out / "ground_truth" / "index.jsonl").read_text().splitlines()
    ]
    assert {r["image_id"]: r["split"] for r in rows} == chosen
    assert {r["source"] for r in rows} == {f"{DATASET}_eye"}
    for row in rows:
        assert (out / "ground_truth" / row["frame_path"]).is_file()
        assert row["num_points_kept"] > 0
        h, w = row["original_hw"]
        assert 0 <= row["center"][0] <= w - 1 and 0 <= row["center"][1] <= h - 1


@slow
def test_training_wrote_a_model_at_the_requested_size(executed):
    _, out, _ = executed
    run = out / "run"
    config = json.loads((run / "config.json").read_text())
    assert config["input_hw"] == [64, 80] and config["epochs"] == 1
    assert config["backbone_weights"] is None and config["strategy"] == "default"  # CPU here
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [row["phase"] for row in history] == ["warmup"]
    assert history[0]["val_center_error"] > 0
    summary = json.loads((run / "summary.json").read_text())
    assert (
        Path(summary["model"]) == run / "model.keras" and (run / "model.keras").stat().st_size > 0
    )


@slow
def test_evaluation_table_has_the_model_and_the_baselines(executed):
    notebook, out, chosen = executed
    table = (out / "evaluation.md").read_text()
    for row in ("image centre", "dataset-mean centre", "model.keras", "human ceiling"):
        assert row in table
    assert any(
        "model.keras" in md and "image centre" in md for md in outputs_of(notebook, "text/markdown")
    )
    report = json.loads((out / "evaluation.json").read_text())
    n_test = sum(split == "test" for split in chosen.values())
    for method in report["methods"]:
        assert method["summary"]["num_images"] == n_test
        assert 0 <= method["summary"]["mean_error"] < 1
    # The model against the layout prior, with its paired interval over the test images.
    means = {m["name"].split(" (")[0]: m["summary"]["mean_error"] for m in report["methods"]}
    versus = report["versus_dataset_mean"]
    assert versus["ratio"] == pytest.approx(means["model.keras"] / means["dataset-mean centre"])
    assert versus["num_images"] == n_test
    assert any(
        "over the dataset-mean centre's: **" in md for md in outputs_of(notebook, "text/markdown")
    )


@slow
def test_int8_export_has_googles_interface(executed):
    from ai_edge_litert.interpreter import Interpreter

    _, out, _ = executed
    tflite = out / "export" / "center.tflite"
    metadata = json.loads((out / "export" / "center.tflite.json").read_text())
    assert metadata["quantization"]["mode"] == "int8"
    assert metadata["parity"]["passed"] and metadata["parity"]["num_images"] == 4
    interpreter = Interpreter(model_path=str(tflite))
    inputs = {d["name"]: d for d in interpreter.get_input_details()}
    assert list(inputs["image:0"]["shape"]) == [1, 480, 640, 3]
    assert list(interpreter.get_output_details()[0]["shape"]) == [1, 2]
    weights_int8 = [d for d in interpreter.get_tensor_details() if d["dtype"].__name__ == "int8"]
    assert weights_int8, "no int8 tensors: not an int8 model"


@slow
def test_sample_was_predicted_shown_and_encoded(executed):
    import subprocess

    notebook, out, _ = executed
    assert len(outputs_of(notebook, "image/png")) >= 3  # frames, learning curves, overlays
    jxl = sorted((out / "jxl").glob("*.jxl"))
    assert len(jxl) == 1
    data = jxl[0].read_bytes()
    assert data[:2] == b"\xff\x0a" or data[:12] == b"\x00\x00\x00\x0cJXL \r\n\x87\n"
    decoded = out / "decoded.png"
    subprocess.run(["djxl", str(jxl[0]), str(decoded)], check=True, capture_output=True)
    from PIL import Image

    sample = out / "sample" / jxl[0].name[: -len(".jxl")]
    assert Image.open(decoded).size == Image.open(sample).size
    text = "".join(outputs_of(notebook, "stream"))
    assert "--group_order" in text and "--center_x" in text  # the cjxl command (--verbose)
    timings = json.loads(text[text.rindex('{\n "out_dir"') :])["seconds"]
    print("notebook step timings (s):", timings, file=sys.stderr)


# ----------------------------------------------------------------------- the data step, offline


def data_step(values: dict, work: Path):
    """Runs the notebook's parameters, install and data cells (nothing else) with ``values``;
    returns ``(notebook, error text or None)``."""
    generator = load_generator()
    names = [p.name for p in generator.cell_files()]
    full = nbformat.read(NOTEBOOK, as_version=4)
    assert len(names) == len(full.cells)
    wanted = ("_parameters.py", "_install.py", "_data.py")
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = full.metadata
    notebook.cells = [c for n, c in zip(names, full.cells) if n.endswith(wanted)]
    assert len(notebook.cells) == 3
    inject_parameters(notebook, values)
    work.mkdir(parents=True, exist_ok=True)
    environment = {
        "CI": "1",  # never pip or apt install
        "JUPYTER_PATH": str(work / "jupyter"),
        "JUPYTER_RUNTIME_DIR": str(work / "jupyter_runtime"),
        "IPYTHONDIR": str(work / "ipython"),
    }
    kernel_name = (
        write_kernelspec(work / "jupyter") if not (work / "jupyter").exists() else "python3"
    )
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    error = None
    try:
        nbclient.NotebookClient(
            notebook,
            timeout=300,
            kernel_name=kernel_name,
            resources={"metadata": {"path": str(work)}},
        ).execute()
    except nbclient.exceptions.CellExecutionError as failure:
        error = str(failure)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return notebook, error


def test_the_data_step_fetches_from_a_file_mirror_once(shared_data_dir, tmp_path):
    """On a runtime without the data, the notebook's data cell fetches what SOURCES read
    (here the SALICON examples, from a file:// copy of ../shared/data standing in for GitHub),
    checked file by file; run again, it fetches nothing. The ground-truth reader then reads
    the fetched folder."""
    import shutil

    from ground_truth.readers import read_source

    mirror = tmp_path / "mirror"
    shutil.copytree(shared_data_dir / "salicon_examples", mirror / "salicon_examples")
    data = tmp_path / "data"
    values = {
        "DATA_DIR": str(data),
        "SOURCES": "salicon_mouse",
        "FETCH_DATA": True,
        "DATA_MIRROR": mirror.as_uri(),
        "INSTALL": False,
    }
    notebook, error = data_step(values, tmp_path / "work")
    assert error is None, error[-3000:]
    text = "".join(outputs_of(notebook, "stream"))
    assert "salicon_examples: 0 of 12 files in place, fetching 12" in text
    assert "github.com/NUS-VIP/salicon-api" in text
    assert not list(data.rglob("*.part"))
    assert len(read_source("salicon_mouse", data).records) == 10
    notebook, error = data_step(values, tmp_path / "work")
    assert error is None, error[-3000:]
    assert "salicon_examples: all 12 files in place and checked" in "".join(
        outputs_of(notebook, "stream")
    )


def test_the_data_step_names_a_missing_dataset_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    values = {"DATA_DIR": str(empty), "SOURCES": "scene_eye", "FETCH_DATA": False, "INSTALL": False}
    _, error = data_step(values, tmp_path / "work")
    assert error is not None and f"{empty / 'scene'}: no such folder (the scene dataset)" in error
