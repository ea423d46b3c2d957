"""The default int8 calibration images cover every kind of image, from the train split only."""

from __future__ import annotations

from collections import Counter

from attention_center.core.splits import split_of
from export import images


def _dataset_of(path, data_dir) -> str | None:
    relative = path.resolve().relative_to(data_dir.resolve()).as_posix()
    for dataset, folder in images.CALIBRATION_FOLDERS.items():
        if relative.startswith(folder + "/"):
            return dataset
    return "kodak" if relative.startswith("kodak/") else None


def test_calibration_takes_equal_shares_of_every_kind_of_train_image(shared_data_dir):
    paths = images.default_representative_paths(100, shared_data_dir)
    assert len(paths) == len(set(paths)) == 100
    kinds = Counter(_dataset_of(p, shared_data_dir) for p in paths)
    assert kinds.pop("kodak") == 24
    present = [d for d, f in images.CALIBRATION_FOLDERS.items() if (shared_data_dir / f).is_dir()]
    assert sorted(kinds) == sorted(present) and len(present) >= 4  # photos, pages, charts, ...
    assert max(kinds.values()) - min(kinds.values()) <= 1  # equal shares
    for path in paths:
        dataset = _dataset_of(path, shared_data_dir)
        if dataset != "kodak":
            assert split_of(f"{dataset}/{path.stem}") == "train", path


def test_calibration_and_parity_images_do_not_meet(shared_data_dir):
    calibration = set(images.default_representative_paths(100, shared_data_dir))
    parity = set(images.default_parity_paths(50, shared_data_dir))
    assert parity and not calibration & parity


def test_a_small_count_is_met_exactly(shared_data_dir):
    assert len(images.default_representative_paths(10, shared_data_dir)) == 10
    assert len(images.default_representative_paths(31, shared_data_dir)) == 31
