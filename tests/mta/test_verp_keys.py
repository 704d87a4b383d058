"""The per-install VERP secret: created once, private, the same for every process."""

import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from postoffice.errors import PostofficeError
from postoffice.mta.verp_keys import KEY_SIZE, key_path, load_or_create


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_created_on_first_use_private_and_kept(tmp_path: Path) -> None:
    old = os.umask(0)  # the modes must not depend on the umask
    try:
        key = load_or_create(tmp_path)
    finally:
        os.umask(old)
    path = key_path(tmp_path)
    assert path == tmp_path / "keys" / "verp.key"
    assert len(key) == KEY_SIZE and path.read_bytes() == key
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert load_or_create(tmp_path) == key
    assert os.listdir(path.parent) == ["verp.key"]  # no temporary file left


def test_every_install_gets_its_own(tmp_path: Path) -> None:
    assert load_or_create(tmp_path / "a") != load_or_create(tmp_path / "b")


def test_an_existing_key_is_read_not_replaced(tmp_path: Path) -> None:
    path = key_path(tmp_path)
    path.parent.mkdir()
    path.write_bytes(b"k" * KEY_SIZE)
    assert load_or_create(tmp_path) == b"k" * KEY_SIZE


@pytest.mark.parametrize("content", [b"", b"short", b"k" * (KEY_SIZE + 1)])
def test_a_damaged_key_is_an_error_not_a_new_key(tmp_path: Path, content: bytes) -> None:
    path = key_path(tmp_path)
    path.parent.mkdir()
    path.write_bytes(content)
    with pytest.raises(PostofficeError, match="verp.key"):
        load_or_create(tmp_path)
    assert path.read_bytes() == content


def test_racing_creators_agree_on_one_key(tmp_path: Path) -> None:
    for attempt in range(20):
        data = tmp_path / str(attempt)
        with ThreadPoolExecutor(8) as pool:
            keys = set(pool.map(load_or_create, [data] * 8))
        assert keys == {key_path(data).read_bytes()}
        assert os.listdir(key_path(data).parent) == ["verp.key"]
