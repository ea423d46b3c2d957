"""The public eye-tracking and mouse datasets, fetched from their published repositories.

Each dataset (:data:`DATASETS`) is a folder of the data root laid out as the project keeps it
(``../shared/data``: ``osie/``, ``scene/``, ``salicon_examples/``, ``bubbleview/``; what the
``ground_truth`` readers read), made of files published in the authors' GitHub repositories:

========================  ==================================================  ==========
folder                    upstream repository                                 files
========================  ==================================================  ==========
``osie/``                 github.com/NUS-VIP/predicting-human-gaze-beyond-pixels   2103
``scene/``                github.com/Yanakz/Scene                                   505
``salicon_examples/``     github.com/NUS-VIP/salicon-api                             12
``bubbleview/``           github.com/cvzoya/bubbleview                              520
========================  ==================================================  ==========

How they are checked: per file. A GitHub branch archive is made on request and its bytes
(hence its checksum) are not published, so no archive checksum can be known in advance;
instead every file is fetched on its own (``raw.githubusercontent.com/<repo>/HEAD/<path>``)
and must match the SHA-256 of the project's copy, listed in ``manifests/<folder>.sha256``
(``sha256sum`` format, made by :func:`write_manifest` from ``../shared/data``; check a folder
by hand with ``cd DATA/osie && sha256sum -c .../manifests/osie.sha256``). A file that does not
match is refused (:class:`DownloadError` naming it) and never put in place.

How they are fetched (:func:`fetch`): with ``urllib`` only, each file into
``<file>.part`` beside its destination, resumed with an HTTP ``Range`` request after an
interruption, hashed, then renamed into place (atomic: a reader sees the whole file or none).
A file already in place with the right checksum is not fetched again, so a second run
downloads nothing. ``base_url`` replaces the upstream location by a mirror holding the same
layout as the data root's folder (``https://...`` or ``file:///...``: the tests use a
``file://`` copy of ``../shared/data``, never the network).

How long it can take when the network does not answer: each connection and each read may
stall ``timeout_s`` (:data:`TIMEOUT_S`); after ``give_up_after``
(:data:`GIVE_UP_AFTER`) files in a row failed for no answer (a timeout, a refused or
unresolvable host) or for a folder that cannot be written, with none fetched between them,
the files not started yet are not tried (each named in the report, with the reason), so a
stalled host ends the call within about twice ``timeout_s``; ``deadline_s`` bounds the whole
call the same way. Folders the call made and left empty are removed. By default
(``check=True``) :func:`fetch` raises :class:`FetchError` when any file is not in place, so
``python -c "...; download.fetch('osie', 'data')"`` exits non-zero; ``check=False`` returns
the report instead.

Licences: OSIE and Scene are MIT; the SALICON examples carry their Flickr licences;
BubbleView has no licence file: the authors ask to be cited (Kim et al., ACM TOCHI 2017).
The data are fetched for research, training and evaluation, never bundled in the package.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import Optional

from attention_center.core.errors import PathError

__all__ = [
    "DATASETS",
    "Dataset",
    "DownloadError",
    "FetchError",
    "FetchReport",
    "UnknownNameError",
    "datasets_for_sources",
    "fetch",
    "manifest",
    "verify",
    "write_manifest",
]

CHUNK = 1 << 20
#: Seconds a connection or one read may stall before the file fails.
TIMEOUT_S = 20
#: Files in a row that failed for no answer (or an unwritable folder) before the rest are
#: not tried (one wave of the default 8 parallel downloads).
GIVE_UP_AFTER = 8
#: At most this many failures are printed one by one (all are in the report).
_PRINTED_ERRORS = 20


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One dataset folder of the data root and where its files are published.

    Attributes:
      folder: the folder under the data root (``"osie"``).
      repository: ``owner/name`` on GitHub.
      title: what it is, for messages and the notebook.
      licence: its licence, in a few words.
      include: the top-level entries of the project's copy that are the dataset (the
        manifest lists the files under them; code and demos are left out).
      renames: ``{path in the folder: path in the repository}`` where they differ.
    """

    folder: str
    repository: str
    title: str
    licence: str
    include: tuple[str, ...]
    renames: tuple[tuple[str, str], ...] = ()

    @property
    def base_url(self) -> str:
        """Where the repository's files are served, one URL per path."""
        return f"https://raw.githubusercontent.com/{self.repository}/HEAD/"

    def upstream_path(self, path: str) -> str:
        """The file's path in the repository (``path``: relative to the folder)."""
        for local, upstream in self.renames:
            if path == local or path.startswith(local.rstrip("/") + "/"):
                return upstream + path[len(local) :]
        return path


_SALICON_R1 = ("123067", "123177", "123273", "123514", "123646")

DATASETS: dict[str, Dataset] = {
    d.folder: d
    for d in (
        Dataset(
            "osie",
            "NUS-VIP/predicting-human-gaze-beyond-pixels",
            "OSIE (Xu et al., JoV 2014): 700 images, eye tracking and mouse",
            "MIT",
            ("LICENSE", "README.md", "data"),
        ),
        Dataset(
            "scene",
            "Yanakz/Scene",
            "Scene (Liang et al. 2015): 500 outdoor scenes, eye tracking",
            "MIT",
            ("LICENSE", "README.md", "data"),
        ),
        Dataset(
            "salicon_examples",
            "NUS-VIP/salicon-api",
            "SALICON examples (Jiang et al., CVPR 2015): 10 COCO images, mouse",
            "the Flickr licences listed in the JSON",
            ("README.md", "annotations", "images"),
            renames=tuple(
                (
                    f"images/train2014examples/COCO_train2014_000000{n}.jpg",
                    f"images/train2015r1-examples/COCO_train2014_000000{n}.jpg",
                )
                for n in _SALICON_R1
            ),
        ),
        Dataset(
            "bubbleview",
            "cvzoya/bubbleview",
            "BubbleView (Kim et al., TOCHI 2017): web pages, charts, designs; clicks and eyes",
            "no licence file: cite Kim et al. 2017; research use, never redistribute",
            ("UPSTREAM_README.md", "*.mat", "targets_*", "gdi-official"),
            renames=(("UPSTREAM_README.md", "README.md"),),
        ),
    )
}

#: Ground-truth sources (``ground_truth.readers.SOURCES``) -> the dataset folder they read.
_SOURCE_FOLDERS = {
    "osie_eye": "osie",
    "osie_mouse_lab": "osie",
    "osie_mouse_amt": "osie",
    "scene_eye": "scene",
    "salicon_mouse": "salicon_examples",
}
_BUBBLEVIEW_PREFIXES = ("fiwi_", "bv_", "massvis_", "gdi_")


class DownloadError(PathError):
    """A dataset file could not be fetched or does not match its checksum.

    Attributes:
      path: the file (its destination in the data folder).
      reason: one line: what went wrong (with the URL).
    """


class _NoAnswer(DownloadError):
    """The host did not answer (a timeout, a refused or unresolvable host): counts towards
    giving up."""


class _CannotWrite(DownloadError):
    """The destination folder cannot be written: counts towards giving up."""


class _NotTried(DownloadError):
    """Not started: :func:`fetch` gave up (see :attr:`FetchReport.gave_up`)."""


class UnknownNameError(KeyError, ValueError):
    """An unknown dataset or file name; the message lists the known ones.

    Both a ``KeyError`` (what :func:`manifest` raised before) and a ``ValueError``.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclasses.dataclass
class FetchReport:
    """What :func:`fetch` did for one dataset.

    Attributes:
      folder: the dataset's folder (``DATA/osie``).
      fetched: files downloaded now.
      present: files already in place with the right checksum (not downloaded).
      bytes_fetched: bytes downloaded now (resumed parts count what was added).
      errors: one :class:`DownloadError` per file that is not in place: each that failed,
        and each not tried after :func:`fetch` gave up (the others are in place).
      not_tried: how many of ``errors`` were not tried.
      gave_up: why the rest was not tried (``None``: every file was tried).
    """

    folder: Path
    fetched: int = 0
    present: int = 0
    bytes_fetched: int = 0
    errors: list = dataclasses.field(default_factory=list)
    not_tried: int = 0
    gave_up: Optional[str] = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def failed(self) -> int:
        """Files tried that failed (``len(errors) - not_tried``)."""
        return len(self.errors) - self.not_tried

    def summary(self, name: Optional[str] = None) -> str:
        """One line: ``"DATA/osie: 3 fetched, 2 failed, 2098 not tried (1.2 MB)"`` (``name``
        instead of the folder when given)."""
        parts = [f"{self.fetched} fetched", f"{self.failed} failed"]
        if self.not_tried:
            parts.append(f"{self.not_tried} not tried")
        if self.present:
            parts.append(f"{self.present} already in place")
        return f"{name or self.folder}: {', '.join(parts)} ({self.bytes_fetched / 1e6:.1f} MB)"


class FetchError(DownloadError):
    """:func:`fetch` (``check=True``) could not put every file in place.

    Attributes:
      path: the dataset's folder.
      reason: how many files are missing, why (the first error, and why the rest was not
        tried when it gave up), and that a second call resumes.
      report: the :class:`FetchReport`.
    """

    def __init__(self, report: FetchReport):
        self.report = report
        missing = len(report.errors)
        total = report.fetched + report.present + missing
        reason = f"{missing} of {total} files not in place ({report.fetched} fetched now"
        reason += f", {report.failed} failed"
        if report.not_tried:
            reason += f", {report.not_tried} not tried: {report.gave_up}"
        first = next((e for e in report.errors if not isinstance(e, _NotTried)), None)
        if first is not None:
            reason += f"; first: {first}"
        super().__init__(report.folder, reason + "); run it again to resume")


def datasets_for_sources(sources: Iterable[str]) -> list[str]:
    """The dataset folders that ground-truth sources read, in first-use order.

    Generic ``.csv``/``.jsonl`` sources (the user's own files) need none.
    """
    folders: list[str] = []
    for source in sources:
        source = str(source).strip()
        folder = _SOURCE_FOLDERS.get(source)
        if folder is None and source.startswith(_BUBBLEVIEW_PREFIXES):
            folder = "bubbleview"
        if folder and folder not in folders:
            folders.append(folder)
    return folders


def _manifest_text(folder: str) -> str:
    return (
        resources.files("attention_center.data")
        .joinpath("manifests", f"{folder}.sha256")
        .read_text(encoding="utf-8")
    )


def manifest(folder: str) -> dict[str, str]:
    """``{path relative to the folder: sha256 hex}`` of a dataset's files.

    Raises:
      UnknownNameError: (a ``KeyError`` and a ``ValueError``) not a dataset of
        :data:`DATASETS`; the message lists them.
    """
    if folder not in DATASETS:
        raise UnknownNameError(f"unknown dataset {folder!r}; known: {', '.join(DATASETS)}")
    entries = {}
    for line in _manifest_text(folder).splitlines():
        if line.strip():
            digest, path = line.split(None, 1)
            entries[path.strip().lstrip("*")] = digest.lower()
    return entries


def file_sha256(path: os.PathLike | str) -> str:
    """SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: str, data_dir: os.PathLike | str, out: os.PathLike | str) -> int:
    """Writes ``out`` (``sha256sum`` format) for the dataset's files in ``data_dir/folder``.

    The files are those under the dataset's :attr:`Dataset.include` entries, sorted by path.
    Returns the number of files listed.
    """
    from attention_center.core.atomic import atomic_write_text

    root = Path(data_dir) / folder
    paths = set()
    for pattern in DATASETS[folder].include:
        for entry in root.glob(pattern):
            found = [entry] if entry.is_file() else [p for p in entry.rglob("*") if p.is_file()]
            paths.update(p.relative_to(root).as_posix() for p in found)
    lines = [f"{file_sha256(root / p)}  {p}\n" for p in sorted(paths)]
    atomic_write_text(out, "".join(lines))
    return len(lines)


def _url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + urllib.parse.quote(path)


def _open(url: str, offset: int, timeout_s: float = TIMEOUT_S):
    """``(stream, resumed)``: the file from ``offset`` on (``resumed``) or from its start."""
    if url.startswith("file:"):
        local = urllib.request.url2pathname(urllib.parse.urlparse(url).path)
        handle = open(local, "rb")
        handle.seek(offset)
        return handle, True
    request = urllib.request.Request(url, headers={"User-Agent": "attention-center"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # the part is already whole (or longer): start again
            return _open(url, 0, timeout_s)
        raise
    return response, offset > 0 and getattr(response, "status", 200) == 206


def _why(error: BaseException) -> str:
    """An error's reason in a few words (``timed out``, not ``<urlopen error timed out>``)."""
    if isinstance(error, urllib.error.HTTPError):
        return str(error)
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _fetch_one(url: str, destination: Path, sha256: str, timeout_s: float = TIMEOUT_S) -> int:
    """Fetches ``url`` to ``destination`` (resuming ``destination.part``); returns bytes read.

    Raises:
      DownloadError: the URL could not be read (:class:`_NoAnswer` when the host did not
        answer), its folder cannot be written (:class:`_CannotWrite`), or the bytes do not
        match ``sha256`` (the part is removed, so the next run starts that file afresh).
    """
    part = destination.with_name(destination.name + ".part")
    no_answer = DownloadError if url.startswith("file:") else _NoAnswer
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        offset = part.stat().st_size if part.is_file() else 0
    except OSError as error:
        raise _CannotWrite(
            destination, f"cannot write into {destination.parent}: {_why(error)}"
        ) from error
    read = 0
    try:
        stream, resumed = _open(url, offset, timeout_s)
    except urllib.error.HTTPError as error:  # the host answered: this file only
        raise DownloadError(destination, f"cannot fetch {url}: {error}") from error
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise no_answer(destination, f"cannot fetch {url}: {_why(error)}") from error
    with stream:
        try:
            out = open(part, "ab" if resumed else "wb")
        except OSError as error:
            raise _CannotWrite(destination, f"cannot write {part}: {_why(error)}") from error
        with out:
            while True:
                try:
                    block = stream.read(CHUNK)
                except (urllib.error.URLError, OSError) as error:  # the part stays: resumed
                    raise no_answer(
                        destination, f"interrupted reading {url}: {_why(error)}"
                    ) from error
                if not block:
                    break
                try:
                    out.write(block)
                except OSError as error:
                    raise _CannotWrite(
                        destination, f"cannot write {part}: {_why(error)}"
                    ) from error
                read += len(block)
    actual = file_sha256(part)
    if actual != sha256:
        part.unlink()
        raise DownloadError(
            destination,
            f"checksum mismatch: sha256 {actual}, expected {sha256} (from {url}); not kept",
        )
    os.replace(part, destination)
    return read


def _in_place(path: Path, sha256: str) -> bool:
    return path.is_file() and file_sha256(path) == sha256


def verify(
    folder: str, data_dir: os.PathLike | str, paths: Optional[Iterable[str]] = None
) -> list[DownloadError]:
    """The dataset's files under ``data_dir/folder`` that are missing or do not match.

    Args:
      paths: only these files of the manifest (default: all).
    """
    root = Path(data_dir) / folder
    listed = manifest(folder)
    problems = []
    for path in listed if paths is None else paths:
        sha256 = listed[path]
        target = root / path
        if not target.is_file():
            problems.append(DownloadError(target, "missing"))
        elif file_sha256(target) != sha256:
            problems.append(DownloadError(target, f"checksum mismatch (expected sha256 {sha256})"))
    return problems


class _GiveUp:
    """When :func:`fetch` stops starting files: ``limit`` failures in a row with no answer
    (or no way to write), or past the deadline. Shared by the download threads."""

    def __init__(self, limit: int, deadline_s: Optional[float]):
        self.limit = max(1, int(limit))
        self.deadline = None if deadline_s is None else time.monotonic() + float(deadline_s)
        self.deadline_s = deadline_s
        self.in_a_row = 0
        self.reason: Optional[str] = None
        self._lock = threading.Lock()

    def check(self) -> None:
        """Raises :class:`_NotTried` (without a path: see :func:`fetch`) once given up."""
        with self._lock:
            if self.reason is None and self.deadline is not None:
                if time.monotonic() > self.deadline:
                    self.reason = f"the deadline of {self.deadline_s:g} s passed"
            if self.reason is not None:
                raise _NotTried("", self.reason)

    def done(self, error: Optional[BaseException]) -> None:
        with self._lock:
            if isinstance(error, (_NoAnswer, _CannotWrite)):
                self.in_a_row += 1
                if self.in_a_row >= self.limit and self.reason is None:
                    self.reason = (
                        f"gave up after {self.in_a_row} files in a row failed with no file "
                        f"fetched between them (last: {error.reason})"
                    )
            elif error is None or isinstance(error, DownloadError):
                self.in_a_row = 0  # fetched, or the host answered (a 404, a bad checksum)

    def cancel(self, reason: str) -> None:
        with self._lock:
            self.reason = self.reason or reason


def _missing_folders(paths: Iterable[Path]) -> list[Path]:
    """The folders of ``paths`` (and their ancestors) that do not exist, deepest first."""
    missing = set()
    for folder in paths:
        while folder not in missing and folder != folder.parent and not os.path.lexists(folder):
            missing.add(folder)
            folder = folder.parent
    return sorted(missing, key=lambda p: len(p.parts), reverse=True)


def fetch(
    folder: str,
    data_dir: os.PathLike | str,
    *,
    base_url: Optional[str] = None,
    paths: Optional[Iterable[str]] = None,
    workers: int = 8,
    progress: Optional[Callable[[str], None]] = print,
    check: bool = True,
    timeout_s: float = TIMEOUT_S,
    give_up_after: int = GIVE_UP_AFTER,
    deadline_s: Optional[float] = None,
) -> FetchReport:
    """Puts a dataset's files in ``data_dir/folder``, checked; fetches only what is missing.

    Args:
      folder: a dataset of :data:`DATASETS` (``"osie"``, ``"scene"``, ...).
      data_dir: the data root (the dataset lands in ``data_dir/folder``); e.g. a folder on a
        mounted Google Drive, so that the next session finds it there.
      base_url: a mirror of the dataset's folder (``file:///...`` or ``https://...``, the
        same relative paths) instead of the upstream repository (:attr:`Dataset.base_url`,
        where :attr:`Dataset.renames` apply).
      paths: only these files of the manifest (default: all).
      workers: parallel downloads.
      progress: called with one line now and then (``None``: silent); the last one counts
        the files fetched, failed and not tried.
      check: raise :class:`FetchError` when any file is not in place (after the progress
        lines); ``False``: return the report either way.
      timeout_s: seconds a connection or one read may stall before that file fails.
      give_up_after: after this many files in a row failed with no answer from the host
        (or an unwritable folder), none fetched between them, the files not started yet
        are not tried.
      deadline_s: no file is started after this many seconds (``None``: no deadline).
    Returns:
      :class:`FetchReport`; ``report.errors`` names each file that is not in place (the
      others are, and a second call fetches only those).
    Raises:
      UnknownNameError: ``folder`` is not a dataset of :data:`DATASETS`, or ``paths`` names
        a file that is not one of its files (the message lists what is known).
      FetchError: with ``check``, a file is not in place (``error.report`` has them all).
    """
    wanted = manifest(folder)  # an unknown name: UnknownNameError listing the known ones
    dataset = DATASETS[folder]
    if paths is not None:
        paths = list(paths)
        unknown = [p for p in paths if p not in wanted]
        if unknown:
            raise UnknownNameError(f"not files of {folder}: {', '.join(unknown[:5])}")
        wanted = {p: wanted[p] for p in paths}
    root = Path(data_dir) / folder
    report = FetchReport(folder=root)
    todo = []
    for path, sha256 in wanted.items():
        if _in_place(root / path, sha256):
            report.present += 1
        else:
            todo.append(path)
    say = progress or (lambda line: None)
    source = base_url or dataset.base_url
    say(
        f"{folder}: {report.present} of {len(wanted)} files in place, fetching {len(todo)} "
        f"from {source}"
        if todo
        else f"{folder}: all {len(wanted)} files in place and checked ({root})"
    )
    if not todo:
        return report
    created = _missing_folders((root / path).parent for path in todo)
    stop = _GiveUp(give_up_after, deadline_s)

    def one(path: str) -> int:
        stop.check()
        upstream = path if base_url else dataset.upstream_path(path)
        error = None
        try:
            return _fetch_one(_url(source, upstream), root / path, wanted[path], timeout_s)
        except DownloadError as failed:
            error = failed
            raise
        finally:
            stop.done(error)

    pool = concurrent.futures.ThreadPoolExecutor(max(1, int(workers)))
    try:
        futures = {pool.submit(one, path): path for path in todo}
        shown = time.monotonic()
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            path = futures[future]
            try:
                report.bytes_fetched += future.result()
                report.fetched += 1
            except _NotTried as error:
                report.errors.append(_NotTried(root / path, f"not tried: {error.reason}"))
                report.not_tried += 1
            except DownloadError as error:
                report.errors.append(error)
            busy = done < len(todo) and stop.reason is None
            if busy and (done % 200 == 0 or time.monotonic() - shown > 30):
                shown = time.monotonic()
                say(
                    f"{folder}: {done}/{len(todo)} done: {report.fetched} fetched, "
                    f"{report.failed} failed ({report.bytes_fetched / 1e6:.1f} MB)"
                )
    except BaseException:  # Ctrl-C: start nothing more (the running ones end by timeout_s)
        stop.cancel("interrupted")
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        for made in created:  # what this call made and left empty
            with contextlib.suppress(OSError):
                made.rmdir()
    report.gave_up = stop.reason if report.not_tried else None
    say(report.summary(folder))
    failed = [e for e in report.errors if not isinstance(e, _NotTried)]
    for error in failed[:_PRINTED_ERRORS]:
        say(f"ERROR: {error}")
    if len(failed) > _PRINTED_ERRORS:
        say(f"ERROR: ... and {len(failed) - _PRINTED_ERRORS} more (report.errors names each)")
    if report.not_tried:
        say(
            f"ERROR: {folder}: {report.not_tried} files not tried: {report.gave_up}; "
            "run it again to resume"
        )
    if check and report.errors:
        raise FetchError(report)
    return report
