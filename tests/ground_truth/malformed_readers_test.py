"""Malformed entries in SALICON's JSON and hand-written generic CSVs.

SALICON: a copy of the real examples' JSON with a few annotations broken (three columns,
ragged, ``null``, strings, no ``image_id``) and one image entry without its size: each is
an error naming the file and the entry, only that observer (or annotation, or image) is
dropped, everything else is read exactly as from the real file. Generic CSV: spaces after
the commas and a UTF-8 byte-order mark (Excel's "CSV UTF-8") read as the plain file.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import FIXTURES

from ground_truth.build import build
from ground_truth.readers import read_generic, read_salicon
from ground_truth.records import RecordError

JSON_NAME = "fixations_train2014examples.json"


@pytest.fixture(scope="module")
def salicon_copy(tmp_path_factory, shared_data_dir):
    """``(data_dir, json_path, original JSON)``: the examples with a broken annotation file."""
    real = shared_data_dir / "salicon_examples"
    root = tmp_path_factory.mktemp("salicon") / "salicon_examples"
    (root / "annotations").mkdir(parents=True)
    (root / "images").symlink_to((real / "images").resolve())
    data = json.loads((real / "annotations" / JSON_NAME).read_text())
    original = json.loads(json.dumps(data))
    ann = data["annotations"]
    ann[0]["fixations"] = [p + [7] for p in ann[0]["fixations"]]  # [row, col, t]
    ann[1]["fixations"] = [[100, 200], [300]]  # ragged
    ann[2]["fixations"] = None
    ann[3]["fixations"] = [["242", "314"]]  # strings
    del ann[4]["image_id"]
    del data["images"][9]["width"]
    path = root / "annotations" / JSON_NAME
    path.write_text(json.dumps(data))
    return root.parent, path, original


def test_salicon_malformed_entries_are_named_and_only_they_are_dropped(salicon_copy):
    data_dir, path, original = salicon_copy
    result = read_salicon(data_dir)
    assert result.drops["observers_malformed"] == 4
    assert result.drops["annotations_malformed"] == 1
    assert result.drops["images_malformed"] == 1
    messages = "\n".join(result.errors)
    for k, what in [
        (0, "fixations[0] is list of 3 values"),
        (1, "fixations[1] is list of 1 values"),
        (2, "fixations is null or missing"),
        (3, "holds a value that is not a number"),
    ]:
        assert f"{path}: annotation {k} (image_id " in messages and what in messages
    assert f"{path}: annotation 4: no usable image_id" in messages
    assert f"{path}: image 9: lacks file_name/id/height/width" in messages
    # The other 9 images are read as from the real file; image 0 lost 4 observers
    # (annotation 4's image is known from the original only).
    reference = read_salicon(json_paths=[shared_json(original, path)])
    expected = {r.image_id: r for r in reference.records}
    assert len(result.records) == 9 and len(expected) == 10
    lost = {original["annotations"][k]["image_id"] for k in range(5)}
    first_image = next(i for i in original["images"] if i["id"] in lost)
    for record in result.records:
        ref = expected[record.image_id]
        if record.image_id.endswith(first_image["file_name"][:-4]):
            assert record.num_observers == ref.num_observers - 5
        else:
            assert record.num_observers == ref.num_observers
            for a, b in zip(record.observers, ref.observers):
                np.testing.assert_array_equal(a, b)


def shared_json(original, broken_path):
    """The unbroken JSON written beside the broken one (same images folder)."""
    path = broken_path.with_name("unbroken.json")
    path.write_text(json.dumps(original))
    return path


def test_salicon_build_goes_on_and_exits_with_errors(salicon_copy, tmp_path):
    data_dir, _, _ = salicon_copy
    report = build(["salicon_mouse"], data_dir, tmp_path / "out", progress=False)
    assert not report.ok and len(report.rows) == 9
    assert sum("observer dropped" in e for e in report.errors) == 4


# --- generic CSV: spaces after commas, byte-order mark ---------------------------------------

CSV_ROWS = [
    "image,observer,x,y,source,order",
    "1001.jpg,A,400,300,mouse,1",
    "1001.jpg,A,100,100,mouse,2",
    "1001.jpg,A,110,120,mouse,3",
    "1001.jpg,B,400,300,mouse,1",
    "1001.jpg,B,105,115,mouse,2",
]


def generic_folder(tmp_path, text: str, encoding="utf-8"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / "ground_truth" / "osie" / "data" / "stimuli" / "1001.jpg", tmp_path)
    path = tmp_path / "points.csv"
    path.write_text(text, encoding=encoding)
    return path


@pytest.mark.parametrize(
    "text, encoding",
    [
        ("\n".join(r.replace(",", ", ") for r in CSV_ROWS) + "\n", "utf-8"),  # spaces
        ("\n".join(r.replace(",", " , ") for r in CSV_ROWS) + "\n", "utf-8"),  # both sides
        ("\n".join(CSV_ROWS) + "\n", "utf-8-sig"),  # byte-order mark
        ("\r\n".join(r.replace(",", ", ") for r in CSV_ROWS) + "\r\n", "utf-8-sig"),
    ],
)
def test_generic_csv_with_spaces_or_a_bom_reads_as_the_plain_file(tmp_path, text, encoding):
    plain = read_generic(generic_folder(tmp_path / "plain", "\n".join(CSV_ROWS) + "\n"))
    got = read_generic(generic_folder(tmp_path / "other", text, encoding))
    (expected,), (record,) = plain.records, got.records
    assert record.image_id == expected.image_id == "custom/1001"
    assert record.observer_ids == expected.observer_ids == ["A", "B"]
    for a, b in zip(record.observers, expected.observers):
        np.testing.assert_array_equal(a, b)


def test_generic_jsonl_with_a_bom(tmp_path):
    rows = [
        {"image": "1001.jpg", "observer": "A", "x": 10 * i, "y": 5, "source": "mouse", "order": i}
        for i in range(1, 4)
    ]
    path = generic_folder(tmp_path, "", "utf-8").with_name("points.jsonl")
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8-sig")
    (record,) = read_generic(path).records
    np.testing.assert_array_equal(record.observers[0], [[10, 5], [20, 5], [30, 5]])


def test_generic_csv_header_naming_a_column_twice_is_an_error(tmp_path):
    text = "image, x ,observer,x,y,source,order\n1001.jpg,1,A,2,3,mouse,1\n"
    with pytest.raises(RecordError, match=r"points.csv: line 1: .*\['x'\] more than once"):
        read_generic(generic_folder(tmp_path, text))
