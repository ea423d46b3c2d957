"""``attention_center.data.download`` offline: a ``file://`` mirror of ``../shared/data``.

The same code that fetches the public datasets from their GitHub repositories (one URL per
file) fetches here from a copy of a few real OSIE files in a temporary folder, served as
``file://``: every file is checked against the shipped manifest (the SHA-256 of the
project's copy), a corrupted file is refused and named, an interrupted file is resumed, and
a second run fetches nothing. Never the network. The manifests themselves are checked
against ``../shared/data``, every file of every dataset.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from attention_center.data import download

#: A small real subset: OSIE's eye fixations, three stimuli, one mouse file, the licence.
SUBSET = (
    "LICENSE",
    "data/eye/fixations.mat",
    "data/stimuli/1001.jpg",
    "data/stimuli/1002.jpg",
    "data/stimuli/1003.jpg",
    "data/mouse_lab/1001.mat",
)


@pytest.fixture()
def mirror(shared_data_dir, tmp_path) -> Path:
    """A copy of the subset in the layout of ``../shared/data/osie`` (the mirror's folder)."""
    folder = tmp_path / "mirror" / "osie"
    for path in SUBSET:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_data_dir / "osie" / path, folder / path)
    return folder


def _fetch(mirror: Path, data_dir: Path, paths=SUBSET, **kwargs) -> download.FetchReport:
    kwargs.setdefault("check", False)  # the report, failed files and all
    return download.fetch(
        "osie", data_dir, base_url=mirror.as_uri(), paths=paths, progress=None, **kwargs
    )


def test_fetches_checks_and_puts_each_file_in_place(mirror, shared_data_dir, tmp_path):
    data = tmp_path / "data"
    report = _fetch(mirror, data)
    assert report.ok, report.errors
    assert (report.fetched, report.present) == (len(SUBSET), 0)
    assert report.folder == data / "osie"
    for path in SUBSET:
        assert (data / "osie" / path).read_bytes() == (shared_data_dir / "osie" / path).read_bytes()
    assert report.bytes_fetched == sum((mirror / p).stat().st_size for p in SUBSET)
    assert not list(data.rglob("*.part"))
    assert download.verify("osie", data, paths=SUBSET) == []


def test_a_second_run_fetches_nothing(mirror, tmp_path):
    data = tmp_path / "data"
    assert _fetch(mirror, data).fetched == len(SUBSET)
    shutil.rmtree(mirror)  # nothing left to fetch from: a second run must not need it
    again = _fetch(mirror, data)
    assert again.ok and (again.fetched, again.present, again.bytes_fetched) == (0, len(SUBSET), 0)


def test_a_corrupted_file_is_refused_and_named(mirror, tmp_path):
    data = tmp_path / "data"
    bad = mirror / "data" / "stimuli" / "1002.jpg"
    content = bytearray(bad.read_bytes())
    content[len(content) // 2] ^= 0xFF  # one byte changed
    bad.write_bytes(bytes(content))
    report = _fetch(mirror, data)
    assert report.fetched == len(SUBSET) - 1
    [error] = report.errors
    assert isinstance(error, download.DownloadError)
    assert error.path == str(data / "osie" / "data" / "stimuli" / "1002.jpg")
    assert "checksum mismatch" in str(error) and bad.as_uri() in str(error)
    assert not (data / "osie" / "data" / "stimuli" / "1002.jpg").exists()  # never in place
    assert not list(data.rglob("*.part"))  # the next run starts it afresh
    problems = download.verify("osie", data, paths=SUBSET)
    assert [p.path for p in problems] == [error.path] and "missing" in str(problems[0])


def test_a_file_missing_from_the_source_is_named(mirror, tmp_path):
    (mirror / "data" / "stimuli" / "1003.jpg").unlink()
    report = _fetch(mirror, tmp_path / "data")
    [error] = report.errors
    assert error.path.endswith("osie/data/stimuli/1003.jpg") and "cannot fetch" in str(error)


def test_an_interrupted_file_is_resumed_from_its_part(mirror, shared_data_dir, tmp_path):
    data = tmp_path / "data"
    whole = (shared_data_dir / "osie" / "data" / "eye" / "fixations.mat").read_bytes()
    part = data / "osie" / "data" / "eye" / "fixations.mat.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(whole[: len(whole) // 3])  # what an interrupted run left
    report = _fetch(mirror, data, paths=["data/eye/fixations.mat"])
    assert report.ok and report.fetched == 1
    assert report.bytes_fetched == len(whole) - len(whole) // 3  # only the rest was read
    assert (data / "osie" / "data" / "eye" / "fixations.mat").read_bytes() == whole
    assert not part.exists()


def test_a_wrong_part_is_caught_by_the_checksum_and_dropped(mirror, tmp_path):
    data = tmp_path / "data"
    part = data / "osie" / "LICENSE.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"not the start of the licence")
    first = _fetch(mirror, data, paths=["LICENSE"])
    assert not first.ok and "checksum mismatch" in str(first.errors[0]) and not part.exists()
    second = _fetch(mirror, data, paths=["LICENSE"])  # starts afresh
    assert second.ok and second.fetched == 1


def test_the_manifests_are_the_shared_data(shared_data_dir):
    """Every listed file of every dataset is in ../shared/data with that SHA-256."""
    for folder in download.DATASETS:
        listed = download.manifest(folder)
        assert len(listed) > 10, folder
        assert download.verify(folder, shared_data_dir) == [], folder


def test_every_ground_truth_source_reads_one_dataset():
    from ground_truth.readers import SOURCES

    for source in SOURCES:
        assert len(download.datasets_for_sources([source])) == 1, source
    assert download.datasets_for_sources(["osie_eye", "osie_mouse_lab", "my.csv"]) == ["osie"]
    assert download.datasets_for_sources(["scene_eye", "fiwi_eye", "bv_osie_eye"]) == [
        "scene",
        "bubbleview",
    ]
    salicon = download.DATASETS["salicon_examples"]
    assert (
        salicon.upstream_path("images/train2014examples/COCO_train2014_000000123067.jpg")
        == "images/train2015r1-examples/COCO_train2014_000000123067.jpg"
    )
    assert download.DATASETS["bubbleview"].upstream_path("UPSTREAM_README.md") == "README.md"
    assert download.DATASETS["osie"].base_url == (
        "https://raw.githubusercontent.com/NUS-VIP/predicting-human-gaze-beyond-pixels/HEAD/"
    )


@pytest.mark.parametrize(
    "source,folder",
    [
        ("osie_eye", "osie/data/eye/fixations.mat"),
        ("scene_eye", "scene/data/tidy/fixations.mat"),
        ("fiwi_eye", "bubbleview/fiwi_eyetrack.mat"),
        ("salicon_mouse", "salicon_examples"),
    ],
)
def test_a_missing_dataset_is_reported_by_its_folder(source, folder, tmp_path):
    """An empty data root: the error names ``<root>/<dataset folder>/...``, not
    ``<root>/data/eye/fixations.mat``."""
    from ground_truth.readers import read_source
    from ground_truth.records import RecordError

    with pytest.raises(RecordError) as error:
        read_source(source, tmp_path)
    assert str(error.value).startswith(f"{tmp_path / folder}: "), str(error.value)


# --- when files fail: a bounded time, a truthful count, an error, nothing left behind ---------


@pytest.fixture()
def silent_host():
    """``http://127.0.0.1:PORT/``: a socket that takes connections and never answers (a
    stalled proxy or a black-holed route behaves the same)."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)  # the kernel completes the handshakes; nothing ever reads or writes
    yield f"http://127.0.0.1:{server.getsockname()[1]}/"
    server.close()


def test_a_host_that_never_answers_fails_within_seconds_and_is_counted(silent_host, tmp_path):
    """Every file waited 60 s, 8 at a time: 4.4 h for osie's 2103 files, and the last
    progress line said "12/12 fetched" when none was. Now each connection or read waits
    timeout_s, after 8 files in a row with no answer the rest are not tried, the last line
    counts fetched, failed and not tried, and no folder is left behind."""
    import time

    lines = []
    start = time.monotonic()
    report = download.fetch(
        "osie", tmp_path, base_url=silent_host, timeout_s=0.5, check=False, progress=lines.append
    )
    elapsed = time.monotonic() - start
    assert elapsed < 10, elapsed  # about 2 x timeout_s
    total = len(download.manifest("osie"))
    assert report.fetched == 0 and len(report.errors) == total
    assert 8 <= report.failed <= 16 and report.not_tried == total - report.failed
    assert "in a row" in report.gave_up and "timed out" in report.gave_up
    assert all("timed out" in str(e) for e in report.errors if "not tried" not in str(e))
    summary = [line for line in lines if line.startswith("osie: 0 fetched")]
    assert summary == [
        f"osie: 0 fetched, {report.failed} failed, {report.not_tried} not tried (0.0 MB)"
    ]
    assert not any("fetched (" in line for line in lines)
    assert list(tmp_path.iterdir()) == []  # no empty osie/data/... folders


def test_files_not_in_place_raise_fetch_error_by_default(mirror, tmp_path):
    """``fetch`` returned a report and never raised, so the README's one-line command exited
    0 with every file failed. Now it raises ``FetchError`` (the folder, the count, the first
    error); the files that came are kept, and ``check=False`` gives the report."""
    (mirror / "data" / "stimuli" / "1003.jpg").unlink()
    data = tmp_path / "data"
    with pytest.raises(download.FetchError) as error:
        download.fetch("osie", data, base_url=mirror.as_uri(), paths=SUBSET, progress=None)
    message = str(error.value)
    assert message.startswith(f"{data / 'osie'}: 1 of {len(SUBSET)} files not in place"), message
    assert "1003.jpg" in message and "run it again" in message
    assert error.value.report.fetched == len(SUBSET) - 1
    assert (data / "osie" / "data" / "stimuli" / "1002.jpg").is_file()


def test_the_documented_one_liner_exits_non_zero_and_leaves_no_folder(tmp_path):
    import subprocess
    import sys

    code = (
        "from attention_center.data import download; "
        "download.fetch('salicon_examples', 'data', base_url='http://127.0.0.1:1/')"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert run.returncode != 0, run.stdout + run.stderr
    assert "FetchError: data/salicon_examples: 12 of 12 files not in place" in run.stderr
    assert re.search(r"^salicon_examples: 0 fetched, \d+ failed", run.stdout, re.M), run.stdout
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_dataset_is_a_value_error_listing_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'; known: osie, scene"):
        download.fetch("imagenet", tmp_path)
    with pytest.raises(KeyError):  # what manifest() raised before: still caught as KeyError
        download.manifest("imagenet")


def test_a_data_folder_that_cannot_be_written_is_reported_not_a_traceback(tmp_path):
    """``mkdir`` ran outside the error handling: a raw traceback from a worker thread."""
    not_a_folder = tmp_path / "afile"
    not_a_folder.write_text("x")
    report = download.fetch(
        "salicon_examples", not_a_folder, base_url="http://127.0.0.1:1/", check=False, progress=None
    )
    assert report.fetched == 0 and len(report.errors) == 12
    assert all(isinstance(e, download.DownloadError) for e in report.errors)
    assert "cannot write into" in str(report.errors[0]) and str(not_a_folder) in str(
        report.errors[0]
    )


def test_a_read_only_data_folder_is_reported(tmp_path):
    """A data folder fetch may not write into: each file's error says so (no worker thread's
    traceback). Run in a subprocess where file permissions apply (as root: without
    CAP_DAC_OVERRIDE), so the package's own manifests stay readable in any checkout."""
    import json
    import subprocess
    import sys

    from conftest import REPO, where_permissions_apply

    folder = tmp_path / "data"
    folder.mkdir()
    folder.chmod(0o555)
    code = (
        "import json, sys\n"
        "from attention_center.data import download\n"
        "r = download.fetch('salicon_examples', sys.argv[1], base_url='http://127.0.0.1:1/',\n"
        "                   check=False, progress=None)\n"
        "print(json.dumps({'fetched': r.fetched, 'errors': [str(e) for e in r.errors]}))\n"
    )
    try:
        proc = subprocess.run(
            where_permissions_apply([sys.executable, "-c", code, str(folder)]),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        assert report["fetched"] == 0 and len(report["errors"]) == 12
        assert "Permission denied" in report["errors"][0], report["errors"][0]
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)
