import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("RSR_PROGRESS", "0")


@pytest.fixture
def root() -> Path:
    return ROOT
