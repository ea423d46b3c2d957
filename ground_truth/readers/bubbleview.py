"""Readers for the BubbleView data (Kim et al., ACM TOCHI 24(5), 2017): eye, mouse and clicks.

Every file ``../shared/data/bubbleview/*.mat`` holds one variable ``bubble``: one
struct per image with ``filename``, ``impath`` (the image, relative to
``bubbleview/``) and ``userdata`` (one struct per observer) whose
``fixations.enc`` is an ``[n, 2]`` array of points in viewing order and
``fixations.enc_time`` ``n`` strings. :data:`FILES` says, per file, what the
numbers mean; ``docs/ground_truth.md`` ("BubbleView") has the evidence.

Source names: ``<set>_<modality>[_<settings>]``. ``<set>`` is ``fiwi``,
``massvis``, ``gdi`` (sets only BubbleView has) or ``bv_osie``,
``bv_salicon`` (BubbleView's subsets of OSIE and SALICON, prefixed so that
they never clash with ``osie_eye`` / ``salicon_mouse``); ``<modality>`` is
``eye``, ``mouse`` or ``click``; ``<settings>`` is the upstream file's own
suffix, lowercased (``fiwi10x30.mat`` -> ``fiwi_click_10x30``: for FiWI it is
*viewing seconds* x bubble radius, ``D`` = description task; for the others
*blur sigma* x bubble radius; ``mm30`` = BubbleView with mouse *movements*,
radius 30), so that each source is one file and :class:`BubbleFile` spells
the settings out. The ground-truth files of a set carry no suffix
(``fiwi_eye``, ``bv_osie_eye``, ``bv_osie_mouse_lab``, ``bv_salicon_mouse``).

Conventions: points are ``(x, y)``, x first (checked against the image
sizes: read the other way round 1,218 - 72,287 points per file, 9.5 - 33 %,
would fall outside their image; read x first 43 of 2,267,892 in all, at most
22 per file), 0-based pixel centres of the
image as displayed (``impath``); sizes ``(h, w)``. The coordinate origin
differs by file (:attr:`BubbleFile.origin`). Image ids are
``"<dataset>/<stem>"`` and are shared with the other sources of the same
picture: ``targets_osie/`` holds OSIE's stimuli downscaled to 640x480, so its
images are ``osie/<stem>`` as in :mod:`ground_truth.readers.osie`;
``targets_massvis30/`` holds 30 of ``targets_massvis/``'s charts, rescaled (27 enlarged, 3
reduced), so both are ``massvis/<stem>``.

Quirks handled (and counted, never silently): an observer stored as a single
struct rather than an array (``userdata`` of one), an empty ``userdata`` or
``fixations`` cell (an observer with no point: ``observers_empty``), a single
point stored as a flat ``[2]`` array with a scalar ``enc_time`` (1 observer in
``osie-eye-official.mat``, 5 in ``salicon_gt.mat``), ``enc_time`` longer than
``enc`` (MASSVIS clicks; the times are not used for clicks), points outside
the image (``points_outside``), an ``enc`` that is not ``[n, 2]`` or eye times
that do not fit (``observers_malformed``, with the file, image and observer
named in ``errors``), a ``userdata`` that is not a struct array
(``images_malformed``), an ``impath`` whose file name differs from ``filename``
(``images_name_mismatch``), a missing image (``images_missing``).
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Optional

import numpy as np

from ground_truth.readers.common import (
    ReadResult,
    displayed_hw,
    field,
    finish,
    load_mat,
    make_record,
)
from ground_truth.readers.matfile import MatUnsupported, read_variable
from ground_truth.records import RecordError

__all__ = [
    "BubbleFile",
    "FILES",
    "FILES_BY_SOURCE",
    "SOURCE_NAMES",
    "bubbleview_root",
    "read_bubbleview",
    "read_bubbleview_all",
    "wall_clock_seconds",
    "read_wall_clock",
    "userdata_list",
    "enc_points",
    "load_bubble",
]

#: Subtracted from ``enc`` to get 0-based pixel centres, by coordinate convention.
#: ``"0-based"``: browser event coordinates (clicks and BubbleView mouse movements);
#: ``"1-based"``: MATLAB pixel coordinates (SALICON's mouse, FiWI's eye tracker);
#: ``"osie_1-based_x0.8"``: OSIE's 1-based coordinates multiplied by 640 / 800 = 0.8
#: (the 640x480 copies of OSIE's stimuli): the 0-based point of the 800x600 image,
#: ``x1 - 1``, maps to ``(x1 - 1 + 0.5) * 0.8 - 0.5 = enc - 0.9`` in the 640x480 one.
ORIGINS = {"0-based": 0.0, "1-based": 1.0, "osie_1-based_x0.8": 0.9}

#: What ``enc_time`` holds. ``"durations_ms"``: fixation durations (ms);
#: ``"end_times_ms"``: ms after the image appeared at which each fixation ended
#: (FiWI: increasing in all 561 observers, the last one at 5,045 ms median for a
#: 5 s presentation, the first at 308 - 1,263 ms although it is the most central
#: fixation, i.e. the one the eyes rested in when the page appeared);
#: ``"order"``: 1, 2, ..., n; ``"wall_clock"``: timestamps ``YYYY-MM-DD HH:MM:SS``
#: (or ``YYYY/MM/DD``), one-second resolution, image onset unknown.
TIME_KINDS = ("durations_ms", "end_times_ms", "order", "wall_clock")


@dataclasses.dataclass(frozen=True)
class BubbleFile:
    """One BubbleView ``.mat`` file and how to read it.

    Attributes:
      source: the source name (``readers.SOURCES`` key).
      file: file name under ``bubbleview/``.
      dataset: the image ids' namespace (``"fiwi"``, ``"osie"``, ``"salicon"``,
        ``"massvis"``, ``"gdi"``).
      modality: ``"eye"``, ``"mouse"`` or ``"click"``.
      origin: a key of :data:`ORIGINS` (the coordinate convention of ``enc``).
      times: a value of :data:`TIME_KINDS` (what ``enc_time`` holds).
      task: ``"free-viewing"`` or ``"description"`` (or ``"eye tracking"``, ``"SALICON"``).
      seconds: viewing time (``None``: unlimited).
      blur_px, radius_px: BubbleView's blur sigma and bubble radius (``None``: no bubbles).
      experiment: the paper's experiment (UPSTREAM_README.md).
      copies_of: ``None``, or the folder under ``bubbleview/`` holding the originals this
        file's images are rescaled copies of (same file name): the records name the original
        in :attr:`ground_truth.records.Record.same_picture_as`, so one chart shown at two
        sizes stays one image of the build.
    """

    source: str
    file: str
    dataset: str
    modality: str
    origin: str
    times: str
    task: str
    seconds: Optional[float]
    blur_px: Optional[int] = None
    radius_px: Optional[int] = None
    experiment: str = ""
    copies_of: Optional[str] = None

    @property
    def offset(self) -> float:
        """What to subtract from ``enc`` for 0-based coordinates (:data:`ORIGINS`)."""
        return ORIGINS[self.origin]


def _clicks(source, file, dataset, task, seconds, blur, radius, experiment, copies_of=None):
    return BubbleFile(
        source,
        file,
        dataset,
        "click",
        "0-based",
        "wall_clock",
        task,
        seconds,
        blur,
        radius,
        experiment,
        copies_of,
    )


def _movements(source, file, dataset, blur, radius, experiment):
    return BubbleFile(
        source,
        file,
        dataset,
        "mouse",
        "0-based",
        "wall_clock",
        "free-viewing",
        5.0,
        blur,
        radius,
        experiment,
    )


#: Every BubbleView file, one source each (settings from UPSTREAM_README.md).
FILES: tuple[BubbleFile, ...] = (
    # FiWI web pages (Shen & Zhao, ECCV 2014): eye tracking, 5 s; clicks, blur 50.
    BubbleFile(
        "fiwi_eye",
        "fiwi_eyetrack.mat",
        "fiwi",
        "eye",
        "1-based",
        "end_times_ms",
        "eye tracking",
        5.0,
        experiment="3 (ground truth)",
    ),
    *(
        _clicks(
            f"fiwi_click_{t}x{r}",
            f"fiwi{t}x{r}.mat",
            "fiwi",
            "free-viewing",
            float(t),
            50,
            r,
            "3.1",
        )
        for t in (10, 30)
        for r in (30, 50, 70)
    ),
    _clicks("fiwi_click_dx30", "fiwiDx30.mat", "fiwi", "description", None, 50, 30, "3.2"),
    # SALICON subset (COCO images): SALICON's own mouse data; clicks; mouse movements.
    BubbleFile(
        "bv_salicon_mouse",
        "salicon_gt.mat",
        "salicon",
        "mouse",
        "1-based",
        "wall_clock",
        "SALICON",
        5.0,
        experiment="5 (ground truth)",
    ),
    *(
        _clicks(
            f"bv_salicon_click_{b}x{r}",
            f"salicon{b}x{r}.mat",
            "salicon",
            "free-viewing",
            10.0,
            b,
            r,
            "5.1",
        )
        for b in (30, 50, 70)
        for r in (30, 50, 70)
    ),
    *(
        _movements(f"bv_salicon_mouse_mm{r}", f"saliconMM{r}.mat", "salicon", 30, r, "5.2")
        for r in (30, 50)
    ),
    # OSIE subset: OSIE's eye and lab-mouse data (a copy at 640x480); clicks; movements.
    BubbleFile(
        "bv_osie_eye",
        "osie-eye-official.mat",
        "osie",
        "eye",
        "osie_1-based_x0.8",
        "durations_ms",
        "eye tracking",
        3.0,
        experiment="2 (ground truth)",
    ),
    BubbleFile(
        "bv_osie_mouse_lab",
        "osie-lab-official.mat",
        "osie",
        "mouse",
        "osie_1-based_x0.8",
        "order",
        "SALICON",
        5.0,
        experiment="2 (ground truth)",
    ),
    _clicks("bv_osie_click_30x30", "osie30x30.mat", "osie", "free-viewing", 10.0, 30, 30, "2.1"),
    _movements("bv_osie_mouse_mm30", "osieMM30.mat", "osie", 30, 30, "2.2"),
    # MASSVIS charts: description task (exp 1, 2), free viewing (addendum); no eye data here.
    *(
        _clicks(
            f"massvis_click_exp1_40x{r}",
            f"massvis_exp1_40x{r}.mat",
            "massvis",
            "description",
            None,
            40,
            r,
            "1.1",
        )
        for r in (16, 24, 32)
    ),
    *(
        _clicks(
            f"massvis_click_exp2_40x{r}",
            f"massvis_exp2_40x{r}.mat",
            "massvis",
            "description",
            None,
            40,
            r,
            "1.2",
        )
        for r in (24, 32, 40)
    ),
    _clicks(
        "massvis_click_fv_40x32",
        "massvis_fv_40x32.mat",
        "massvis",
        "free-viewing",
        10.0,
        40,
        32,
        "addendum",
        copies_of="targets_massvis",
    ),
    # GDI graphic designs.
    _clicks("gdi_click_30x50", "gdi30x50.mat", "gdi", "free-viewing", 10.0, 30, 50, "4"),
)

FILES_BY_SOURCE: dict[str, BubbleFile] = {f.source: f for f in FILES}
SOURCE_NAMES: tuple[str, ...] = tuple(FILES_BY_SOURCE)


def bubbleview_root(data_dir) -> Path:
    """The ``bubbleview/`` folder given either it or the folder that holds it.

    A folder that is neither (no ``bubbleview/``, no ``targets_*/``) gives
    ``data_dir/bubbleview``, so that a missing dataset is reported by its folder.
    """
    data_dir = Path(data_dir)
    if (data_dir / "bubbleview").is_dir() or not any(data_dir.glob("targets_*")):
        return data_dir / "bubbleview"
    return data_dir


def userdata_list(userdata, path, image: str) -> list:
    """The observers of one image as a list of structs.

    ``loadmat(squeeze_me=True)`` gives an object array for two or more
    observers, the struct itself for one, and an empty array for none.

    Raises:
      RecordError: something else (names the file and the image).
    """
    if hasattr(userdata, "_fieldnames"):
        return [userdata]
    array = np.asarray(userdata, dtype=object).ravel()
    if array.size and not all(hasattr(u, "_fieldnames") for u in array):
        raise RecordError(
            path, f"{image}: userdata is not a struct array ({type(userdata).__name__})"
        )
    return list(array)


def enc_points(enc, path, where: str) -> np.ndarray:
    """``fixations.enc`` as ``float64 [n, 2]`` (raw values, x first).

    A single point comes as a flat ``[2]`` array, no point as an empty array.

    Raises:
      RecordError: not numeric, or not ``[n, 2]``.
    """
    try:
        array = np.asarray(enc, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise RecordError(path, f"{where}: enc is not numeric ({error})") from None
    if array.size == 0:
        return np.zeros((0, 2))
    if array.shape == (2,):
        return array.reshape(1, 2)
    if array.ndim != 2 or array.shape[1] != 2:
        raise RecordError(path, f"{where}: enc has shape {array.shape}, expected [n, 2] (x, y)")
    return array


def _numbers(enc_time, path, where: str) -> np.ndarray:
    """``enc_time`` strings (or a scalar) as ``float64 [n]``."""
    values = np.atleast_1d(np.asarray(enc_time, dtype=object)).ravel()
    try:
        return np.array([float(v) for v in values], np.float64)
    except (TypeError, ValueError) as error:
        raise RecordError(path, f"{where}: enc_time is not numeric ({error})") from None


def _durations_ms(enc_time, kind: str, n: int, path, where: str) -> np.ndarray:
    """Fixation durations ``float64 [n]`` (ms) from an eye file's ``enc_time``.

    ``"durations_ms"``: as stored. ``"end_times_ms"``: fixation ``j`` ended at
    ``t_j`` ms after the image appeared, so its duration is ``t_j - t_(j-1)``
    (the first one: ``t_0``, the part after the image appeared) and the onset
    :func:`ground_truth.filters.observer_onsets` derives, the sum of the
    previous durations, is ``t_(j-1)``: the end of the previous fixation
    (saccades ignored, as for OSIE).

    Raises:
      RecordError: count differs from ``n``, negative durations, or decreasing end times.
    """
    values = _numbers(enc_time, path, where)
    if len(values) != n:
        raise RecordError(path, f"{where}: {len(values)} enc_time values for {n} points")
    if kind == "end_times_ms":
        values = np.diff(np.concatenate([[0.0], values]))
    if np.any(values < 0) or not np.all(np.isfinite(values)):
        raise RecordError(
            path, f"{where}: negative or non-finite fixation times in enc_time ({kind})"
        )
    return values


def _observer(user, spec: BubbleFile, path, where: str):
    """``(points float64 [n, 2] 0-based (x, y), durations float64 [n] or None)`` of one observer."""
    fixations = field(user, "fixations", path)
    if not hasattr(fixations, "_fieldnames"):
        if np.asarray(fixations, dtype=object).size == 0:  # an empty cell: no point
            return np.zeros((0, 2)), (np.zeros(0) if spec.modality == "eye" else None)
        raise RecordError(path, f"{where}: fixations is not a struct ({type(fixations).__name__})")
    raw = enc_points(field(fixations, "enc", path), path, where)
    durations = None
    if spec.modality == "eye":
        durations = _durations_ms(
            field(fixations, "enc_time", path), spec.times, len(raw), path, where
        )
    return raw - spec.offset, durations


#: ``(h, w)`` by ``(path, mtime_ns, size)``: the files of one set share their images, and a
#: PNG's EXIF can only be found by decoding it (1.3 s for FiWI's 51 screenshots).
_HW_CACHE: dict[tuple, tuple[int, int]] = {}


def _image_hw(path: Path, result: ReadResult) -> Optional[tuple[int, int]]:
    """:func:`displayed_hw` of an image (cached), or ``None`` counted as ``images_missing``."""
    try:
        stat = path.stat()
    except OSError:
        return result.image_hw(path)  # counts and reports the missing file
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key not in _HW_CACHE:
        try:
            _HW_CACHE[key] = displayed_hw(path)
        except RecordError as error:
            result.drop("images_missing", str(error))
            return None
    return _HW_CACHE[key]


def _read_image(
    entry, index: int, spec: BubbleFile, root: Path, path: Path, result: ReadResult
) -> None:
    """One ``bubble`` entry -> a record added to ``result`` (or counted drops)."""
    filename = str(field(entry, "filename", path))
    impath = str(field(entry, "impath", path))
    where = f"image {index + 1} ({filename})"
    if Path(impath).name != filename:
        result.drop(
            "images_name_mismatch", f"{path}: {where}: impath {impath!r} names another file"
        )
        return
    image_path = root / impath
    hw = _image_hw(image_path, result)
    if hw is None:
        return
    try:
        users = userdata_list(field(entry, "userdata", path), path, where)
    except RecordError as error:
        if "no field" in error.reason:
            raise  # the file's layout is wrong, not one image
        result.drop("images_malformed", str(error))
        return
    observers, durations, ids = [], [], []
    for j, user in enumerate(users):
        try:
            points, duration = _observer(user, spec, path, f"{where} observer {j + 1}")
        except RecordError as error:
            result.drop("observers_malformed", str(error))
            continue
        observers.append(points)
        durations.append(duration)
        ids.append(j + 1)
    original = root / spec.copies_of / filename if spec.copies_of else None
    record = make_record(
        image_id=f"{spec.dataset}/{Path(impath).stem}",
        dataset=spec.dataset,
        source=spec.source,
        modality=spec.modality,
        image_path=image_path,
        original_hw=hw,
        observers=observers,
        duration_ms=durations if spec.modality == "eye" else None,
        observer_ids=ids,
        same_picture_as=original if original is not None and original.is_file() else None,
    )
    finish(result, record)


#: Fields the point readers use; ``enc_time``, ``rec`` and ``descriptions`` are skipped.
POINT_FIELDS = frozenset({"filename", "impath", "userdata", "fixations", "enc"})


def load_bubble(path, points_only: bool = False):
    """The ``bubble`` variable of a BubbleView file (an array of image structs).

    Args:
      path: the ``.mat`` file.
      points_only: read only ``filename``, ``impath``, ``userdata``, ``fixations``
        and ``enc`` (the others are ``None``), 10 - 30 times faster; falls back to
        the full :func:`ground_truth.readers.common.load_mat` when the file is
        not laid out as expected.
    Returns:
      ``np.ndarray`` of structs (``np.atleast_1d``).
    Raises:
      RecordError: missing or corrupt file, no ``bubble`` (from ``load_mat``).
    """
    path = Path(path)
    if points_only:
        try:
            return np.atleast_1d(read_variable(path, "bubble", POINT_FIELDS))
        except MatUnsupported:
            pass
    return np.atleast_1d(load_mat(path, "bubble"))


def _spec(source: str) -> BubbleFile:
    if source not in FILES_BY_SOURCE:
        raise ValueError(f"unknown BubbleView source {source!r}; known: {list(SOURCE_NAMES)}")
    return FILES_BY_SOURCE[source]


def _bubbles(spec: BubbleFile, data_dir, points_only: bool) -> tuple[Path, Path, np.ndarray]:
    root = bubbleview_root(data_dir)
    path = root / spec.file
    return root, path, load_bubble(path, points_only)


def read_bubbleview(source: str, data_dir) -> ReadResult:
    """Reads one BubbleView file (``source`` a key of :data:`FILES_BY_SOURCE`).

    Args:
      source: e.g. ``"fiwi_eye"``, ``"fiwi_click_10x30"``, ``"bv_osie_eye"``.
      data_dir: ``../shared/data`` or ``../shared/data/bubbleview``.
    Returns:
      :class:`ReadResult`, one record per image: points ``(x, y)`` 0-based in
      the image ``impath`` names; eye files carry ``duration_ms``; mouse and
      click files carry the order only (their one-second wall-clock stamps do
      not give onsets: the image's onset is not recorded).
      A malformed observer is dropped and named in ``errors``; the rest go on.
    Raises:
      ValueError: unknown source.
      RecordError: the file is missing or corrupt, has no ``bubble``, or lacks a field.
    """
    spec = _spec(source)
    # Eye files need enc_time (durations) and are small: the full load_mat.
    root, path, bubble = _bubbles(spec, data_dir, points_only=spec.modality != "eye")
    result = ReadResult(records=[])
    for index, entry in enumerate(bubble):
        _read_image(entry, index, spec, root, path, result)
    return result


def read_bubbleview_all(data_dir, sources=SOURCE_NAMES) -> dict[str, ReadResult]:
    """:func:`read_bubbleview` for several sources; a file that cannot be read is
    an empty result with the error counted (``files_unreadable``), the others go on."""
    results = {}
    for source in sources:
        try:
            results[source] = read_bubbleview(source, data_dir)
        except RecordError as error:
            failed = ReadResult(records=[])
            failed.drop("files_unreadable", str(error))
            results[source] = failed
    return results


_CLOCK_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S")


def wall_clock_seconds(enc_time, path="", where: str = "") -> np.ndarray:
    """Wall-clock ``enc_time`` stamps as ``float64 [m]`` seconds after the first one.

    Accepts ``YYYY-MM-DD HH:MM:SS`` and ``YYYY/MM/DD HH:MM:SS`` (one-second
    resolution: many clicks share a stamp).

    Raises:
      RecordError: a stamp in neither format.
    """
    stamps = []
    for value in np.atleast_1d(np.asarray(enc_time, dtype=object)).ravel():
        for fmt in _CLOCK_FORMATS:
            try:
                stamps.append(datetime.datetime.strptime(str(value).strip(), fmt).timestamp())
                break
            except ValueError:
                continue
        else:
            raise RecordError(path, f"{where}: enc_time {value!r} is not a wall-clock time")
    stamps = np.asarray(stamps, np.float64)
    return stamps - stamps[0] if len(stamps) else stamps


def read_wall_clock(source: str, data_dir) -> dict[str, list[np.ndarray]]:
    """Per image id, each observer's :func:`wall_clock_seconds` (a ``"wall_clock"`` file).

    Used to put the click counts of the temporal filter into seconds
    (:mod:`ground_truth.studies.proxies`). The stamps are per ``enc_time`` entry, which
    in MASSVIS can be 1 - 6 more than the points.

    Raises:
      ValueError: the source's times are not wall-clock stamps.
      RecordError: as :func:`read_bubbleview`, or an unparseable stamp.
    """
    spec = _spec(source)
    if spec.times != "wall_clock":
        raise ValueError(f"{source}: enc_time holds {spec.times}, not wall-clock stamps")
    _, path, bubble = _bubbles(spec, data_dir, points_only=False)
    out: dict[str, list[np.ndarray]] = {}
    for index, entry in enumerate(bubble):
        impath = str(field(entry, "impath", path))
        where = f"image {index + 1} ({Path(impath).name})"
        times = []
        for j, user in enumerate(userdata_list(field(entry, "userdata", path), path, where)):
            fixations = field(user, "fixations", path)
            if hasattr(fixations, "_fieldnames"):
                times.append(
                    wall_clock_seconds(
                        field(fixations, "enc_time", path), path, f"{where} observer {j + 1}"
                    )
                )
        out[f"{spec.dataset}/{Path(impath).stem}"] = times
    return out
