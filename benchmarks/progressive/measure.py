"""Measuring one encoding: encode once, decode byte prefixes, when the looked-at region is final.

For each region side (256: the headline; 64: the fixation point itself), the square around
the human centre (:func:`attention_center.jxl.center_choice.region_box`) is compared with
the full decode (PSNR); the figure is the shortest prefix, as a fraction of the file, at
which it reaches ``threshold`` dB: found on a ``step`` grid, then refined by bisection on
the byte count. Every side is measured on the same decodes
(:class:`attention_center.jxl.partial.PrefixDecoder`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from attention_center.jxl.center_choice import region_box
from attention_center.jxl.encoder import EncoderError, cjxl_command, run_encoder
from attention_center.jxl.partial import PrefixDecoder, psnr

__all__ = ["encode", "measure"]


def encode(source: str, output: Path, flags: list[str], encoder: str = "cjxl") -> bytes:
    """Runs ``cjxl source output flags`` (one thread, atomically); returns the file's bytes.

    Raises:
      EncoderError: cjxl failed.
    """
    command = cjxl_command(encoder, source, output, None, [*flags, "--quiet"], num_threads=1)
    run_encoder(command, output)
    return Path(output).read_bytes()


def measure(
    source: str,
    flags: list[str],
    gt_center,
    work: Path,
    sides: list[int],
    threshold: float,
    step: float,
    refine: int,
) -> dict:
    """Encodes once, decodes prefixes; per region side, the PSNR curve and the fraction needed.

    Args:
      source: the input image.
      flags: every cjxl flag (group order, centre, extra flags).
      gt_center: ``(x, y)`` displayed pixels: the human centre.
      work: a scratch folder.
      sides: region sides, pixels.
      threshold: PSNR (dB) at which a region counts as final.
      step: prefix grid, fraction of the file.
      refine: bisection steps between grid points.
    Returns:
      ``{"bytes", "grid": [fractions], "regions": {side: {"psnr": [dB or None =
      identical], "fraction_needed": f}}, "seconds"}``, or ``{"error": message}``.
    """
    started = time.time()
    work.mkdir(parents=True, exist_ok=True)
    try:
        data = encode(source, work / "image.jxl", flags)
        decoder = PrefixDecoder(data, work_dir=work / "decode")
    except (EncoderError, ValueError, OSError) as error:
        return {"error": str(error)[-300:]}
    full = decoder.full
    boxes = {side: region_box(gt_center, full.shape[:2], side) for side in sides}

    def quality(n_bytes: int, side: int) -> float:
        if n_bytes >= len(data):
            return math.inf
        part = decoder(n_bytes)
        if part is None:
            return 0.0
        top, left, bottom, right = boxes[side]
        return psnr(part[top:bottom, left:right], full[top:bottom, left:right])

    fractions = [round(step * k, 6) for k in range(1, int(round(1 / step)) + 1)]
    grid_bytes = [int(math.ceil(f * len(data))) for f in fractions]
    regions = {}
    for side in sides:
        curve = [quality(n, side) for n in grid_bytes]
        first = next(k for k, v in enumerate(curve) if v >= threshold)  # 100 % is inf
        low, high = (grid_bytes[first - 1] if first else 0), grid_bytes[first]
        for _ in range(refine):  # quality(low) < threshold <= quality(high)
            mid = (low + high) // 2
            if mid <= low:
                break
            if quality(mid, side) >= threshold:
                high = mid
            else:
                low = mid
        regions[str(side)] = {
            "psnr": [None if math.isinf(v) else round(v, 2) for v in curve],
            "fraction_needed": round(high / len(data), 5),
        }
    decoder.close()
    return {
        "bytes": len(data),
        "grid": fractions,
        "regions": regions,
        "seconds": round(time.time() - started, 2),
    }
