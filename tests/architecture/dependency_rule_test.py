"""The house rule, enforced: who may import whom, no import cycles, a Keras-free core.

Layers, bottom to top (``docs/ARCHITECTURE.md``):

* **core** ``attention_center.core``: imports nothing of ours but itself;
* **ground_truth**: the core and itself only;
* **library**: every other ``attention_center`` subpackage (layers, heads, backbones,
  weights, models, presets, losses, metrics, training, inference, evaluation, jxl, beam),
  the package's lazy ``__init__`` and ``export`` (the converter library): the core and the
  library;
* **programs**: ``attention_center.cli`` (one module per command) and the ``__main__``
  entry points (``python -m attention_center``, ``python -m export``, ``python -m
  ground_truth``): anything below. A program never imports another program, except the
  dispatcher (:mod:`attention_center.cli.main`) and the ``__main__`` entry points, whose job
  is to start one.

Edges are read from the source: every ``import`` statement (module level or inside a
function), every ``importlib.import_module("...")`` / ``runpy.run_module("...")`` of a
string literal, the dispatcher's ``Command("...")`` table, every string in a dict or tuple
that names one of our modules, and the lazy ``__init__``'s ``_SUBPACKAGES`` (relative
names). So the test fails on a new edge against the rule and on any cycle, wherever it hides.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SHARED_DATA

PACKAGES = ("attention_center", "ground_truth", "export")
HEAVY = ("keras", "tensorflow", "jax")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The longest module of ours that ``name`` is or lies in, else None (third party)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path) -> list[tuple[str, int, bool]]:
    """``(imported name, line, at module level)`` for every import in a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in ("import_module", "run_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        elif (
            isinstance(node, ast.Assign)
            and path.name == "__init__.py"
            and any(getattr(t, "id", None) == "_SUBPACKAGES" for t in node.targets)
            and isinstance(node.value, (ast.Tuple, ast.List))
        ):
            names = [
                f"{module}.{e.value}"
                for e in node.value.elts
                if isinstance(e, ast.Constant) and isinstance(e.value, str)
            ]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Command":
            names = (
                [node.args[0].value] if node.args and isinstance(node.args[0], ast.Constant) else []
            )
        elif isinstance(node, (ast.Dict, ast.Tuple, ast.List, ast.Set)):  # lazy tables
            values = node.values if isinstance(node, ast.Dict) else node.elts
            names = [
                v.value
                for v in values
                if isinstance(v, ast.Constant)
                and isinstance(v.value, str)
                and _resolve(v.value) == v.value
                and v.value.startswith(PACKAGES)
            ]
        found += [(name, node.lineno, id(node) in top_level) for name in names]
    return found


#: Programs whose job is to start other programs.
DISPATCHERS = (
    "attention_center.cli.main",
    "attention_center.__main__",
    "export.__main__",
    "ground_truth.__main__",
)


def layer_of(module: str) -> str:
    if module == "attention_center.core" or module.startswith("attention_center.core."):
        return "core"
    if (
        module.endswith(".__main__")
        or module == "attention_center.cli"
        or module.startswith("attention_center.cli.")
    ):
        return "programs"
    if module.split(".")[0] == "ground_truth":
        return "ground_truth"
    return "library"


ALLOWED = {
    "core": {"core"},
    "ground_truth": {"core", "ground_truth"},
    "library": {"core", "library"},
    "programs": {"core", "ground_truth", "library", "programs"},
}


def _graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        targets = {_resolve(name) for name, _, _ in _imports(module, path)}
        graph[module] = {t for t in targets if t and t != module}
    return graph


def test_every_edge_follows_the_rule():
    bad = []
    for module, path in MODULES.items():
        for name, line, _ in _imports(module, path):
            target = _resolve(name)
            if target and target != module and layer_of(target) not in ALLOWED[layer_of(module)]:
                bad.append(
                    f"{path.relative_to(REPO)}:{line}: {layer_of(module)} {module} "
                    f"imports {layer_of(target)} {target}"
                )
    assert not bad, "\n".join(bad)


def test_no_program_imports_another_program():
    """Each command is one module under ``attention_center/cli/``; only the dispatcher and the
    ``__main__`` entry points import commands (shared flags live in the core)."""
    bad = []
    for module, path in MODULES.items():
        if layer_of(module) != "programs" or module in DISPATCHERS:
            continue
        for name, line, _ in _imports(module, path):
            target = _resolve(name)
            if (
                target
                and target != module
                and layer_of(target) == "programs"
                and target != "attention_center.cli"
            ):
                bad.append(
                    f"{path.relative_to(REPO)}:{line}: program {module} imports program {target}"
                )
    assert not bad, "\n".join(bad)


def test_export_and_ground_truth_hold_no_programs():
    """Programs live in ``attention_center/cli/``: ``export/`` (the converter library) and
    ``ground_truth/`` have no ``cli.py``, and none of their modules but the ``__main__``
    entry point imports ``attention_center.cli``."""
    for package in ("export", "ground_truth"):
        assert not list((REPO / package).rglob("cli.py")), package
    bad = [
        f"{path.relative_to(REPO)}:{line}: imports {name}"
        for module, path in MODULES.items()
        if module.split(".")[0] in ("export", "ground_truth") and module not in DISPATCHERS
        for name, line, _ in _imports(module, path)
        if (_resolve(name) or "").startswith("attention_center.cli")
    ]
    assert not bad, "\n".join(bad)


def test_ground_truth_is_grouped_by_job():
    """At most 6 modules at ``ground_truth/``'s top besides ``__init__`` and ``__main__``;
    the rest in ``readers/``, ``build/`` and ``studies/``."""
    top = sorted(
        p.name
        for p in (REPO / "ground_truth").glob("*.py")
        if p.name not in ("__init__.py", "__main__.py")
    )
    assert len(top) <= 6, top
    for folder in ("readers", "build", "studies"):
        assert (REPO / "ground_truth" / folder / "__init__.py").is_file(), folder


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_there_are_no_import_cycles():
    assert _cycles(_graph()) == []


def test_the_checker_sees_cycles_and_rule_breaks():
    """The checks can fail: a made-up cycle and a made-up upward edge are found."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer_of("attention_center.core.frames") == "core"
    assert layer_of("attention_center.inference.tflite") == "library"
    assert (
        layer_of("attention_center.cli.main") == "programs"
        and layer_of("attention_center.cli.export") == "programs"
    )
    assert "library" not in ALLOWED["core"] and "library" not in ALLOWED["ground_truth"]
    assert "programs" not in ALLOWED["library"]


def test_the_dispatcher_and_lazy_init_edges_are_seen():
    edges = _graph()
    assert {
        "attention_center.cli.export",
        "attention_center.cli.ground_truth",
        "attention_center.cli.train",
    } <= edges["attention_center.cli.main"]
    assert "attention_center.inference.prediction" in edges["attention_center"]
    assert "attention_center.training" in edges["attention_center"]  # from _SUBPACKAGES
    assert "attention_center.cli" not in edges["attention_center"]


def test_string_imports_are_seen(tmp_path):
    """``import_module``/``run_module`` strings and module-name tables are edges too."""
    module = tmp_path / "probe.py"
    module.write_text(
        "import importlib, runpy\n"
        'importlib.import_module("attention_center.cli.predict")\n'
        'runpy.run_module("attention_center.cli.encode")\n'
        'TABLE = ("attention_center.cli.train",)\n'
    )
    names = {name for name, _, _ in _imports("probe", module)}
    assert {
        "attention_center.cli.predict",
        "attention_center.cli.encode",
        "attention_center.cli.train",
    } <= names


def test_core_and_ground_truth_never_import_keras_and_tensorflow_only_lazily():
    """TensorFlow only inside the functions that write TFRecords or build tf.data."""
    bad = []
    for module, path in MODULES.items():
        layer = layer_of(module)
        if layer not in ("core", "ground_truth"):
            continue
        for name, line, top in _imports(module, path):
            root = name.split(".")[0]
            if root in HEAVY and (
                layer == "core"
                or root != "tensorflow"
                or top
                or module != "ground_truth.build.tfrecords"
            ):
                bad.append(f"{path.relative_to(REPO)}:{line}: imports {name}")
    assert not bad, "\n".join(bad)


def test_tensorflow_datasets_only_in_the_builder_and_lazily_elsewhere():
    """``ground_truth.build.tfds_dataset`` (the TFDS builder) imports TFDS with the module, and is
    imported only inside functions; everything else imports TFDS inside functions."""
    bad = []
    for module, path in MODULES.items():
        for name, line, top in _imports(module, path):
            target = _resolve(name)
            if (
                name.split(".")[0] == "tensorflow_datasets"
                and top
                and module != "ground_truth.build.tfds_dataset"
            ) or (target == "ground_truth.build.tfds_dataset" and top):
                bad.append(f"{path.relative_to(REPO)}:{line}: imports {name} at module level")
    assert not bad, "\n".join(bad)


_NO_HEAVY = """
import importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("keras", "tensorflow", "jax"):
            raise ImportError(f"{name} may not be imported here")
sys.meta_path.insert(0, Refuse())
"""


def _run_without_heavy(code: str, *args, timeout=300) -> subprocess.CompletedProcess:
    """Runs ``code`` in a fresh interpreter where importing keras/tensorflow/jax fails."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-c", _NO_HEAVY + code, *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_importing_the_core_and_the_package_loads_neither_keras_nor_tensorflow():
    code = """
import pkgutil, importlib
import attention_center, attention_center.core
for m in pkgutil.walk_packages(attention_center.core.__path__, "attention_center.core."):
    importlib.import_module(m.name)
attention_center.predict, attention_center.presets, attention_center.core  # lazy names resolve
heavy = [m for m in sys.modules if m.split(".")[0] in ("keras", "tensorflow", "jax")]
assert not heavy, heavy
print("ok")
"""
    process = _run_without_heavy(code)
    assert process.returncode == 0 and process.stdout.strip() == "ok", process.stderr[-2000:]


@pytest.mark.skipif(not (SHARED_DATA / "osie").is_dir(), reason="needs ../shared/data/osie")
def test_ground_truth_build_runs_without_keras_or_tensorflow(tmp_path):
    """The issue's command, ``python -m ground_truth build --source osie_eye --data_dir
    ../shared/data/osie --out DIR``, in an interpreter that cannot import Keras or TensorFlow."""
    code = """
import runpy
sys.argv = ["python -m ground_truth", "build", "--source", "osie_eye", "--data_dir", sys.argv[1],
            "--out", sys.argv[2], "--noprogress"]
try:
    runpy.run_module("ground_truth", run_name="__main__")
except SystemExit as exit_:
    assert exit_.code in (0, None), exit_.code
heavy = [m for m in sys.modules if m.split(".")[0] in ("keras", "tensorflow", "jax")]
assert not heavy, heavy
print("ok")
"""
    out = tmp_path / "gt"
    process = _run_without_heavy(code, SHARED_DATA / "osie", out, timeout=600)
    assert process.returncode == 0 and process.stdout.strip().endswith("ok"), process.stderr[-3000:]
    lines = (out / "index.jsonl").read_text().splitlines()
    assert len(lines) == 700 and (out / "stats.json").is_file()
    assert len(list((out / "frames").glob("*.jpg"))) == 700
