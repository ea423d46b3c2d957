"""attention_center.jxl.center_choice: scoring group orders, and the chosen centre on real files."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from conftest import needs_jxl_tools
from PIL import Image

from attention_center.core.frames import frame_transform
from attention_center.inference.prediction import Prediction
from attention_center.jxl.center_choice import (
    attention_points,
    choose_center,
    choose_for_prediction,
    estimated_group_bytes,
    final_bytes,
    gaussian_points,
    region_box,
    region_group_masks,
    region_group_spans,
    score_orders,
)
from attention_center.jxl.group_order import group_order
from attention_center.jxl.partial import PrefixDecoder, psnr

HW = (512, 768)  # 2 x 3 groups


def test_region_box_and_masks():
    assert region_box((300, 200), HW, 256) == (72, 172, 328, 428)
    assert region_box((5, 5), HW, 256) == (0, 0, 256, 256)  # kept inside
    assert region_box((100, 100), (100, 700), 256) == (0, 0, 100, 256)  # smaller image
    masks = region_group_masks([(300, 200), (128, 128), (700, 500)], HW, 256)
    assert masks.tolist() == [
        [True, True, False, True, True, False],
        [True, False, False, False, False, False],
        [False, False, False, False, False, True],
    ]


def test_final_bytes_adds_groups_up_to_the_last_needed():
    sizes = np.array([10, 20, 30, 40, 50, 60])
    order = np.array([1, 0, 2, 5, 4, 3])
    masks = np.array(
        [
            [True, True, False, False, False, False],  # 1 and 0: first two
            [False, True, False, False, True, False],
        ]
    )  # 1 and 4: fifth
    assert final_bytes(order, sizes, masks, base=5).tolist() == [35, 175]


def test_order_scores_are_the_expected_final_bytes_of_the_regions():
    """score_orders (spans of groups, linear memory) = the weighted final_bytes of the masks."""
    rng = np.random.default_rng(0)
    hw = (1000, 1400)  # 4 x 6 groups, partial ones at the edges
    points = rng.uniform((0, 0), (hw[1], hw[0]), size=(40, 2))
    weights = rng.uniform(0.1, 1.0, size=40)
    sizes = estimated_group_bytes(hw)
    masks = region_group_masks(points, hw, 256)
    scores = score_orders(hw, region_group_spans(points, hw, 256), weights, sizes, base=0.01)
    assert len(scores) > 24
    for cost, center in scores.values():
        expected = final_bytes(group_order(hw, center), sizes, masks, base=0.01)
        assert cost == pytest.approx(float(np.dot(expected, weights / weights.sum())))


def test_area_estimate():
    sizes = estimated_group_bytes((600, 800))
    assert sizes.sum() == pytest.approx(1.0)
    assert sizes[0] == pytest.approx(256 * 256 / (600 * 800))
    assert sizes[11] == pytest.approx(88 * 32 / (600 * 800))


def test_choice_moves_the_centre_to_the_quarter_that_helps():
    # People look at (380, 250): the region straddles groups 1 (above) and 4 (below) and
    # 0 / 3 on the left. The model's centre (300, 200) is in group 1's left quarter: its
    # ring puts 4 fifth. Every order is scored; the chosen one needs fewer groups.
    points, weights = gaussian_points((380, 250), HW, sigma=0.01)
    choice = choose_center(points, weights, HW, model_center=(300, 200))
    assert not choice.kept_model_center
    assert choice.expected < choice.model_expected
    masks = region_group_masks(points, HW)
    sizes = estimated_group_bytes(HW)
    mine = np.dot(final_bytes(group_order(HW, choice.center), sizes, masks), weights)
    model = np.dot(final_bytes(group_order(HW, (300, 200)), sizes, masks), weights)
    assert mine == pytest.approx(choice.expected) and model == pytest.approx(choice.model_expected)
    # Nothing beats it: every centre on a coarse grid scores at least as high.
    for x in range(0, 768, 64):
        for y in range(0, 512, 64):
            cost = np.dot(final_bytes(group_order(HW, (x, y)), sizes, masks), weights)
            assert cost >= choice.expected - 1e-12


def test_model_centre_kept_when_it_is_best():
    # Every region around these points lies in group 0: any order starting there ties.
    points, weights = gaussian_points((60, 60), HW, sigma=0.01)
    assert region_group_masks(points[weights > 1e-9], HW)[:, 1:].sum() == 0
    choice = choose_center(points, weights, HW, model_center=(100, 120))
    assert choice.kept_model_center and choice.center == (100, 120)


def test_weight_map_points_land_on_the_image():
    transform = frame_transform((512, 768))  # fitted into 480x640: padding above and below
    weight_map = np.zeros((120, 160), np.float32)
    weight_map[60, 40] = 1.0  # one hot cell
    points, weights = attention_points(weight_map, transform, sharpness=1.0)
    assert weights.sum() == pytest.approx(1.0)
    hot = points[np.argmax(weights)]
    frame_x, frame_y = transform.to_frame(hot[0], hot[1])
    assert frame_x == pytest.approx(40 * 4 + 1.5, abs=1e-6)
    assert frame_y == pytest.approx(60 * 4 + 1.5, abs=1e-6)
    assert np.all((points >= 0) & (points <= [767, 511]))


def test_choose_for_prediction_needs_only_a_centre():
    prediction = Prediction(source="x", center=np.array([300.0, 200.0]), original_hw=HW)
    choice = choose_for_prediction(prediction)
    assert choice is not None and choice.model_expected is not None
    assert choose_for_prediction(Prediction(source="x", error="bad")) is None


@needs_jxl_tools
def test_chosen_centre_makes_the_region_final_sooner_in_real_files(kodak_paths, tmp_path):
    """Real cjxl files: the region around (380, 250) of kodim23 is final earlier with the
    chosen centre than with the model's (300, 200), as djxl decodes the prefixes."""
    source = next(p for p in kodak_paths if p.name == "kodim23.png")
    assert Image.open(source).size == (768, 512)
    points, weights = gaussian_points((380, 250), HW, sigma=0.01)
    chosen = choose_center(points, weights, HW, model_center=(300, 200)).center
    top, left, bottom, right = region_box((380, 250), HW, 256)
    needed = {}
    for name, center in (("model", (300, 200)), ("chosen", chosen)):
        out = tmp_path / f"{name}.jxl"
        subprocess.run(
            [
                "cjxl",
                str(source),
                str(out),
                "--quiet",
                "--num_threads",
                "1",
                "--group_order",
                "1",
                "--center_x",
                str(center[0]),
                "--center_y",
                str(center[1]),
            ],
            check=True,
            capture_output=True,
        )
        data = out.read_bytes()
        with PrefixDecoder(data, work_dir=tmp_path / name) as decoder:
            full = decoder.full[top:bottom, left:right]
            low, high = 0, len(data)
            while high - low > len(data) // 100:
                mid = (low + high) // 2
                image = decoder(mid)
                if image is not None and psnr(image[top:bottom, left:right], full) >= 50:
                    high = mid
                else:
                    low = mid
            needed[name] = high / len(data)
    assert needed["chosen"] < needed["model"] - 0.1, needed
