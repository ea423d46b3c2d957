"""One image -> a centre-first progressive JPEG XL file, anywhere Beam can write.

The command line and its facts are :mod:`attention_center.jxl.encoder`'s (Google's flags:
``cjxl IN OUT --group_order 1 --center_x X --center_y Y``; the centre chosen for the group
order with ``center_strategy="chosen"``, and left out over 2048 px where cjxl 0.7 would crash
on it with ``--progressive_dc``, as ``attention-center encode`` does; the centre mapped from the
displayed image to the file's stored orientation and clamped by
:func:`~attention_center.jxl.encoder.encoder_center`; the output written atomically by
:func:`~attention_center.jxl.encoder.run_encoder`). This module only adds what a cluster
needs: a local copy of a remote input for cjxl, a local scratch output uploaded atomically
to a remote destination, and the PNG detour for files cjxl cannot read or misreads
(:func:`~attention_center.jxl.encoder.png_reason`; the PNG holds the image's own pixels,
alpha, ICC profile and 16-bit grey kept, as ``attention-center encode`` writes it).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from typing import Optional

from attention_center.beam import io as beam_io
from attention_center.core.orientation import read_orientation
from attention_center.jxl.center_choice import (
    check_center_strategy,
    cjxl_center,
    stored_image_hw,
)
from attention_center.jxl.defaults import center_cjxl_survives, jpeg_transcode
from attention_center.jxl.encoder import (
    cjxl_command,
    png_reason,
    run_encoder,
    write_encoder_png,
)

__all__ = ["encode_jxl"]


def _cjxl_reads(path: str) -> tuple[bool, int]:
    """``(whether cjxl reads the file right itself, its EXIF orientation)``."""
    return png_reason(path) is None, read_orientation(path)


def encode_jxl(
    source: str,
    destination: str,
    center,
    displayed_hw: tuple,
    encoder: str,
    extra_flags: Sequence[str] = (),
    num_threads: Optional[int] = 1,
    center_strategy: str = "model",
) -> tuple[Optional[tuple[int, int]], int]:
    """Encodes ``source`` to ``destination`` centre-first, as ``attention-center encode`` does.

    Args:
      source: the input image (local or remote).
      destination: the ``.jxl`` file (local or remote); written atomically.
      center: ``(x, y)`` float, 0-based pixel centres of the image as displayed.
      displayed_hw: ``(h, w)`` of the image as displayed.
      encoder: the cjxl binary (:func:`attention_center.jxl.encoder.find_encoder`).
      extra_flags: more cjxl flags (they win over ours); ``attention-center beam`` adds
        :data:`~attention_center.jxl.defaults.DEFAULT_CJXL_FLAGS` as ``encode`` does.
      num_threads: cjxl ``--num_threads`` (``None``: cjxl's default, all cores).
      center_strategy: ``"model"``: ``center`` as it is; ``"chosen"``: the centre whose
        group order makes the region around ``center`` final soonest
        (:func:`attention_center.jxl.center_choice.choose_for_center`; ``encode``'s default).
    Returns:
      ``((x, y) given to cjxl in the stored image, bytes written)``; the centre is ``None``
      where cjxl 0.7 would crash on it with ``--progressive_dc`` (over 2048 px: cjxl's default
      order, the preview kept, as ``encode`` does;
      :func:`attention_center.jxl.defaults.center_cjxl_survives`).
    Raises:
      attention_center.jxl.encoder.EncoderError: cjxl failed.
      OSError, ImageLoadError: the input cannot be read again, or the output written.
    """
    check_center_strategy(center_strategy)
    scratch = tempfile.mkdtemp(prefix="ac-beam-jxl-")
    try:
        with beam_io.local_copy(source) as local:
            direct, orientation = _cjxl_reads(local)
            if direct:
                cjxl_input = local
            else:  # WebP, TIFF, BMP, CMYK, grey PNG under 8 bits: the upright image as PNG
                cjxl_input = os.path.join(scratch, "input.png")
                write_encoder_png(local, cjxl_input, max_pixels=None)
                orientation = 1
            stored_center, _ = center_cjxl_survives(
                extra_flags,
                stored_image_hw(displayed_hw, orientation),
                cjxl_center(center, displayed_hw, orientation, center_strategy),
                jpeg_transcode(cjxl_input, extra_flags),
            )
            target = (
                destination
                if beam_io.is_local(destination)
                else os.path.join(scratch, "output.jxl")
            )
            command = cjxl_command(
                encoder, cjxl_input, target, stored_center, extra_flags, num_threads=num_threads
            )
            size = run_encoder(command, target)
        if target != destination:
            with open(target, "rb") as handle:
                beam_io.write_atomic(destination, handle.read())
        return stored_center, size
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
