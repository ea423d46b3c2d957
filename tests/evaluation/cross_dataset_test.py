"""The cross-dataset table: every row is the evaluator's own result on that row's records."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")

from conftest import save_centroid_model  # noqa: E402
from small_ground_truth import two_dataset_build  # noqa: E402

from attention_center.evaluation.cross_dataset import (  # noqa: E402
    HeldOutSet,
    RowResult,
    cross_dataset_table,
    markdown_tables,
)
from attention_center.evaluation.evaluate import evaluate  # noqa: E402

ALL = ("train", "val", "test")


def test_rows_shared_and_held_out_models(tmp_path_factory, shared_data_dir, tmp_path):
    build = two_dataset_build(tmp_path_factory, shared_data_dir, images=6)
    shared = save_centroid_model(tmp_path / "shared.keras", frame_hw=(120, 160))
    other = save_centroid_model(tmp_path / "other.keras", frame_hw=(240, 320))
    rows = [
        HeldOutSet("osie", "osie_eye", ALL, "OSIE part"),
        HeldOutSet("other", "other_eye", ALL, "other part"),
    ]
    results = cross_dataset_table(build, rows, {"centroid": shared}, {"other": other})
    assert [r.row.label for r in results] == ["OSIE part", "other part"]
    assert [r.num_images for r in results] == [3, 3]
    held = "ours (never trained on these images)"
    assert held not in results[0].summaries and held in results[1].summaries
    direct = evaluate(
        build, [shared], split=ALL, modality="eye", sources=["other_eye"], progress=False
    )
    by_name = {m.name: m.summary() for m in direct.methods}
    assert results[1].summaries["centroid"] == by_name["shared.keras"]
    assert results[1].summaries["image centre"] == by_name["image centre"]
    ceiling = next(v for k, v in by_name.items() if k.startswith("human"))
    assert results[1].summaries["human split-half"] == ceiling
    # The two centroid models differ only in frame size: nearly the same centres.
    assert (
        abs(
            results[1].summaries[held]["mean_error"]
            - results[1].summaries["centroid"]["mean_error"]
        )
        < 0.01
    )
    text = markdown_tables(results, ["image centre", "centroid", held, "human split-half"])
    assert text.count("| OSIE part | 3 |") == 3 and "| - |" in text  # no held-out model there
    mean = results[0].summaries["centroid"]["mean_error"]
    assert f"{mean:.4f}" in text and np.isfinite(mean)
    # Two columns of a row compared: the ratio of the table's means, with its interval.
    interval = results[1].ratio("centroid", "image centre", n_resamples=999)
    assert interval.ratio == pytest.approx(
        mean_of(results[1], "centroid") / mean_of(results[1], "image centre")
    )
    assert interval.num_images == 3 and interval.low <= interval.ratio <= interval.high
    with pytest.raises(KeyError, match="OSIE part.*no column"):
        results[0].ratio(held, "centroid")


def mean_of(result, column):
    return result.summaries[column]["mean_error"]


def test_a_row_of_several_sources_and_splits_scores_their_records(
    tmp_path_factory, shared_data_dir
):
    """A row of two sources and some splits (as the in-domain rows) scores exactly those
    records."""
    from attention_center.core.ground_truth_index import select_records
    from attention_center.evaluation.cross_dataset import IN_DOMAIN_SETS

    build = two_dataset_build(tmp_path_factory, shared_data_dir, images=6)
    splits = tuple(sorted({r["split"] for r in select_records(build, ALL)}))[:2]
    row = HeldOutSet("both", "osie_eye", splits, "both", extra_sources=("other_eye",))
    (result,) = cross_dataset_table(build, [row])
    wanted = select_records(build, splits, sources=["osie_eye", "other_eye"])
    assert {r["source"] for r in wanted} == {"osie_eye", "other_eye"}
    assert result.num_images == len({r["image_id"] for r in wanted})
    assert result.summaries["image centre"]["num_images"] == len(wanted)
    # The interval resamples images, each with all its records.
    interval = result.ratio("image centre", "dataset-mean centre", n_resamples=999)
    assert (interval.num_images, interval.num_records) == (result.num_images, len(wanted))
    assert all(set(r.splits) == {"val", "test"} for r in IN_DOMAIN_SETS)


def test_a_row_scoring_an_image_twice_says_how_many_records_its_means_weigh():
    """A chart in three click experiments is one image and three records: the means weigh
    records, so the table's count says both (it said "19" over 24 records)."""
    summary = {"mean_error": 0.1, "median_error": 0.1, "same_group": 0.5, "num_images": 3}
    row = HeldOutSet("c", "c_click", ("test",), "charts", modality="click")
    twice = RowResult(row, {"m": summary}, 2, [], image_ids=["c/1", "c/1", "c/2"])
    once = RowResult(row, {"m": summary}, 3, [], image_ids=["c/1", "c/2", "c/3"])
    lines = markdown_tables([twice, once], ["m"]).splitlines()
    assert "| charts | 2 (3 records) | 0.1000 |" in lines
    assert "| charts | 3 | 0.1000 |" in lines
