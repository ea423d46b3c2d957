"""Quality over bytes of what headless Chromium paints (issue 23, part 4).

The same measure as :func:`attention_center.jxl.quality.quality_curve`, with the browser
as the decoder: each byte budget of a ``.jxl`` file is served by
:class:`benchmarks.browser.server.PartialServer` (the first N bytes, then the download
ends), screenshotted in one Chromium tab at the image's natural size, device scale 1, no
scaling (:class:`benchmarks.browser.render.Renderer`), and scored by
:func:`attention_center.jxl.quality.quality_of` against **Chromium's own paint of the
whole file** (so colour management and the browser's decoder cancel out). A screenshot
with no pixel but the page background, or taken while the image has no natural size yet
(Chromium then shows a 16x16 "broken image" icon), counts as nothing drawn (score 0), as
djxl's "nothing decoded" does. Unlike djxl 0.7, Chromium draws the ``--progressive_dc=1``
preview from the first percent or so of the file.

Images: ``uint8 [h, w, 3]`` RGB; ``density``: ``float64 [h, w]`` summing to 1.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

import numpy as np

from attention_center.jxl.quality import QualityCurve, quality_of
from benchmarks.browser.render import Renderer, painted

__all__ = ["BrowserScorer", "browser_quality_curve"]


def browser_quality_curve(
    renderer: Renderer, name: str, data: bytes, density: np.ndarray, budgets: Sequence[float]
) -> tuple[QualityCurve, np.ndarray]:
    """What Chromium paints at each byte budget of ``data``, scored against its full paint.

    Args:
      renderer: a :class:`Renderer` on a running server.
      name: the file's name on the server (registered here; ``.jxl``).
      data: the file's bytes.
      density: ``float64 [h, w]`` fixation density of the displayed image.
      budgets: fractions of the file, ascending (1.0: the full paint itself, scored 1).
    Returns:
      ``(curve, final)``: the curve (keys of :func:`quality_of`) and the full paint
      ``uint8 [h, w, 3]``.
    Raises:
      ValueError: Chromium does not draw the whole file at the density's size (not
        decoded, or another natural size).
    """
    renderer.server.add(name, data)
    hw = tuple(int(v) for v in density.shape)
    try:
        final = renderer.render(name, len(data), hw)
        natural = renderer.natural_size()
        if natural != hw or not painted(final):
            raise ValueError(
                f"{name}: Chromium drew the whole file at {natural} (h, w), expected {hw}"
            )
        values: dict[str, list[float]] = {}
        previous, scores = None, None
        for budget in budgets:
            n_bytes = int(math.ceil(float(budget) * len(data)))
            if n_bytes >= len(data):
                shown = final
            else:
                shown = renderer.render(name, n_bytes, hw)
                # Before the header's size arrives Chromium shows its 16x16 "broken image"
                # icon (natural size 0): that is not the image, so nothing is drawn yet.
                drawn = painted(shown) and renderer.natural_size() == hw
                shown = shown if drawn else None
            if scores is None or not _same(shown, previous):  # same paint: same score
                scores = quality_of(shown, final, density)
            previous = shown
            for key, value in scores.items():
                values.setdefault(key, []).append(value)
    finally:
        renderer.server.remove(name)
    return QualityCurve([float(b) for b in budgets], values, len(data)), final


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return a.shape == b.shape and np.array_equal(a, b)


class BrowserScorer:
    """One headless Chromium (Playwright), one local server and one tab, reused for many files.

    Use as a context manager; :meth:`curve` scores one file. Playwright's sync API is
    bound to the thread that started it: call from that thread only.
    """

    def __init__(self, timeout_s: float = 10.0):
        self.timeout_s = timeout_s
        self._stack = contextlib.ExitStack()
        self.renderer: Renderer | None = None

    def __enter__(self):
        from playwright.sync_api import sync_playwright

        from benchmarks.browser.chromium import launch
        from benchmarks.browser.server import PartialServer

        try:
            playwright = self._stack.enter_context(sync_playwright())
            server = self._stack.enter_context(PartialServer())
            browser = launch(playwright)
            self._stack.callback(browser.close)
            self.renderer = Renderer(browser, server, timeout_s=self.timeout_s, fast_png=True)
            self._stack.callback(self.renderer.close)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc):
        self._stack.close()

    def curve(
        self, name: str, data: bytes, density: np.ndarray, budgets: Sequence[float]
    ) -> tuple[QualityCurve, np.ndarray]:
        """:func:`browser_quality_curve` in this browser."""
        return browser_quality_curve(self.renderer, name, data, density, budgets)
