"""ManageSieve's ScriptStore over the mailbox store, and its login check.

The ManageSieve adapter runs these synchronous calls through `offload`; `StoreOffload` runs
them on the store threads and hands each call that thread's store."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from postoffice.credentials import LOGINS
from postoffice.proto.managesieve.store import NoSuchScript, ScriptActive, ScriptExists, TryLater
from postoffice.server.store_threads import StoreThreads
from postoffice.storage import AlreadyExists, InUse, NotFound, StorageError, Store

T = TypeVar("T")
MAX_SCRIPT_BYTES = 64 * 1024
_current = threading.local()


def _store() -> Store:
    store: Store | None = getattr(_current, "store", None)
    if store is None:
        raise TryLater("no store on this thread")
    return store


def _with_store(store: Store, fn: Callable[[], Any]) -> Any:
    _current.store = store
    try:
        return fn()
    finally:
        _current.store = None


class StoreOffload:
    def __init__(self, threads: StoreThreads) -> None:
        self._threads = threads

    async def __call__(self, fn: Callable[[], T], /) -> T:
        result: T = await self._threads.run(_with_store, fn)
        return result


class SieveScripts:
    """postoffice.proto.managesieve.store.ScriptStore on the calling thread's store."""

    def list(self, user: str) -> list[tuple[str, bool]]:
        return [(s.name, s.active) for s in _call(lambda: _store().list_sieve_scripts(user))]

    def get(self, user: str, name: str) -> str | None:
        found = _call(lambda: _store().get_sieve_script(user, name))
        return None if found is None else found.source

    def put(self, user: str, name: str, source: str) -> None:
        _call(lambda: _store().put_sieve_script(user, name, source))

    def delete(self, user: str, name: str) -> None:
        _call(lambda: _store().delete_sieve_script(user, name))

    def rename(self, user: str, old: str, new: str) -> None:
        if old != new:
            _call(lambda: _store().rename_sieve_script(user, old, new))
        elif self.get(user, old) is None:
            raise NoSuchScript(old)

    def activate(self, user: str, name: str | None) -> None:
        _call(lambda: _store().activate_sieve_script(user, name))

    def have_space(self, user: str, name: str, size: int) -> bool:
        return size <= MAX_SCRIPT_BYTES


def authenticate(username: str, password: str) -> str | None:
    """The normalised address when the password is right (on a store thread)."""
    user = _call(lambda: _store().get_user(username))
    if user is None or not LOGINS.verify(username, password, user.password_hash):
        return None
    return user.address


def _call(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except InUse as exc:
        raise ScriptActive(str(exc)) from exc
    except AlreadyExists as exc:
        raise ScriptExists(str(exc)) from exc
    except NotFound as exc:
        raise NoSuchScript(str(exc)) from exc
    except StorageError as exc:
        raise TryLater(str(exc)) from exc
