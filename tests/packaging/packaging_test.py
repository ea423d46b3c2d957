"""The package as users get it: declared dependencies, the wheel's contents, a plain install.

* Every third-party package the code imports is declared in ``pyproject.toml`` (base
  dependencies or an extra), read from the source with ``ast``.
* The wheel holds the bundled models and the presets, no test code.
* In a fresh virtual environment, ``pip install <wheel>`` with no extras gives a working
  ``attention-center predict`` and ``encode`` on the bundled TFLite model (no Keras, no
  TensorFlow installed).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from conftest import (
    REPO,
    needs_jxl_tools,
)

tomllib = pytest.importorskip("tomllib")

PACKAGES = ("attention_center", "ground_truth", "export")


def _requirement_name(text: str) -> str:
    return re.split(r"[\s\[<>=!~;]", text.strip(), maxsplit=1)[0].lower().replace("_", "-")


def declared_distributions() -> dict[str, set[str]]:
    """``{"base": {...}, extra: {...}}``: distribution names in pyproject.toml."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {"base": {_requirement_name(r) for r in project["dependencies"]}}
    for extra, requirements in project["optional-dependencies"].items():
        declared[extra] = {
            _requirement_name(r) for r in requirements if not r.startswith("attention-center")
        }
    return declared


def imported_top_level_modules() -> dict[str, list[str]]:
    """Third-party top-level module -> the files that import it (our packages' code only)."""
    found: dict[str, list[str]] = {}
    stdlib = set(sys.stdlib_module_names)
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in stdlib and top not in PACKAGES and top != "__future__":
                        found.setdefault(top, []).append(str(path.relative_to(REPO)))
    return found


def test_every_imported_third_party_package_is_declared():
    declared = set().union(*declared_distributions().values())
    owners = importlib.metadata.packages_distributions()
    missing = []
    for module, files in sorted(imported_top_level_modules().items()):
        distributions = {d.lower().replace("_", "-") for d in owners.get(module, [])}
        if not distributions:
            missing.append(f"{module} (not installed here; imported by {files[0]})")
        elif not distributions & declared:
            missing.append(
                f"{module} from {sorted(distributions)}, imported by {sorted(set(files))}"
            )
    assert not missing, "undeclared imports:\n" + "\n".join(missing)


def test_the_checker_sees_imports_and_declarations():
    imports = imported_top_level_modules()
    assert {"numpy", "PIL", "absl", "keras"} <= set(imports) and "os" not in imports
    declared = declared_distributions()
    assert {"numpy", "pillow", "ai-edge-litert"} <= declared["base"]
    assert "keras" not in declared["base"] and "tensorflow" not in declared["base"]


def test_the_version_is_written_once():
    import attention_center

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert importlib.metadata.version("attention-center") == attention_center.__version__


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built from this checkout (``pip wheel``, no dependencies)."""
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source") / "src"
    # Build from a copy: the build must not write into the checkout (build/, *.egg-info).
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "runs", "build", "dist", "__pycache__", "*.egg-info", ".hypothesis"
        ),
    )
    process = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    (path,) = out.glob("attention_center-*.whl")
    return path


def test_the_wheel_has_the_models_and_presets_and_no_tests(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for preset in ("default_model", "large_model"):
        for file in ("model.tflite", "model.keras", "metadata.json"):
            assert f"attention_center/assets/{preset}/{file}" in names
    assert "attention_center/presets/presets.json" in names
    assert "attention_center/core/frames.py" in names and "attention_center/cli/export.py" in names
    assert "ground_truth/readers/osie.py" in names
    assert "attention_center/keras_registration.py" in names  # imported by the package's __init__
    for folder in ("osie", "scene", "salicon_examples", "bubbleview"):  # download checksums
        assert f"attention_center/data/manifests/{folder}.sha256" in names
    tests = [
        n
        for n in names
        if n.startswith("tests/") or n.endswith(("_test.py", "conftest.py")) or "/testing" in n
    ]
    assert tests == []


@needs_jxl_tools
def test_a_plain_install_predicts_and_encodes_with_the_bundled_tflite(wheel, tmp_path, kodak_paths):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    assert "keras" not in listed and "tensorflow" not in listed and "ai-edge-litert" in listed
    command = env_dir / "bin" / "attention-center"
    predict = subprocess.run(
        [str(command), "predict", str(kodak_paths[0]), "--noprogress"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert predict.returncode == 0, predict.stderr[-3000:]
    [row] = __import__("json").loads(predict.stdout)
    height, width = row["original_hw"]
    assert (height, width) == (512, 768)
    assert 0 <= row["center"][0] <= width - 1 and 0 <= row["center"][1] <= height - 1
    images = tmp_path / "images"
    images.mkdir()
    for path in kodak_paths[:2]:
        shutil.copy(path, images / path.name)
    encode = subprocess.run(
        [
            str(command),
            "encode",
            "--image_dir",
            str(images),
            "--output_dir",
            str(tmp_path / "jxl"),
            "--noprogress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert encode.returncode == 0, encode.stderr[-3000:] + encode.stdout[-3000:]
    for path in kodak_paths[:2]:
        decoded = tmp_path / f"{path.stem}.png"
        subprocess.run(
            ["djxl", str(tmp_path / "jxl" / f"{path.name}.jxl"), str(decoded)],
            check=True,
            capture_output=True,
        )
        assert decoded.stat().st_size > 0
