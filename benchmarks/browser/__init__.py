"""Progressive JPEG XL as a real browser shows it: headless Chromium, a server that stops early.

* :mod:`.chromium`: launching Debian's Chromium through Playwright (no browser download);
* :mod:`.server`: a local HTTP server that sends the first N bytes of a file, then holds
  the connection open, as a slow network would;
* :mod:`.render`: the image a page shows after N bytes, as pixels (screenshots until stable);
* :mod:`.search`: the shortest prefix for first paint and for a region to be final;
* ``run.py``: the benchmark (browser and djxl figures for the same files).
"""
