from pathlib import Path

import pytest

from postoffice.testing.conformance import CONFORMANCE

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """The public conformance data (../shared/conformance or $POSTOFFICE_CONFORMANCE)."""
    path = CONFORMANCE
    if not path.is_dir():
        pytest.skip(f"conformance data not found at {path}")
    return path
