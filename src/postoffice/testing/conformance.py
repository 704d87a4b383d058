"""Where the public conformance data lives: $POSTOFFICE_CONFORMANCE, else ../shared/conformance
beside the repository. Tests read it from there and skip without it."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
CONFORMANCE = Path(os.environ.get("POSTOFFICE_CONFORMANCE")
                   or REPO.parent / "shared" / "conformance")
IMAPTEST_SCRIPTS = CONFORMANCE / "imaptest-scripts" / "tests"
"""Dovecot imaptest's scripted tests (NAME and NAME.mbox)."""
