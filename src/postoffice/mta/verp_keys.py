"""The per-install VERP secret: `DATA/keys/verp.key`, 32 random bytes (mode 0600, directory 0700).

`postoffice init` creates it; a data directory made before VERP existed gets it on first use.
Several processes may start at once: the key is written to a temporary file and linked into
place, so exactly one key wins and every process reads that one. Replacing the key invalidates
the return paths of mail already sent (their bounces are then refused as unknown users).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from postoffice.errors import PostofficeError

KEY_FILE = Path("keys") / "verp.key"
KEY_SIZE = 32


def key_path(data_dir: Path) -> Path:
    return data_dir / KEY_FILE


def load_or_create(data_dir: Path) -> bytes:
    """The install's VERP secret, created when missing. PostofficeError when it is unusable."""
    path = key_path(data_dir)
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        key = _create(path)
    except OSError as exc:
        raise PostofficeError(f"cannot read the VERP key {path}: {exc.strerror}") from exc
    if len(key) != KEY_SIZE:
        raise PostofficeError(f"{path}: a VERP key is {KEY_SIZE} bytes, this file has {len(key)}")
    return key


def _create(path: Path) -> bytes:
    """Write a new key unless another process got there first; the key in place either way."""
    directory = path.parent
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    key = secrets.token_bytes(KEY_SIZE)
    temporary = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = os.open(temporary, flags, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            view = memoryview(key)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path.read_bytes()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return key
