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

Licences: OSIE and Scene are MIT; the SALICON examples carry their Flickr licences;
BubbleView has no licence file: the authors ask to be cited (Kim et al., ACM TOCHI 2017).
The data are fetched for research, training and evaluation, never bundled in the package.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import os
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
    "FetchReport",
    "datasets_for_sources",
    "fetch",
    "manifest",
    "verify",
    "write_manifest",
]

CHUNK = 1 << 20
TIMEOUT_S = 60


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


@dataclasses.dataclass
class FetchReport:
    """What :func:`fetch` did for one dataset.

    Attributes:
      folder: the dataset's folder (``DATA/osie``).
      fetched: files downloaded now.
      present: files already in place with the right checksum (not downloaded).
      bytes_fetched: bytes downloaded now (resumed parts count what was added).
      errors: one :class:`DownloadError` per file that failed (the others are in place).
    """

    folder: Path
    fetched: int = 0
    present: int = 0
    bytes_fetched: int = 0
    errors: list = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


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
      KeyError: not a dataset of :data:`DATASETS`.
    """
    if folder not in DATASETS:
        raise KeyError(f"unknown dataset {folder!r}; known: {', '.join(DATASETS)}")
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


def _open(url: str, offset: int):
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
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # the part is already whole (or longer): start again
            return _open(url, 0)
        raise
    return response, offset > 0 and getattr(response, "status", 200) == 206


def _fetch_one(url: str, destination: Path, sha256: str) -> int:
    """Fetches ``url`` to ``destination`` (resuming ``destination.part``); returns bytes read.

    Raises:
      DownloadError: the URL could not be read, or the bytes do not match ``sha256`` (the
        part is removed, so the next run starts that file afresh).
    """
    part = destination.with_name(destination.name + ".part")
    destination.parent.mkdir(parents=True, exist_ok=True)
    offset = part.stat().st_size if part.is_file() else 0
    read = 0
    try:
        stream, resumed = _open(url, offset)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise DownloadError(destination, f"cannot fetch {url}: {error}") from error
    with stream, open(part, "ab" if resumed else "wb") as out:
        try:
            for block in iter(lambda: stream.read(CHUNK), b""):
                out.write(block)
                read += len(block)
        except (urllib.error.URLError, OSError) as error:  # the part stays: resumed next run
            raise DownloadError(destination, f"interrupted reading {url}: {error}") from error
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


def fetch(
    folder: str,
    data_dir: os.PathLike | str,
    *,
    base_url: Optional[str] = None,
    paths: Optional[Iterable[str]] = None,
    workers: int = 8,
    progress: Optional[Callable[[str], None]] = print,
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
      progress: called with one line now and then (``None``: silent).
    Returns:
      :class:`FetchReport`; ``report.errors`` names each file that failed (the others are in
      place, and a second call fetches only the failed ones).
    """
    dataset = DATASETS[folder]
    wanted = manifest(folder)
    if paths is not None:
        paths = list(paths)
        unknown = [p for p in paths if p not in wanted]
        if unknown:
            raise KeyError(f"not files of {folder}: {', '.join(unknown[:5])}")
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

    def one(path: str) -> int:
        upstream = path if base_url else dataset.upstream_path(path)
        return _fetch_one(_url(source, upstream), root / path, wanted[path])

    with concurrent.futures.ThreadPoolExecutor(max(1, int(workers))) as pool:
        futures = {pool.submit(one, path): path for path in todo}
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            try:
                report.bytes_fetched += future.result()
                report.fetched += 1
            except DownloadError as error:
                report.errors.append(error)
            if done % 200 == 0 or done == len(todo):
                say(f"{folder}: {done}/{len(todo)} fetched ({report.bytes_fetched / 1e6:.1f} MB)")
    for error in report.errors:
        say(f"ERROR: {error}")
    return report
