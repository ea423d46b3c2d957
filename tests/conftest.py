"""Shared pytest fixtures: where the real data lives, and the backend in use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ATTENTION_CENTER_SHARED", REPO.parent / "shared"))
SHARED_DATA = SHARED / "data"
GOOGLE_MODEL = SHARED / "anchors" / "google_center.tflite"
FIXTURES = REPO / "tests" / "fixtures"


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """``../shared/data`` (the real eye-tracking and mouse data); skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def google_model_path() -> Path:
    """Google's published model, read in place (never copied into the repo)."""
    if not GOOGLE_MODEL.is_file():
        pytest.skip(f"Google's model not found at {GOOGLE_MODEL}")
    return GOOGLE_MODEL


@pytest.fixture(scope="session")
def kodak_paths(shared_data_dir) -> list[Path]:
    """The 24 Kodak PNGs (real photos, landscape and portrait)."""
    return sorted((shared_data_dir / "kodak").glob("*.png"))
