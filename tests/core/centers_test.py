"""Centres of images and points, centre errors and JPEG XL groups
(:mod:`attention_center.core.centers`)."""

from __future__ import annotations

import numpy as np
import pytest

from attention_center.core import centers


def test_normalized_center_errors():
    errors = centers.normalized_center_errors(
        [[0, 0], [10, 10]], [[30, 40], [10, 10]], [[600, 800], [3, 4]]
    )
    np.testing.assert_allclose(errors, [50 / 1000, 0.0])


def test_jxl_groups_in_pixel_centre_convention():
    groups = centers.jxl_groups([[255.0, 0.0], [255.49, 511.6], [255.5, 10.0], [-0.4, 256.0]])
    assert groups.tolist() == [[0, 0], [0, 2], [1, 0], [0, 1]]
    same = centers.same_jxl_group([[10, 10], [300, 10]], [[250, 200], [200, 10]])
    assert same.tolist() == [True, False]


def test_normalized_centres_round_trip_and_image_centre():
    sizes = np.array([[600, 800], [512, 768]])
    image_centre = centers.image_centers(sizes)
    np.testing.assert_allclose(image_centre, [[399.5, 299.5], [383.5, 255.5]])
    np.testing.assert_allclose(centers.normalized_centers(image_centre, sizes), 0.5)
    points = np.array([[12.3, 400.0], [700.0, 3.0]])
    np.testing.assert_allclose(
        centers.centers_from_normalized(centers.normalized_centers(points, sizes), sizes), points
    )


def test_summary_skips_nan():
    s = centers.summarize_center_errors([0.1, np.nan, 0.3, 0.2], [1, np.nan, 0, 1])
    assert s == {
        "mean_error": pytest.approx(0.2),
        "median_error": pytest.approx(0.2),
        "same_group": pytest.approx(2 / 3),
        "num_images": 3,
    }


def test_centers_from_keep_is_the_mean_of_kept_points_pooled_over_observers():
    points = np.array(
        [[[[0.0, 0.0], [10.0, 0.0]], [[20.0, 30.0], [99.0, 99.0]]]]
    )  # [1, O=2, P=2, 2]
    keep = np.array([[[True, True], [True, False]]])
    center, count = centers.centers_from_keep(points, keep)
    np.testing.assert_allclose(center, [[10.0, 10.0]])
    assert count.tolist() == [3]
    empty, none = centers.centers_from_keep(points, np.zeros_like(keep))
    assert np.isnan(empty).all() and none.tolist() == [0]
