"""Partly downloaded JPEG XL files: decoding byte prefixes with djxl, and when each group is final.

``djxl --allow_partial_files`` (Debian's libjxl-tools 0.7) decodes a truncated file as a
progressive browser would show it: nothing until the DC image has arrived, then a blurry
preview in which each 256x256 group turns sharp once its AC section is complete.

:func:`group_arrivals` reads the order of the groups **from a file** this way: for each
group it finds the shortest prefix after which the group's interior (the group less a
``margin`` on each side, where the loop filters reach across from the neighbours) is
identical to the full decode. Sorting the groups by that gives the order in which the
file stores them, and the differences between consecutive arrivals are the groups'
section sizes in bytes, the two things the centre choice and the benchmarks need. (The
alternative, parsing the codestream's table of contents, needs a whole entropy decoder:
the TOC permutation is a Lehmer code coded with the ANS/prefix codes, behind image
metadata that may carry an entropy-coded ICC profile; this way uses libjxl's own decoder
and measures what a viewer shows.)

Images: ``uint8 [h, w, 3]`` RGB as stored in the codestream after the orientation djxl
applies (upright). Byte counts include the container, if any.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from attention_center.core.centers import JXL_GROUP_SIZE
from attention_center.jxl.group_order import group_rects

__all__ = [
    "DecoderNotFoundError",
    "GroupArrivals",
    "PrefixDecoder",
    "decode_file",
    "group_arrivals",
    "psnr",
]


class DecoderNotFoundError(FileNotFoundError):
    """No ``djxl`` on ``PATH``."""


def find_decoder(decoder: str = "djxl") -> str:
    found = shutil.which(decoder)
    if not found:
        raise DecoderNotFoundError(
            f"JPEG XL decoder {decoder!r} not found: install "
            "libjxl-tools (apt-get install libjxl-tools)"
        )
    return found


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two ``uint8`` arrays of one shape (``inf`` when identical)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(255.0**2 / mse))


def _read_netpbm(path: Path) -> np.ndarray:
    """The ``uint8 [h, w, 3]`` colours of what djxl writes: a PPM or PGM (16 bits scaled to
    8: Pillow reads a 16-bit PGM as integers up to its MAXVAL), or a PAM (``P7``, for an
    image with alpha; Pillow does not read it): alpha dropped, grey repeated."""
    data = path.read_bytes()
    if not data.startswith(b"P7"):
        with Image.open(path) as image:
            if image.mode != "I":
                return np.asarray(image.convert("RGB"))
            maxval = int(data.split(maxsplit=4)[3])  # P5 WIDTH HEIGHT MAXVAL
            grey = (np.asarray(image, np.int64).clip(0, maxval) * 255 + maxval // 2) // maxval
            return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=-1)
    header, _, body = data.partition(b"ENDHDR\n")
    fields = {}
    for line in header.decode("ascii", "replace").splitlines()[1:]:
        key, _, value = line.strip().partition(" ")
        if key and not key.startswith("#"):
            fields[key] = value.strip()
    width, height = int(fields["WIDTH"]), int(fields["HEIGHT"])
    depth, maxval = int(fields["DEPTH"]), int(fields["MAXVAL"])
    dtype = np.dtype(">u2") if maxval > 255 else np.dtype(np.uint8)
    pixels = np.frombuffer(body, dtype, count=width * height * depth)
    pixels = pixels.reshape(height, width, depth)[..., : 3 if depth >= 3 else 1]
    if maxval != 255:
        pixels = (pixels.astype(np.uint32) * 255 + maxval // 2) // maxval
    return np.ascontiguousarray(np.broadcast_to(pixels, (height, width, 3)), np.uint8)


def decode_file(
    path, out_ppm, partial: bool = False, decoder: str = "djxl"
) -> Optional[np.ndarray]:
    """Decodes a ``.jxl`` file (a prefix of one with ``partial``) to ``uint8 [h, w, 3]``.

    A 16-bit image is scaled to 8 bits; an image with alpha gives its colours (djxl writes
    it as a PAM: :func:`_read_netpbm`); an animation gives its first frame (djxl writes one
    file per frame, ``NAME-0.ppm``, ``NAME-1.ppm``..., instead of ``out_ppm``; they are
    removed). Returns ``None`` when djxl can show nothing (a prefix before the DC image).
    (djxl 0.7's ``--bits_per_sample=8`` garbles a 16-bit grey image: not used.)
    """
    out_ppm = Path(out_ppm)
    frames = f"{glob.escape(out_ppm.stem)}-*{glob.escape(out_ppm.suffix)}"
    for stale in [out_ppm, *out_ppm.parent.glob(frames)]:  # an earlier decode's
        stale.unlink(missing_ok=True)
    command = [
        decoder,
        os.fspath(path),
        os.fspath(out_ppm),
        "--num_threads=1",
        "--quiet",
    ]
    if partial:
        command.append("--allow_partial_files")
    run = subprocess.run(command, capture_output=True, stdin=subprocess.DEVNULL)
    first_frame = out_ppm.with_name(f"{out_ppm.stem}-0{out_ppm.suffix}")
    decoded = out_ppm if out_ppm.is_file() else first_frame
    try:
        if run.returncode != 0 or not decoded.is_file():
            return None
        return _read_netpbm(decoded)
    finally:
        if decoded == first_frame:
            for frame in out_ppm.parent.glob(frames):
                frame.unlink(missing_ok=True)


class PrefixDecoder:
    """Decodes prefixes of one ``.jxl`` file, remembering each decode.

    Args:
      data: the whole file's bytes.
      work_dir: a folder for the temporary prefix and PPM (default: a new temporary
        folder, removed by :meth:`close`).
      keep: how many decodes to remember (the most recent; the full decode always).

    Attributes:
      full: the full decode, ``uint8 [h, w, 3]``.
      decodes: how many times djxl ran.
    """

    def __init__(self, data: bytes, work_dir=None, keep: int = 64, decoder: str = "djxl"):
        self.data = bytes(data)
        self.decoder = find_decoder(decoder)
        self._own = work_dir is None
        self.work_dir = Path(
            tempfile.mkdtemp(prefix="jxl_prefix_") if work_dir is None else work_dir
        )
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.keep = max(1, int(keep))
        self._cache: dict[int, Optional[np.ndarray]] = {}
        self.decodes = 0
        full_path = self.work_dir / "full.jxl"
        full_path.write_bytes(self.data)
        self.full = decode_file(full_path, self.work_dir / "full.ppm", False, self.decoder)
        if self.full is None:
            raise ValueError("djxl cannot decode the whole file")

    def __len__(self) -> int:
        return len(self.data)

    def __call__(self, n_bytes: int) -> Optional[np.ndarray]:
        """The image shown after the first ``n_bytes`` bytes (``None``: nothing yet)."""
        n_bytes = int(n_bytes)
        if n_bytes >= len(self.data):
            return self.full
        if n_bytes <= 0:
            return None
        if n_bytes not in self._cache:
            prefix = self.work_dir / "prefix.jxl"
            prefix.write_bytes(self.data[:n_bytes])
            self.decodes += 1
            image = decode_file(prefix, self.work_dir / "prefix.ppm", True, self.decoder)
            if image is not None and image.shape != self.full.shape:
                image = None
            if len(self._cache) >= self.keep:
                self._cache.pop(next(iter(self._cache)))
            self._cache[n_bytes] = image
        return self._cache[n_bytes]

    def close(self) -> None:
        if self._own:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclasses.dataclass
class GroupArrivals:
    """When each group of a file is final.

    Attributes:
      image_hw: ``(h, w)`` of the decoded image.
      file_bytes: size of the file.
      first_paint: the shortest prefix djxl shows anything for (the DC image is in).
      final_bytes: ``int64 [N]``, per raster group: the shortest prefix after which its
        interior equals the full decode.
      order: ``int64 [N]``: the groups sorted by ``final_bytes`` (the stored order).
      section_bytes: ``int64 [N]``, per raster group: its arrival minus the previous
        group's in ``order`` (for the first group: minus ``first_paint``, which also
        counts the AC global section, an over-estimate).
      decodes: djxl runs used.
    """

    image_hw: tuple[int, int]
    file_bytes: int
    first_paint: int
    final_bytes: np.ndarray
    order: np.ndarray
    section_bytes: np.ndarray
    decodes: int

    def to_json(self) -> dict:
        return {
            "image_hw": list(self.image_hw),
            "file_bytes": int(self.file_bytes),
            "first_paint": int(self.first_paint),
            "final_bytes": [int(v) for v in self.final_bytes],
            "order": [int(v) for v in self.order],
            "section_bytes": [int(v) for v in self.section_bytes],
            "decodes": int(self.decodes),
        }

    @classmethod
    def from_json(cls, data: dict) -> GroupArrivals:
        return cls(
            tuple(data["image_hw"]),
            data["file_bytes"],
            data["first_paint"],
            np.asarray(data["final_bytes"], np.int64),
            np.asarray(data["order"], np.int64),
            np.asarray(data["section_bytes"], np.int64),
            data["decodes"],
        )


def _first_paint(decoder: PrefixDecoder, tolerance: int = 1) -> int:
    """The shortest prefix djxl shows anything for (within ``tolerance`` bytes above)."""
    low, high = 0, len(decoder)  # nothing at low, something at high
    while high - low > max(1, tolerance):
        mid = (low + high) // 2
        if decoder(mid) is None:
            low = mid
        else:
            high = mid
    return high


def group_arrivals(
    data: bytes,
    margin: int = 16,
    group_dim: int = JXL_GROUP_SIZE,
    work_dir=None,
    exact: bool = True,
    tolerance: int = 1,
) -> GroupArrivals:
    """Reads from a ``.jxl`` file, by decoding prefixes, when each group becomes final.

    A group is final at the shortest prefix after which its interior (the group shrunk
    by ``margin`` pixels on each side, at least a 1-pixel core) is bit-identical to the
    full decode. Found for all groups at once by bisection on the byte count, splitting
    the set of groups at each decoded prefix (about ``N log2(bytes / N)`` decodes).

    Args:
      data: the file's bytes.
      margin: pixels left out along each group edge (loop filters and chroma upsampling
        reach a few pixels across group edges).
      group_dim: side of a group (256).
      work_dir: where the temporary prefix goes (default: a temporary folder).
      exact: find each arrival to the byte; ``False``: stop once every group is alone in
        its interval (enough for the order, far fewer decodes; ``final_bytes`` are then
        upper bounds and ``section_bytes`` approximate).
      tolerance: with ``exact``, stop bisecting an interval once it is this many bytes
        long or less (the groups in it get its upper end: arrivals to within
        ``tolerance`` bytes, groups closer than that tie; far fewer decodes).
    Raises:
      ValueError: djxl cannot decode the whole file.
      DecoderNotFoundError: no djxl.
    """
    with PrefixDecoder(data, work_dir=work_dir) as decoder:
        full = decoder.full
        h, w = full.shape[:2]
        rects = group_rects((h, w), group_dim)
        cores = []
        for top, left, bottom, right in rects:
            mt = min(margin, max(0, (bottom - top - 1) // 2))
            ml = min(margin, max(0, (right - left - 1) // 2))
            cores.append((top + mt, left + ml, bottom - mt, right - ml))

        def final(image, group) -> bool:
            if image is None:
                return False
            top, left, bottom, right = cores[group]
            return bool(np.array_equal(image[top:bottom, left:right], full[top:bottom, left:right]))

        paint = _first_paint(decoder, max(1, tolerance) if exact else len(data) // 200)
        arrival = np.zeros(len(rects), np.int64)
        # Each task: groups not final at `low` bytes and final at `high` bytes.
        tasks = [(paint - 1, len(data), list(range(len(rects))))]
        while tasks:
            low, high, groups = tasks.pop()
            if high - low <= max(1, tolerance) or (not exact and len(groups) == 1):
                arrival[groups] = high
                continue
            mid = (low + high) // 2
            image = decoder(mid)
            done = [g for g in groups if final(image, g)]
            rest = [g for g in groups if g not in done]
            if done:
                tasks.append((low, mid, done))
            if rest:
                tasks.append((mid, high, rest))
        order = np.argsort(arrival, kind="stable").astype(np.int64)
        sizes = np.empty_like(arrival)
        previous = paint
        for group in order:
            sizes[group] = arrival[group] - previous
            previous = arrival[group]
        return GroupArrivals(
            image_hw=(h, w),
            file_bytes=len(data),
            first_paint=paint,
            final_bytes=arrival,
            order=order,
            section_bytes=sizes,
            decodes=decoder.decodes,
        )
