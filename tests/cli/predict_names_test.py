"""``predict`` output for file names that are not valid UTF-8 (real model, Pillow images).

Python holds such a name's bad byte as a lone surrogate (``"bad\\udcff.png"``); written as
is, the JSON held ``"\\udcff"``, which strict parsers reject, and the CSV a character no
UTF-8 stream can carry. The byte is now written ``\\xff``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

from conftest import REPO
from PIL import Image
from robustness.corpus import synthetic_photo

from attention_center.cli.predict import format_rows, printable_path


def test_a_non_utf8_name_is_printed_as_valid_utf8_in_json_and_csv(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    bad = os.fsdecode(os.fsencode(folder) + b"/bad\xff.png")
    Image.fromarray(synthetic_photo()).save(bad, format="PNG")
    Image.fromarray(synthetic_photo()).save(folder / "fine é.png")
    for fmt in ("json", "csv"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "attention_center",
                "predict",
                str(folder),
                "--model",
                "default",
                "--noprogress",
                "--format",
                fmt,
            ],
            cwd=REPO,
            capture_output=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        text = done.stdout.decode("utf-8")  # strict: no lone surrogate, no stray byte
        if fmt == "json":
            rows = json.loads(text)
            for row in rows:
                row["path"].encode("utf-8")  # strict: a "\udcff" escape would fail here
        else:
            rows = list(csv.DictReader(io.StringIO(text)))
        paths = sorted(row["path"] for row in rows)
        assert paths == [f"{folder}/bad\\xff.png", f"{folder}/fine é.png"], fmt
        assert all(row["error"] in (None, "") for row in rows), fmt


def test_printable_path_keeps_valid_names_and_escapes_only_bad_bytes():
    assert printable_path("/a/fine é.png") == "/a/fine é.png"
    name = os.fsdecode(b"/a/\xc3\xa9-\xff.png")  # a good "é" and a bad byte
    assert printable_path(name) == "/a/é-\\xff.png"
    text = format_rows(
        [{"path": name, "center": [1, 2], "original_hw": [3, 4], "error": None}], "json"
    )
    assert json.loads(text)[0]["path"] == "/a/é-\\xff.png"
    assert "\\udcff" not in text
