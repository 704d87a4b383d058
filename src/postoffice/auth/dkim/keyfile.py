"""Writing a DKIM private key to disk: mode 0600, atomically, durably.

The one piece of file I/O in ``auth/``: the key never exists on disk with wider permissions, and
a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["KEY_FILE_MODE", "write_private_key"]

KEY_FILE_MODE = 0o600


def write_private_key(path: str | os.PathLike[str], pem: bytes) -> None:
    """Write ``pem`` to ``path`` with mode 0600, replacing any file there atomically.

    The key goes to a temporary file created 0600 in the same directory (``O_EXCL``, so never an
    existing file or symlink), is fsynced, renamed over ``path``, and the directory is fsynced."""
    target = Path(path)
    directory = target.parent
    temporary = directory / f".{target.name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temporary, flags, KEY_FILE_MODE)
    try:
        try:
            os.fchmod(fd, KEY_FILE_MODE)  # exactly 0600, whatever the umask
            view = memoryview(pem)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    dir_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
