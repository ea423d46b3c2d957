"""Launching headless Chromium (Debian's ``chromium`` package) through Playwright's Python API.

Never downloads a browser: Playwright drives ``/usr/bin/chromium`` (or ``$CHROMIUM``).
The flags keep it off the network this machine does not have (background networking,
component updates, sync, QUIC) and let it run as root in a container (``--no-sandbox``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional

__all__ = ["CHROMIUM_ARGS", "chromium_path", "launch"]

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-default-apps",
)


def chromium_path() -> Optional[str]:
    """``$CHROMIUM``, else ``/usr/bin/chromium``, else ``chromium`` on PATH; ``None`` if none."""
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def launch(playwright, extra_args=()):
    """A headless Chromium browser (``playwright.chromium.launch`` on Debian's binary).

    Raises:
      FileNotFoundError: no Chromium installed.
    """
    path = chromium_path()
    if path is None:
        raise FileNotFoundError("Chromium not found: apt-get install chromium (or set $CHROMIUM)")
    return playwright.chromium.launch(
        executable_path=path, headless=True, args=[*CHROMIUM_ARGS, *extra_args]
    )
