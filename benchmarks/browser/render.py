"""What a browser page shows after the first N bytes of an image, as pixels.

The page (:class:`benchmarks.browser.server.PartialServer`, ``/page/<name>?n=N``) is
loaded in a Chromium tab whose viewport is the image's size. By default the server ends
the download after N bytes, so the page's load event says the image has all it will get;
then ``img.decode()`` and two animation frames, and screenshots of the image's area every
``interval_s`` until ``stable`` consecutive ones are identical (at most ``timeout_s``).
With ``hold=True`` the server holds the connection open after N bytes (a stalled
download): no event then says when the decoder is done, so the renderer waits at least
``hold_wait_s`` before the screenshots must agree.

Images: ``uint8 [h, w, 3]`` RGB of the screenshot (device scale 1, so one screenshot
pixel per image pixel).
"""

from __future__ import annotations

import base64
import io
import time

import numpy as np
from PIL import Image

from benchmarks.browser.server import BACKGROUND

__all__ = ["Renderer", "painted"]


def painted(image: np.ndarray) -> bool:
    """Whether anything but the page background is visible."""
    return bool(np.any(image != np.asarray(BACKGROUND, np.uint8)))


class Renderer:
    """Renders prefixes of registered files in one Chromium tab.

    Args:
      browser: a Playwright browser (:func:`benchmarks.browser.chromium.launch`).
      server: the running :class:`~benchmarks.browser.server.PartialServer`.
    """

    def __init__(
        self,
        browser,
        server,
        interval_s: float = 0.05,
        stable: int = 2,
        timeout_s: float = 5.0,
        hold: bool = False,
        hold_wait_s: float = 1.0,
        fast_png: bool = False,
    ):
        self.browser, self.server = browser, server
        self.interval_s, self.stable, self.timeout_s = interval_s, stable, timeout_s
        self.hold, self.hold_wait_s = hold, hold_wait_s
        self.fast_png = fast_png
        self._page, self._hw, self._cdp = None, None, None
        self.renders = 0

    def _tab(self, hw):
        if self._page is None or self._hw != tuple(hw):
            if self._page is not None:
                self._page.close()
            self._page = self.browser.new_page(
                viewport={"width": int(hw[1]), "height": int(hw[0])}, device_scale_factor=1
            )
            self._hw = tuple(hw)
            self._cdp = self._page.context.new_cdp_session(self._page) if self.fast_png else None
        return self._page

    def _screenshot(self, page, clip) -> bytes:
        """PNG of ``clip``; with ``fast_png`` through the DevTools protocol's
        ``optimizeForSpeed`` (the same lossless pixels, about 6x faster at 3 MP)."""
        if self._cdp is None:
            return page.screenshot(clip=clip, animations="disabled")
        shot = self._cdp.send(
            "Page.captureScreenshot",
            {"format": "png", "clip": {**clip, "scale": 1}, "optimizeForSpeed": True},
        )
        return base64.b64decode(shot["data"])

    def render(self, name: str, n_bytes: int, hw) -> np.ndarray:
        """The image area after ``n_bytes`` bytes of file ``name`` (``hw``: its (h, w))."""
        page = self._tab(hw)
        self.renders += 1
        url = self.server.url("page", name, n_bytes, hold=self.hold)
        started = time.time()
        if self.hold:
            page.goto(url, wait_until="commit")
            time.sleep(self.hold_wait_s)
        else:
            page.goto(url, wait_until="load")
            page.evaluate("""() => document.getElementById('image').decode().catch(() => null)
                .then(() => new Promise(r => requestAnimationFrame(() =>
                    requestAnimationFrame(r))))""")
        clip = {"x": 0, "y": 0, "width": int(hw[1]), "height": int(hw[0])}
        shots = []
        while True:
            if shots:
                time.sleep(self.interval_s)
            shots.append(self._screenshot(page, clip))
            if len(shots) >= self.stable and len(set(shots[-self.stable :])) == 1:
                break
            if time.time() - started > self.timeout_s:
                break
        with Image.open(io.BytesIO(shots[-1])) as image:
            return np.asarray(image.convert("RGB"))

    def natural_size(self) -> tuple[int, int]:
        """``(h, w)`` the browser decoded the last image at (0 when it could not)."""
        size = self._page.evaluate(
            "[document.getElementById('image').naturalHeight,"
            " document.getElementById('image').naturalWidth]"
        )
        return int(size[0]), int(size[1])

    def close(self):
        if self._page is not None:
            self._page.close()
            self._page, self._cdp = None, None
