"""``attention-center ground-truth build`` on malformed sources (issue 17, case 7 and its kin).

Each malformed CSV / JSON-lines file (and a corrupt ``.mat``) is reported naming the file and
the problem; the good sources beside it are still built; no input changes; exit 1. A file
with no rows (empty ``.jsonl``, a CSV header alone) is an error like a 0-byte CSV, never
"0 records" and exit 0.
"""

from __future__ import annotations

import json

import pytest
from robustness.corpus import digests, write_corrupt_mat, write_records_corpus

from attention_center.cli import main as cli
from ground_truth.readers import read_generic
from ground_truth.records import RecordError


def run(*args) -> int:
    return cli.main(["attention-center", *map(str, args)])


@pytest.fixture()
def records(tmp_path):
    folder = tmp_path / "data"
    return folder, write_records_corpus(folder)


def test_the_generic_reader_names_each_malformed_file_and_its_problem(records):
    folder, cases = records
    for name, case in cases.items():
        if case.usable:
            result = read_generic(folder / name)
            [record] = result.records
            assert record.num_observers == 2 and record.image_path.endswith("stimulus.png")
            assert result.drops["points_nan"] == 1 and result.drops["points_outside"] == 1
        elif name in ("nan_only.jsonl", "missing_image.jsonl"):
            result = read_generic(folder / name)  # rows, but nothing usable: said by build
            assert not result.records
        else:
            with pytest.raises(RecordError, match=case.reason) as raised:
                read_generic(folder / name)
            assert str(raised.value).startswith(f"{folder / name}: ")


@pytest.mark.parametrize(
    "name", ["empty.jsonl", "header_only.csv", "blank.jsonl", "nan_only.jsonl"]
)
def test_a_source_without_records_fails_the_build(records, tmp_path, capsys, name):
    folder, cases = records
    out = tmp_path / "gt"
    assert (
        run(
            "ground-truth",
            "build",
            "--source",
            folder / name,
            "--data_dir",
            folder,
            "--out",
            out,
            "--noprogress",
        )
        == 1
    )
    err = capsys.readouterr()[1]
    assert f"ERROR: {folder / name}: " in err and cases[name].reason in err


def test_build_reports_every_bad_source_and_builds_the_good_ones(records, tmp_path, capsys):
    folder, cases = records
    write_corrupt_mat(folder)  # osie_eye, read from data_dir, is not a MATLAB file
    bad = [name for name, case in cases.items() if not case.usable]
    sources = ["good.jsonl", "osie_eye", *bad, "good.csv"]
    before = digests(folder)
    out = tmp_path / "gt"
    code = run(
        "ground-truth",
        "build",
        "--source",
        ",".join(str(folder / s) if "." in s else s for s in sources),
        "--data_dir",
        folder,
        "--out",
        out,
        "--noprogress",
    )
    printed, err = capsys.readouterr()
    assert code == 1
    for name in bad:  # each named, with its problem (a source may add a line per image)
        lines = [line for line in err.splitlines() if line.startswith(f"ERROR: {folder / name}: ")]
        assert any(cases[name].reason in line for line in lines), (name, lines)
    assert "ERROR: osie_eye: " in err and "fixations.mat: not a readable MATLAB file" in err
    rows = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert [r["source"] for r in rows] == ["corpus_eye", "custom_eye"]  # good.jsonl, good.csv
    assert all((out / r["frame_path"]).is_file() for r in rows)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["total_records"] == 2 and len(stats["errors"]) >= len(bad) + 1
    assert digests(folder) == before
