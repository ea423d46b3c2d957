"""A small real ground truth in both forms: a portable build and a prepared TFDS config.

Seven OSIE images (3 train, 2 val, 2 test by :func:`split_of`) with their real fixations
(every observer's scanpath, durations included) written in the generic JSONL format, then
built by ``ground_truth.build.build`` and prepared by ``ground_truth.build.tfds_dataset.prepare``
from the same file, so the two forms hold the same records. Made once per pytest session
(under its base temporary folder) and shared by the TFDS tests of every layer.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

SPLIT_COUNTS = {"train": 3, "val": 2, "test": 2}
SOURCE = "osie_eye"  # the generic reader names it "<dataset>_<modality>"


@dataclasses.dataclass(frozen=True)
class SmallGroundTruth:
    """Where the two forms are.

    Attributes:
      records_file: the generic JSONL (its folder is the data / manual directory).
      build_dir: the portable build (``index.jsonl`` + ``frames/``).
      tfds_dir: the TFDS data directory (``attention_center_ground_truth/<config>/1.1.0``).
      version_dir: the prepared config's version directory.
    """

    records_file: Path
    build_dir: Path
    tfds_dir: Path
    version_dir: Path

    @property
    def spec(self) -> str:
        return f"tfds:{self.tfds_dir}"


def _write_records(shared_data_dir: Path, path: Path) -> None:
    from attention_center.core.splits import split_of
    from ground_truth.readers import read_osie_eye

    wanted = dict(SPLIT_COUNTS)
    rows = []
    for record in read_osie_eye(shared_data_dir).records:
        split = split_of(record.image_id)
        if wanted.get(split, 0) <= 0:
            continue
        wanted[split] -= 1
        durations = record.duration_ms or [None] * len(record.observers)
        for observer, points, duration in zip(record.observer_ids, record.observers, durations):
            for order, (x, y) in enumerate(points):
                row = {
                    "image": str(record.image_path),
                    "observer": str(observer),
                    "order": order,
                    "x": float(x),
                    "y": float(y),
                    "source": "eye",
                    "dataset": "osie",
                }
                if duration is not None:
                    row["duration_ms"] = float(duration[order])
                rows.append(row)
        if not any(wanted.values()):
            break
    assert not any(wanted.values()), f"not enough OSIE images per split: {wanted}"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def small_ground_truth(tmp_path_factory, shared_data_dir: Path) -> SmallGroundTruth:
    """The small ground truth, made on first use in this pytest session."""
    root = tmp_path_factory.getbasetemp() / "small_ground_truth"
    records_file = root / "osie_small.jsonl"
    done = root / "done"
    small = SmallGroundTruth(
        records_file,
        root / "gt",
        root / "tfds",
        root / "tfds" / "attention_center_ground_truth" / "osie_small" / "1.1.0",
    )
    if done.is_file():
        return small
    from ground_truth.build import build
    from ground_truth.build.tfds_dataset import prepare

    root.mkdir(parents=True, exist_ok=True)
    _write_records(shared_data_dir, records_file)
    report = build([str(records_file)], root, small.build_dir, progress=False)
    assert report.ok, report.errors
    (prepared,) = prepare([str(records_file)], root, small.tfds_dir, progress=False)
    assert prepared == small.version_dir, prepared
    done.write_text("ok\n")
    return small


def two_dataset_build(tmp_path_factory, shared_data_dir: Path, images: int = 4) -> Path:
    """A portable build of ``images`` real OSIE images, the first half named dataset ``osie``
    (source ``osie_eye``), the rest ``other`` (``other_eye``): for leave-one-dataset-out
    and cross-dataset tests. Made once per pytest session."""
    from ground_truth.build import build
    from ground_truth.readers import read_osie_eye

    root = tmp_path_factory.getbasetemp() / f"two_dataset_build_{images}"
    if (root / "done").is_file():
        return root / "gt"
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, record in enumerate(read_osie_eye(shared_data_dir).records[:images]):
        dataset = "osie" if index < images // 2 else "other"
        for observer, points in zip(record.observer_ids, record.observers):
            for order, (x, y) in enumerate(points):
                rows.append(
                    {
                        "image": str(record.image_path),
                        "observer": str(observer),
                        "order": order,
                        "x": float(x),
                        "y": float(y),
                        "source": "eye",
                        "dataset": dataset,
                    }
                )
    records_file = root / "two_datasets.jsonl"
    records_file.write_text("".join(json.dumps(row) + "\n" for row in rows))
    report = build([str(records_file)], root, root / "gt", progress=False)
    assert report.ok, report.errors
    (root / "done").write_text("ok\n")
    return root / "gt"


def one_photo_build(shared_data_dir: Path, out_dir: Path, stem: str = "1001") -> Path:
    """A one-row ground-truth build (``index.jsonl`` only) for one OSIE photo.

    Its points are each observer's first fixation after the pre-stimulus one, read by the
    real OSIE reader (``ground_truth.readers.osie``: ``(x, y)`` 0-based pixels of the
    800x600 photo); its centre is their mean. The row's ``frame_path`` names no file: the
    callers (the progressive-loading benchmark and ``attention-center compare``) read the
    original image and the points only.

    Returns:
      the build folder (``out_dir``, created).
    """
    import numpy as np

    from ground_truth.readers.osie import read_osie_eye

    image_id = f"osie/{stem}"
    record = next(r for r in read_osie_eye(shared_data_dir).records if r.image_id == image_id)
    points = [o[1].tolist() for o in record.observers if len(o) > 1]
    row = {
        "image_id": image_id,
        "dataset": "osie",
        "source": "osie_eye",
        "modality": "eye",
        "split": "test",
        "data_dir": str(shared_data_dir),
        "image_path": Path(record.image_path)
        .resolve()
        .relative_to(shared_data_dir.resolve())
        .as_posix(),
        "original_hw": list(record.original_hw),
        "center": np.mean(points, axis=0).tolist(),
        "points": points,
        "frame_path": f"frames/osie_{stem}.jpg",
        "fallback": None,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "index.jsonl").write_text(json.dumps(row) + "\n")
    return out_dir


def run_quality_benchmark(gt_dir: Path, tmp_path: Path, *flags: str, timeout: int = 600):
    """``benchmarks/progressive/quality_run.py`` on a build, in a subprocess.

    Writes to ``tmp_path/out`` (results) and ``tmp_path/work``; ``flags`` are the script's.

    Returns:
      ``(completed process, the out folder)``.
    """
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "out"
    run = subprocess.run(
        [
            sys.executable,
            str(repo / "benchmarks" / "progressive" / "quality_run.py"),
            f"--gt_dir={gt_dir}",
            "--split=test",
            *flags,
            f"--out_dir={out}",
            f"--work_dir={tmp_path / 'work'}",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=timeout,
    )
    return run, out
