"""Our Keras classes registered with Keras the moment Keras is imported, by anyone.

``keras.saving.load_model`` finds a custom class of a ``.keras`` file by its registered name
(``"attention_center>GravityCenter"``) in Keras's global dict of custom objects
(``keras.saving.get_custom_objects()``, read by ``keras.saving.get_registered_object``);
``@keras.saving.register_keras_serializable`` puts a class there when the module defining it
is imported. ``import attention_center`` imports no Keras (the base install has none), so
:func:`install`, called once by the package's ``__init__``, does one of two things:

* Keras already imported: it imports :data:`KERAS_MODULES` at once;
* otherwise it puts a finder first on ``sys.meta_path`` that changes no import: it only wraps
  the loader of ``keras`` (and, while it waits, of our own submodules) to run a callback after
  the module has executed. When ``keras`` has finished importing, :data:`KERAS_MODULES` are
  imported, so every class is registered before the code that imported Keras goes on (for
  ``import tensorflow``, which imports Keras too, likewise). If it was one of our own modules
  that imported Keras (``import attention_center.layers``), the registration waits until the
  outermost of our imports then running has finished: importing the rest from inside it would
  meet half-initialised modules. Once registered, the finder takes itself off
  ``sys.meta_path``.

A registration that fails (a Keras too old for our layers, say) does not fail the import of
Keras: it warns, and ``keras.saving.load_model`` then reports our classes as unknown, as
Keras does for any unregistered class. :func:`register_keras_objects` retries it.
"""

from __future__ import annotations

import importlib
import sys
import threading
import warnings

#: Modules whose import registers every serializable class of ours (layers, the head, the
#: losses and metrics, the models; backbones are built from Keras's own layers).
KERAS_MODULES = (
    "attention_center.layers",
    "attention_center.heads",
    "attention_center.losses",
    "attention_center.models",
)

_lock = threading.Lock()
_state = {"registered": False, "registering": False, "pending": False, "depth": 0}


def register_keras_objects() -> None:
    """Imports :data:`KERAS_MODULES` (their decorators register our classes); once only.

    Raises:
      whatever importing them raises (ImportError where Keras is not installed).
    """
    with _lock:
        if _state["registered"] or _state["registering"]:
            return
        _state["registering"] = True
    try:
        for name in KERAS_MODULES:
            importlib.import_module(name)
    finally:
        with _lock:
            _state["registering"] = False
    with _lock:
        _state["registered"] = True
        _state["pending"] = False
    _uninstall()


def _register_warning_on_failure() -> None:
    try:
        register_keras_objects()
    except Exception as error:  # never fail the user's ``import keras``
        with _lock:
            _state["pending"] = False
        warnings.warn(
            "attention_center could not register its Keras classes "
            f"({type(error).__name__}: {error}); keras.saving.load_model will not know them",
            RuntimeWarning,
            stacklevel=2,
        )


class _RunAfter:
    """Delegates to ``loader`` and calls ``before()``/``after(ok)`` around ``exec_module``.

    The module's ``__loader__`` and ``__spec__.loader`` are set back to ``loader`` before it
    executes, so nothing of the wrapper stays visible.
    """

    def __init__(self, loader, before, after):
        self._loader, self._before, self._after = loader, before, after

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._before()
        ok = False
        try:
            self._loader.exec_module(module)
            ok = True
        finally:
            self._after(ok)

    def __getattr__(self, name):
        return getattr(self._loader, name)


def _enter_ours() -> None:
    with _lock:
        _state["depth"] += 1


def _leave_ours(ok: bool) -> None:
    with _lock:
        _state["depth"] -= 1
        due = ok and _state["pending"] and _state["depth"] == 0
    if due:
        _register_warning_on_failure()


def _keras_imported(ok: bool) -> None:
    if not ok:
        return
    with _lock:
        inside_ours = _state["depth"] > 0
        _state["pending"] = inside_ours
    if not inside_ours:
        _register_warning_on_failure()


def _nothing() -> None:
    pass


class KerasImportFinder:
    """A ``sys.meta_path`` finder (duck-typed: ``importlib.abc`` costs more to import than
    this whole module) that finds nothing itself: it wraps the loader that the other finders
    give ``keras`` and our submodules (see the module docstring)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "keras":
            before, after = _nothing, _keras_imported
        elif fullname.startswith("attention_center."):
            before, after = _enter_ours, _leave_ours
        else:
            return None
        for finder in list(sys.meta_path):
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _RunAfter(spec.loader, before, after)
        return spec


_finder = KerasImportFinder()


def _uninstall() -> None:
    try:
        sys.meta_path.remove(_finder)
    except ValueError:
        pass


def install() -> None:
    """Registers our classes now if Keras is imported, else when it is (module docstring)."""
    if "keras" in sys.modules:
        _register_warning_on_failure()
    elif _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
