"""Reading a build's ``index.jsonl`` (:mod:`attention_center.core.ground_truth_index`): every
line checked, a bad one named by file and line, never a ``KeyError`` later."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attention_center.core.ground_truth_index import (
    build_files,
    choose_records,
    read_index,
    row_problem,
)


def _row(name="osie/1001", split="test", **changes) -> dict:
    image_id = name
    row = {
        "image_id": image_id,
        "dataset": "osie",
        "source": "osie_eye",
        "modality": "eye",
        "split": split,
        "data_dir": "/data",
        "image_path": f"osie/{image_id.split('/')[1]}.jpg",
        "original_hw": [600, 800],
        "frame_hw": [480, 640],
        "frame_path": f"frames/{image_id.replace('/', '_')}.jpg",
        "center": [400.0, 300.0],
        "center_frame": [320.0, 240.0],
        "points": [[400.0, 300.0], [410, 290]],
        "points_frame": [[320.0, 240.0], [328.0, 232.0]],
        "observer_of_point": [0, 1],
        "fallback": None,
    }
    row.update(changes)
    return {k: v for k, v in row.items() if v is not ...}


def _build(folder: Path, rows) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    (folder / "index.jsonl").write_text("\n".join(lines) + "\n")
    return folder


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"center": ...}, "no 'center' field"),
        ({"frame_path": ..., "original_hw": ...}, "no 'frame_path', 'original_hw' fields"),
        ({"center": "middle"}, "field 'center' must be [a, b] (two finite numbers)"),
        ({"center": [1.0, float("nan")]}, "field 'center' must be [a, b]"),
        ({"center": [1.0, True]}, "field 'center' must be [a, b]"),
        ({"original_hw": [0, 800]}, "field 'original_hw' must be a positive [height, width]"),
        ({"image_id": 7}, "field 'image_id' must be a non-empty string"),
        ({"points": [[1, 2], [3]]}, "field 'points' must be a list of [x, y]"),
        ({"observer_of_point": [0, "a"]}, "field 'observer_of_point' must be a list of integers"),
    ],
)
def test_a_row_without_a_field_or_of_a_wrong_type_is_named_by_file_and_line(
    tmp_path, changes, words
):
    build = _build(tmp_path / "gt", [_row(), _row("osie/1002", **changes)])
    with pytest.raises(ValueError) as raised:
        read_index(build)
    message = str(raised.value)
    assert message.startswith(f"{build / 'index.jsonl'}:2: "), message
    assert words in message, message
    # Checked whatever the split asked for: the bad line is in split "test".
    with pytest.raises(ValueError, match=":2: "):
        read_index(build, split="train")


def test_other_failures_of_a_line(tmp_path):
    build = _build(tmp_path / "gt", [_row(), "[1, 2]"])
    with pytest.raises(ValueError, match=r"index.jsonl:2: not an index row \(a JSON list"):
        read_index(build)
    (build / "index.jsonl").write_bytes(json.dumps(_row()).encode() + b"\n\xff\xfe{}\n")
    with pytest.raises(ValueError, match="index.jsonl:2: not UTF-8 text"):
        read_index(build)


def test_good_rows_and_the_optional_fields(tmp_path):
    minimal = {k: v for k, v in _row().items() if k in ("image_id", "source", "split")}
    minimal |= {"data_dir": "/d", "image_path": "a.jpg", "frame_path": "f.jpg"}
    minimal |= {"original_hw": [600, 800], "center": [1, 2]}
    assert row_problem(minimal) is None
    assert row_problem(_row(fallback="no points")) is None
    assert row_problem(minimal, required=("center_frame",)) == (
        "not an index row: no 'center_frame' field"
    )
    build = _build(tmp_path / "gt", [_row(), _row("osie/1002", split="train")])
    rows = read_index(build, split="test")
    assert [r["image_id"] for r in rows] == ["osie/1001"]
    assert rows[0]["frame_abspath"] == str((build / "frames/osie_1001.jpg").resolve())


def test_build_files_are_the_index_the_frames_and_the_images(tmp_path):
    build = _build(tmp_path / "gt", [_row(data_dir=str(tmp_path / "data"))])
    assert build_files(build) == {
        (build / "index.jsonl").resolve(),
        (build / "frames" / "osie_1001.jpg").resolve(),
        (tmp_path / "data" / "osie" / "1001.jpg").resolve(),
    }


def test_a_negative_max_images_is_refused_not_sliced():
    rows = [_row(f"osie/{i}") for i in (1001, 1002, 1003)]
    assert len(choose_records(rows, "test", max_images=2)) == 2
    assert len(choose_records(rows, "test", max_images=None)) == 3
    with pytest.raises(ValueError, match="max_images must be >= 1"):
        choose_records(rows, "test", max_images=-1)  # [:-1] kept two of three, silently
