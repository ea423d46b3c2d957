"""attention_center.jxl.group_order against the group order read from real cjxl 0.7 files.

The order is read from each file by decoding byte prefixes with ``djxl
--allow_partial_files`` and noting when each group's interior becomes identical to the
full decode (:func:`attention_center.jxl.partial.group_arrivals`): libjxl's own decoder,
what a viewer shows, no second parser of the codestream. Cases cover landscape and
portrait photos, a JPEG (lossless transcoding), a wide image with several rings, edge
groups cut by the image border (nominal centre outside the image), centres exactly on a
group's centre and on the diagonals between quarters (where libjxl's float arithmetic
decides), cjxl's default centre, the scanline order and ``--progressive_dc=1``.
"""

from __future__ import annotations

import concurrent.futures
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_jxl_tools
from PIL import Image

from attention_center.jxl.group_order import (
    candidate_orders,
    group_grid,
    group_order,
    group_rects,
    group_side,
    ring_positions,
)
from attention_center.jxl.partial import group_arrivals

# --- the model on its own ---------------------------------------------------------------------


def test_grid_and_rects_cover_the_image():
    assert group_grid((512, 768)) == (2, 3)
    assert group_grid((600, 800)) == (3, 4)
    rects = group_rects((600, 800))
    assert rects.shape == (12, 4)
    assert tuple(rects[3]) == (0, 768, 256, 800)  # the cropped right column
    assert tuple(rects[11]) == (512, 768, 600, 800)
    area = np.sum((rects[:, 2] - rects[:, 0]) * (rects[:, 3] - rects[:, 1]))
    assert area == 600 * 800


def test_scanline_and_single_group():
    assert group_order((512, 768), centre_first=False).tolist() == list(range(6))
    assert group_order((200, 200), (10, 10)).tolist() == [0]


def test_hand_worked_example():
    # (300, 200) lies in group 1 (x 256..511, y 0..255), left of its centre (384, 128) by
    # 84 and below it by 72: the left quarter, side 0. The ring starts left and goes
    # clockwise on screen: left 0, (no row above), right 2, down-right 5, down 4, down-left 3.
    assert group_side((300, 200)) == 0
    assert group_order((512, 768), (300, 200)).tolist() == [1, 0, 2, 5, 4, 3]
    # Below the centre instead (bottom quarter, side 1): the ring starts with the group below.
    assert group_side((380, 250)) == 1
    assert group_order((512, 768), (380, 250)).tolist() == [1, 4, 3, 0, 2, 5]


@pytest.mark.parametrize("hw", [(512, 768), (768, 512), (600, 800), (768, 1366), (300, 1300)])
def test_rings_and_first_group(hw):
    rows, columns = group_grid(hw)
    rng = np.random.default_rng(sum(hw))
    for x, y in zip(rng.integers(0, hw[1], 20), rng.integers(0, hw[0], 20)):
        order = group_order(hw, (x, y))
        assert sorted(order.tolist()) == list(range(rows * columns))
        assert order[0] == (y // 256) * columns + x // 256
        gy, gx = np.divmod(order, columns)
        ring = np.maximum(np.abs(gx - x // 256), np.abs(gy - y // 256))
        assert np.all(np.diff(ring) >= 0)  # square rings, inner first
        assert ring_positions(order)[order].tolist() == list(range(len(order)))


def test_outside_centre_is_refused():
    with pytest.raises(ValueError, match="outside"):
        group_order((512, 768), (768, 10))


def test_candidates_reproduce_their_order():
    hw = (600, 800)
    candidates = candidate_orders(hw)
    assert len(candidates) == 41  # 12 groups x 4 quarters, less those cut off by the border
    # Different quarters can give one order (a corner group: no neighbour on two sides).
    orders = {tuple(group_order(hw, c)) for c in candidates.values()}
    assert 12 < len(orders) <= len(candidates)
    for (group, side), (x, y) in candidates.items():
        assert (y // 256) * 4 + x // 256 == group and group_side((x, y)) == side


# --- against real files -----------------------------------------------------------------------


def _tiles(shared_data_dir: Path, out: Path) -> Path:
    """A real 1300x300 photo mosaic (6x2 groups): two Kodak photos side by side, cropped."""
    kodak = shared_data_dir / "kodak"
    left = Image.open(kodak / "kodim05.png").convert("RGB").crop((0, 0, 650, 300))
    right = Image.open(kodak / "kodim13.png").convert("RGB").crop((0, 100, 650, 400))
    image = Image.new("RGB", (1300, 300))
    image.paste(left, (0, 0))
    image.paste(right, (650, 0))
    image.save(out)
    return out


CASES = [
    # (id, source, centre or None (cjxl's default) or "scanline", extra flags)
    ("landscape-left-quarter", "kodak/kodim23.png", (300, 200), []),
    ("group-centre-exactly", "kodak/kodim23.png", (384, 128), []),
    ("diagonal-down-right", "kodak/kodim23.png", (434, 178), []),
    ("diagonal-up-left", "kodak/kodim23.png", (334, 78), []),
    ("portrait-default-centre", "kodak/kodim04.png", None, []),
    ("jpeg-cropped-edge-group", "osie/data/stimuli/1001.jpg", (790, 590), []),
    ("wide-mosaic-left-edge", "tiles", (10, 290), []),
    ("scanline", "kodak/kodim23.png", "scanline", []),
    ("progressive-dc", "kodak/kodim23.png", (600, 400), ["--progressive_dc=1"]),
]


def _encode(source: Path, center, extra, out: Path) -> bytes:
    if center == "scanline":
        flags = []
    else:
        flags = ["--group_order", "1"]
        if center is not None:
            flags += ["--center_x", str(center[0]), "--center_y", str(center[1])]
    subprocess.run(
        ["cjxl", str(source), str(out), "--num_threads", "1", "--quiet", *flags, *extra],
        check=True,
        capture_output=True,
    )
    return out.read_bytes()


@needs_jxl_tools
def test_model_matches_real_cjxl_files(shared_data_dir, tmp_path):
    tiles = _tiles(shared_data_dir, tmp_path / "tiles.png")

    def check(case):
        name, source, center, extra = case
        path = tiles if source == "tiles" else shared_data_dir / source
        data = _encode(path, center, extra, tmp_path / f"{name}.jxl")
        arrivals = group_arrivals(data, work_dir=tmp_path / name, exact=False)
        with Image.open(path) as image:
            w, h = image.size
        predicted = group_order(
            (h, w), None if center == "scanline" else center, centre_first=center != "scanline"
        )
        return name, arrivals, predicted

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(check, CASES))
    for name, arrivals, predicted in results:
        # Every group of these photos sharpens after the first paint, so the file's order
        # is fully observable; it must be the model's.
        assert np.all(arrivals.final_bytes > arrivals.first_paint), name
        assert arrivals.order.tolist() == predicted.tolist(), name
    # The diagonal cases really are on quarter boundaries (libjxl's rounding decides them).
    sides = {name: group_side(center) for name, _, center, _ in CASES if isinstance(center, tuple)}
    assert sides["group-centre-exactly"] == 2
    assert {sides["diagonal-down-right"], sides["diagonal-up-left"]} <= {0, 1, 2, 3}


@needs_jxl_tools
def test_section_sizes_do_not_depend_on_the_order(shared_data_dir, tmp_path):
    """What the oracle relies on: a group's bytes are the same whatever the order."""
    source = tmp_path / "crop.png"  # a real photo cut to 3x2 groups, two of them partial
    Image.open(shared_data_dir / "kodak" / "kodim23.png").crop((0, 0, 600, 300)).save(source)
    sizes = []
    firsts = []
    for i, center in enumerate([(300, 200), (590, 290)]):
        data = _encode(source, center, [], tmp_path / f"{i}.jxl")
        arrivals = group_arrivals(data, work_dir=tmp_path / f"a{i}", tolerance=8)
        assert arrivals.order.tolist() == group_order((300, 600), center).tolist()
        sizes.append(arrivals.section_bytes)
        firsts.append(int(arrivals.order[0]))
    others = [g for g in range(6) if g not in firsts]
    assert len(others) == 4
    # Arrivals to within 8 bytes, so sizes agree to within 16.
    np.testing.assert_allclose(sizes[0][others], sizes[1][others], atol=16)
    assert np.all(sizes[0][others] > 100)
