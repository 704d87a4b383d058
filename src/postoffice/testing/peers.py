"""Finding real external peers (Postfix, swaks, ...) for tests and benchmarks.

A test that needs a real peer calls :func:`require_peer`. When the peer is missing the test is
skipped, with a line that says which Debian package provides it; when the environment variable
``POSTOFFICE_REQUIRE_PEERS=1`` is set (as CI does) a missing peer is a failure instead, so that a
broken CI image cannot silently turn interoperability tests into skips.

pytest is imported lazily: the package itself never depends on pytest at run time.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["PEER_PACKAGES", "peers_required", "require_peer", "require_root"]

#: Debian package that provides each peer, for the skip message.
PEER_PACKAGES: dict[str, str] = {
    "postfix": "postfix",
    "postconf": "postfix",
    "postqueue": "postfix",
    "smtp-source": "postfix",
    "smtp-sink": "postfix",
    "swaks": "swaks",
    "openssl": "openssl",
    "opendkim-testmsg": "opendkim-tools",
    "knotd": "knot",
}

REQUIRE_ENV = "POSTOFFICE_REQUIRE_PEERS"


def peers_required() -> bool:
    """True when missing peers must fail the test run instead of skipping (``POSTOFFICE_REQUIRE_PEERS=1``)."""
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in {"1", "yes", "true", "on"}


def _unavailable(reason: str) -> None:
    import pytest  # lazy: only tests call this

    if peers_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(reason)


def require_peer(name: str, path: str | os.PathLike[str] | None = None, *, package: str | None = None) -> str:
    """Return the path of the peer binary ``name``, or skip (fail under ``POSTOFFICE_REQUIRE_PEERS=1``).

    ``path`` is where the binary is expected (e.g. ``/usr/sbin/postfix``); without it the binary is
    looked up on ``$PATH`` and in ``/usr/sbin`` and ``/usr/bin``.
    """
    pkg = package or PEER_PACKAGES.get(name, name)
    found: str | None = None
    if path is not None:
        p = Path(path)
        if p.is_file() and os.access(p, os.X_OK):
            found = str(p)
    else:
        search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin"])
        found = shutil.which(name, path=search)
    if found is None:
        _unavailable(f"needs {name} (Debian package {pkg}): not installed")
        raise AssertionError("unreachable")  # pragma: no cover - skip/fail raise
    return found


def require_root(why: str) -> None:
    """Skip (fail under ``POSTOFFICE_REQUIRE_PEERS=1``) unless running as root, e.g. to start Postfix."""
    if os.geteuid() != 0:
        _unavailable(f"needs root: {why}")
