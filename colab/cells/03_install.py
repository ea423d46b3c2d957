import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path


def checkout_root():
    """The attention-center checkout holding the working folder, or None."""
    for folder in [Path.cwd(), *Path.cwd().parents]:
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and 'name = "attention-center"' in pyproject.read_text():
            return folder
    return None


installed = importlib.util.find_spec("attention_center") is not None
if INSTALL == "auto":
    INSTALL = not installed and not os.environ.get("CI")
if INSTALL:
    spec = PACKAGE_SPEC or str(checkout_root() or "attention-center")  # else PyPI
    has_tf = importlib.util.find_spec("tensorflow") is not None
    extras = "[keras,plot]" if has_tf else "[tf,plot]"
    target = f"{spec}{extras}" if Path(spec).exists() or spec == "attention-center" else spec
    %pip install -q "{target}" ai-edge-litert
    if shutil.which("cjxl") is None and shutil.which("apt-get"):
        !apt-get -qq update && apt-get -qq install -y libjxl-tools > /dev/null
print("attention_center:", "installed already" if installed
      else f"installed from {target}" if INSTALL else "not installed (INSTALL=False)")
print("cjxl:", shutil.which("cjxl") or "missing (install libjxl-tools; the encode step needs it)")
