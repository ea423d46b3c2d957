"""The vectorised group order and centre choice against the code they replaced (perf audit F3).

``reference_group_order``, ``reference_nearest_center_with_order`` and
``reference_unique_spans`` below are verbatim copies (renamed) of
:func:`attention_center.jxl.group_order.group_order`,
:func:`~attention_center.jxl.group_order.nearest_center_with_order` and the ``np.unique``
line of :func:`attention_center.jxl.center_choice.score_orders` as they were before the
vectorisation (a Python key per group and ``sorted``; ``np.mgrid`` and a full ``argsort``;
``np.unique(axis=0)``). cjxl's file depends on the centre only through the group order, so
the requirement is: the same order for every centre and size, and the same chosen centre,
except where the old code picked among pixels at exactly the same distance with an
unstable ``argsort``: the new code takes the first of them in raster order, whose group
order is the same (checked here, and on real cjxl bytes at the end).
"""

from __future__ import annotations

import contextlib
import math
import subprocess

import numpy as np
import pytest
from conftest import needs_jxl_tools
from PIL import Image

from attention_center.jxl import center_choice
from attention_center.jxl.center_choice import choose_center, cjxl_center, gaussian_points
from attention_center.jxl.group_order import (
    _check_center,
    _remainder_2pi,
    _side_table,
    group_grid,
    group_order,
    group_side,
    nearest_center_with_order,
)

# The sizes (h, w) of every photo in ../shared/data/kodak (landscape and portrait) and
# ../shared/data/osie (checked against the files by test_photo_sizes_are_the_real_ones).
PHOTO_SIZES = [(512, 768), (768, 512), (600, 800)]

# --- the reference: the code before the vectorisation, verbatim --------------------------------


def reference_group_order(image_hw, center=None, centre_first: bool = True, group_dim: int = 256):
    rows, columns = group_grid(image_hw, group_dim)
    count = rows * columns
    if not centre_first or count == 1:
        return np.arange(count, dtype=np.int64)
    h, w = (int(v) for v in image_hw)
    x, y = _check_center(image_hw, (w // 2, h // 2) if center is None else center)
    cx = (x // group_dim) * group_dim + group_dim // 2
    cy = (y // group_dim) * group_dim + group_dim // 2
    side = group_side((x, y), group_dim)

    def key(group: int):
        gy, gx = divmod(group, columns)
        dx = gx * group_dim + group_dim // 2 - cx
        dy = gy * group_dim + group_dim // 2 - cy
        angle = math.remainder(math.atan2(dy, dx) + math.pi / 4 + side * (math.pi / 2), 2 * math.pi)
        return max(abs(dx), abs(dy)), angle

    return np.asarray(sorted(range(count), key=key), dtype=np.int64)


def reference_nearest_center_with_order(image_hw, group: int, side: int, target, group_dim=256):
    h, w = (int(v) for v in image_hw)
    columns = group_grid((h, w), group_dim)[1]
    gy, gx = divmod(int(group), columns)
    x0, y0 = gx * group_dim, gy * group_dim
    ys, xs = np.mgrid[y0 : min(h, y0 + group_dim), x0 : min(w, x0 + group_dim)]
    cx, cy = x0 + group_dim // 2, y0 + group_dim // 2
    # group_side, vectorized (np.arctan2/np.fmod are the C library's, as math's are);
    # each candidate is checked with group_side itself below.
    sides = np.floor(
        np.fmod(-np.arctan2(ys - cy, xs - cx) + 5 * math.pi / 4, 2 * math.pi) * 2 / math.pi
    ).astype(np.int64)
    d2 = (xs - float(target[0])) ** 2 + (ys - float(target[1])) ** 2
    d2 = np.where(sides == int(side), d2, np.inf)
    for index in np.argsort(d2, axis=None)[:16]:
        if not np.isfinite(d2.flat[index]):
            break
        point = (int(xs.flat[index]), int(ys.flat[index]))
        if group_side(point, group_dim) == int(side):
            return point
    return None


def reference_unique_spans(spans):
    unique, inverse = np.unique(np.asarray(spans, np.int64), axis=0, return_inverse=True)
    return unique, inverse.ravel()


@contextlib.contextmanager
def reference_choice():
    """``center_choice`` as it was: the three replaced functions swapped back in."""
    saved = (
        center_choice.group_order,
        center_choice.nearest_center_with_order,
        center_choice._unique_spans,
    )
    center_choice.group_order = reference_group_order
    center_choice.nearest_center_with_order = reference_nearest_center_with_order
    center_choice._unique_spans = reference_unique_spans
    try:
        yield
    finally:
        (
            center_choice.group_order,
            center_choice.nearest_center_with_order,
            center_choice._unique_spans,
        ) = saved


# --- the cases ------------------------------------------------------------------------------------


def _sizes(rng) -> list[tuple[int, int]]:
    """1x1 to 100 MP: one group, two groups (either way), thin strips, photos, random."""
    fixed = [
        (1, 1),
        (1, 2),
        (2, 1),
        (255, 256),
        (256, 256),
        (256, 257),
        (257, 256),
        (256, 512),
        (512, 256),
        (1, 1300),
        (1300, 1),
        (300, 1300),
        (512, 512),
        (513, 513),
        *PHOTO_SIZES,
        (4000, 6000),  # 24 MP
        (4912, 7360),  # 36 MP
        (10000, 10000),  # 100 MP
    ]
    spread = [tuple(int(v) for v in np.exp(rng.uniform(0, np.log(3000), 2))) for _ in range(40)]
    return fixed + spread


def _centres(hw, rng, count: int) -> list[tuple[int, int]]:
    """Random pixels, the corners, group borders and corners, group centres, diagonals."""
    h, w = hw
    special = [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1), (w // 2, h // 2)]
    for gx in range(0, w, 256):
        for gy in range(0, h, 256):
            if len(special) > 60:
                break
            cx, cy = gx + 128, gy + 128
            k = int(rng.integers(1, 128))
            special += [
                (gx, gy),
                (gx + 255, gy + 255),
                (gx + 255, gy),
                (gx - 1, gy),
                (gx, gy - 1),
                (cx, cy),
                (cx + k, cy + k),
                (cx - k, cy - k),
                (cx + k, cy - k),
                (cx - k, cy + k),
                (cx - k, cy - k + 1),
            ]
    inside = [(x, y) for x, y in special if 0 <= x < w and 0 <= y < h]
    return inside + [
        (int(x), int(y)) for x, y in zip(rng.integers(0, w, count), rng.integers(0, h, count))
    ]


def test_photo_sizes_are_the_real_ones(shared_data_dir):
    sizes = set()
    for folder in ("kodak", "osie/data/stimuli"):
        for path in sorted((shared_data_dir / folder).iterdir()):
            if path.suffix.lower() in (".png", ".jpg", ".jpeg"):
                with Image.open(path) as image:
                    sizes.add((image.height, image.width))
    assert sizes == set(PHOTO_SIZES)


# --- the group order --------------------------------------------------------------------------


def test_group_order_is_the_references_for_every_case():
    rng = np.random.default_rng(20240601)
    count = 0
    for hw in _sizes(rng):
        rows, columns = group_grid(hw)
        for center in [None, *_centres(hw, rng, 30 if rows * columns < 200 else 3)]:
            expected = reference_group_order(hw, center)
            got = group_order(hw, center)
            assert got.dtype == np.int64 and got.tolist() == expected.tolist(), (hw, center)
            count += 1
        assert group_order(hw, centre_first=False).tolist() == list(range(rows * columns))
    assert count > 2500, count


@pytest.mark.parametrize("group_dim", [1, 2, 3, 7, 16, 64])
def test_group_order_is_the_references_for_other_group_sizes(group_dim):
    """Small groups: every quarter boundary within a few pixels, many more centres per ring."""
    rng = np.random.default_rng(group_dim)
    for _ in range(40):
        hw = tuple(int(v) for v in rng.integers(1, 12 * group_dim, 2))
        for x, y in zip(rng.integers(0, hw[1], 8), rng.integers(0, hw[0], 8)):
            expected = reference_group_order(hw, (x, y), group_dim=group_dim)
            assert group_order(hw, (x, y), group_dim=group_dim).tolist() == expected.tolist()


def test_remainder_is_maths_bit_for_bit():
    rng = np.random.default_rng(3)
    pi = math.pi
    edges = [pi, -pi, 3 * pi, -3 * pi, 2 * pi, -2 * pi, 0.0, -0.0, 1e300, -1e300]
    edges += [math.nextafter(v, d) for v in edges[:6] for d in (-math.inf, math.inf)]
    values = np.concatenate([edges, rng.uniform(-4 * pi, 4 * pi, 20000)])
    atan2s = [math.atan2(b, a) for a in range(-40, 41) for b in range(-40, 41)]
    values = np.concatenate(
        [values, *[np.asarray(atan2s) + pi / 4 + side * (pi / 2) for side in range(4)]]
    )
    got = _remainder_2pi(values)
    expected = np.array([math.remainder(v, 2 * pi) for v in values.tolist()])
    assert got.tobytes() == expected.tobytes()  # same bits, signed zeros included


@pytest.mark.parametrize("group_dim", [256, 128, 16, 7, 2, 1])
def test_side_table_is_group_side_of_every_pixel(group_dim):
    expected = [[group_side((x, y), group_dim) for x in range(group_dim)] for y in range(group_dim)]
    assert _side_table(group_dim).tolist() == expected


# --- the nearest pixel of a quarter -------------------------------------------------------------


def _reference_vectorised_side(point, group_dim: int) -> int:
    """The reference's ``np.arctan2`` side of one pixel (it left out pixels where this
    disagreed with :func:`group_side`; the new code takes :func:`group_side` itself)."""
    x, y = (np.asarray([v]) for v in point)
    cx, cy = (
        (x // group_dim) * group_dim + group_dim // 2,
        (y // group_dim) * group_dim + group_dim // 2,
    )
    angle = np.fmod(-np.arctan2(y - cy, x - cx) + 5 * math.pi / 4, 2 * math.pi)
    return int(np.floor(angle * 2 / math.pi)[0])


def _assert_same_or_tied(hw, group, side, target, got, expected, group_dim=256):
    """The same pixel, or one at exactly the same distance in the same quarter (or, where
    this machine's ``np.arctan2`` made the reference skip a pixel of the quarter, that
    pixel, nearer)."""
    if got == expected:
        return 0
    if expected is None or (
        got is not None and _reference_vectorised_side(got, group_dim) != side
    ):  # never on the machine this was written on
        assert got is not None and _reference_vectorised_side(got, group_dim) != side
        assert group_side(got, group_dim) == side
        if expected is not None:
            assert math.dist(got, target) <= math.dist(expected, target)
        return 1
    assert got is not None, (hw, group, side, target, got, expected)
    columns = group_grid(hw, group_dim)[1]
    for x, y in (got, expected):
        assert (y // group_dim) * columns + x // group_dim == group
        assert group_side((x, y), group_dim) == side
    distance = [
        (x - float(target[0])) ** 2 + (y - float(target[1])) ** 2 for x, y in (got, expected)
    ]
    assert distance[0] == distance[1], (hw, group, side, target, got, expected)
    order = reference_group_order(hw, got, group_dim=group_dim).tolist()
    assert order == reference_group_order(hw, expected, group_dim=group_dim).tolist()
    return 1


@pytest.mark.parametrize(
    "group_dim, sizes, groups",
    [
        (256, [(1, 1), (2, 300), (256, 512), (300, 1300), *PHOTO_SIZES, (4912, 7360)], 1),
        (16, [(1, 1), (7, 40), (16, 33), (60, 90), (100, 70)], 6),
        (7, [(3, 3), (20, 30), (50, 13)], 6),
    ],
)
def test_nearest_centre_is_the_references_or_an_exact_tie(group_dim, sizes, groups):
    rng = np.random.default_rng(group_dim)
    count = ties = 0
    for hw in sizes:
        rows, columns = group_grid(hw, group_dim)
        chosen = [0, rows * columns - 1, *rng.integers(0, rows * columns, groups).tolist()]
        for group in chosen:  # the first, the last (cropped) and random groups
            gy, gx = divmod(group, columns)
            corner = np.array([gx, gy]) * group_dim
            for side in range(4):
                targets = [
                    rng.uniform(-group_dim, [hw[1] + group_dim, hw[0] + group_dim]),  # anywhere
                    rng.integers(corner, corner + group_dim),  # a pixel of it (many ties)
                ]
                if group_dim < 256 or side == 0:
                    targets.append(corner + group_dim // 2)  # the group's nominal centre
                for target in targets:
                    target = tuple(target.tolist())
                    expected = reference_nearest_center_with_order(
                        hw, group, side, target, group_dim
                    )
                    got = nearest_center_with_order(hw, group, side, target, group_dim)
                    ties += _assert_same_or_tied(hw, group, side, target, got, expected, group_dim)
                    count += 1
    assert count >= 8 * len(sizes) * (groups + 2) and ties < count / 4, (count, ties)


def test_nearest_centre_ties_go_to_the_first_in_raster_order():
    # Two pixels of group 9's left quarter (600x800) at distance sqrt(21841) from (367, 414).
    assert nearest_center_with_order((600, 800), 9, 0, (367, 414)) == (262, 518)
    assert (263 - 367) ** 2 + (519 - 414) ** 2 == (262 - 367) ** 2 + (518 - 414) ** 2
    assert group_side((263, 519)) == group_side((262, 518)) == 0
    # The cropped corner group: its top quarter starts right of the diagonal pixel (768, 512),
    # which libjxl's arithmetic puts in the left quarter.
    assert group_side((768, 512)) == 0
    assert nearest_center_with_order((600, 800), 11, 3, (0, 0)) == (769, 512)
    assert nearest_center_with_order((600, 800), 12, 0, (0, 0)) is None  # no such group


# --- the unique spans ---------------------------------------------------------------------------


def test_unique_spans_are_np_uniques():
    rng = np.random.default_rng(11)
    cases = [
        np.zeros((0, 4), np.int64),
        np.zeros((1, 4), np.int64),
        rng.integers(-3, 3, (50, 4)),  # negative: the fallback
        np.array([[2**40, 2**40, 0, 1], [0, 0, 2**40, 2**40]]),  # the key would overflow
    ]
    for hw in [(1, 1), (600, 800), (4912, 7360), (10000, 10000)]:
        points, _ = gaussian_points(rng.uniform(0, [hw[1], hw[0]]), hw)
        cases.append(center_choice.region_group_spans(points, hw))
        cases.append(center_choice.region_group_spans(points[::-1], hw, side=700))
        cases.append(rng.integers(0, 9, (3000, 4)))
    for spans in cases:
        unique, inverse = center_choice._unique_spans(spans)
        expected_unique, expected_inverse = reference_unique_spans(spans)
        assert unique.dtype == np.int64 and unique.tolist() == expected_unique.tolist()
        assert inverse.tolist() == expected_inverse.tolist()


# --- the choice ---------------------------------------------------------------------------------


def _assert_same_choice(hw, got, expected, target):
    assert (got.group, got.side, got.kept_model_center) == (
        expected.group,
        expected.side,
        expected.kept_model_center,
    )
    assert got.expected == expected.expected and got.model_expected == expected.model_expected
    if got.center == expected.center:
        return 0
    distance = [math.hypot(x - target[0], y - target[1]) for x, y in (got.center, expected.center)]
    assert distance[0] == distance[1], (hw, target, got, expected)
    assert reference_group_order(hw, got.center).tolist() == (
        reference_group_order(hw, expected.center).tolist()
    )
    return 1


def test_chosen_centre_is_the_references_or_an_exact_tie():
    """What ``encode --center_strategy chosen`` hands cjxl (``cjxl_center``), old and new."""
    from attention_center.jxl.encoder import encoder_center

    rng = np.random.default_rng(5)
    count = ties = 0
    cases = [(hw, 16) for hw in PHOTO_SIZES]
    cases += [((1, 1), 1), ((1, 2), 1), ((200, 300), 2), ((256, 512), 4), ((512, 256), 4)]
    cases += [((300, 1300), 4), ((1000, 3000), 3), ((4000, 6000), 1), ((4912, 7360), 1)]
    cases += [((10000, 10000), 1)]
    cases += [(tuple(int(v) for v in rng.integers(1, 2500, 2)), 1) for _ in range(6)]
    for hw, n in cases:
        special = [(x + 0.2, y - 0.3) for x, y in _centres(hw, rng, 0)]  # borders, diagonals
        picked = rng.permutation(len(special))[: max(1, n // 3)]
        centres = [tuple(rng.uniform(0, [hw[1] - 1, hw[0] - 1]).tolist()) for _ in range(n)]
        for centre in centres + [special[i] for i in picked]:
            centre = tuple(float(np.clip(v, 0, s - 1)) for v, s in zip(centre, (hw[1], hw[0])))
            model = encoder_center(centre, hw, 1)
            got = center_choice.choose_for_center(centre, hw, 1, model_center=model)
            with reference_choice():
                expected = center_choice.choose_for_center(centre, hw, 1, model_center=model)
            ties += _assert_same_choice(hw, got, expected, model)
            count += 1
        assert cjxl_center(centre, hw, 1, "chosen") == got.center
    assert count > 80 and ties < count / 4, (count, ties)


def test_choice_from_points_is_the_references_or_an_exact_tie():
    """``choose_center`` with other weights (a map's points), no model centre, every order."""
    rng = np.random.default_rng(9)
    count = ties = 0
    for hw in [(600, 800), (768, 512), (300, 1300), (256, 512), (900, 900)]:
        for reach in (2, None):
            for with_model in (True, False):
                points = rng.uniform(0, [hw[1] - 1, hw[0] - 1], (int(rng.integers(1, 400)), 2))
                weights = rng.random(len(points)) ** 4
                model = tuple(int(v) for v in rng.integers(0, [hw[1], hw[0]]))
                kwargs = dict(model_center=model if with_model else None, reach=reach)
                got = choose_center(points, weights, hw, **kwargs)
                with reference_choice():
                    expected = choose_center(points, weights, hw, **kwargs)
                target = model if with_model else np.average(points, 0, weights)
                ties += _assert_same_choice(hw, got, expected, target)
                count += 1
    assert count == 20 and ties < count, (count, ties)


@needs_jxl_tools
def test_tied_centres_give_the_same_cjxl_bytes(kodak_paths, tmp_path):
    """Two pixels of one quarter at the same distance (the only centres old and new may
    disagree on): cjxl writes the same file for both."""
    source = next(p for p in kodak_paths if p.name == "kodim23.png")  # 768 x 512: 6 groups
    tied = [(553, 41), (552, 40)]  # both 29 px from (573, 20), both group 2's left quarter
    assert {group_side(c) for c in tied} == {0} and len(
        {(x // 256, y // 256) for x, y in tied}
    ) == 1
    files = []
    for i, (x, y) in enumerate(tied):
        out = tmp_path / f"{i}.jxl"
        subprocess.run(
            [
                "cjxl",
                str(source),
                str(out),
                "--num_threads",
                "1",
                "--quiet",
                "--group_order",
                "1",
                "--center_x",
                str(x),
                "--center_y",
                str(y),
            ],
            check=True,
            capture_output=True,
        )
        files.append(out.read_bytes())
    assert files[0] == files[1]
