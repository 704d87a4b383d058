"""Where scripts live (the `ScriptStore` Protocol) and `perform`, which answers a Request.

A store is small and synchronous: the adapter calls `perform` off its event loop. Names are
valid script names (scripts.name_problem) and users are whatever the authenticate callback
answered. At most one script per user is active; a replaced or renamed script keeps its
active mark. Failures are the exceptions below; any other exception means "try later"."""

from __future__ import annotations

from typing import Protocol

from postoffice.proto.managesieve import responses as R
from postoffice.proto.managesieve.events import (
    CheckScript,
    DeleteScript,
    GetScript,
    HaveSpace,
    ListScripts,
    PutScript,
    RenameScript,
    Request,
    SetActive,
)
from postoffice.proto.managesieve.scripts import script_problem


class ScriptError(Exception):
    """Base of the refusals a store may raise."""


class NoSuchScript(ScriptError):
    """The named script does not exist (NONEXISTENT)."""


class ScriptExists(ScriptError):
    """rename: the new name is taken (ALREADYEXISTS)."""


class ScriptActive(ScriptError):
    """delete: the script is active (ACTIVE)."""


class OverQuota(ScriptError):
    """put: the user's space is exhausted (QUOTA), e.g. found at write time."""


class TryLater(ScriptError):
    """A transient failure, e.g. a locked database (TRYLATER)."""


class ScriptStore(Protocol):
    def list(self, user: str) -> list[tuple[str, bool]]:
        """(name, active) of every script of `user`, in any order."""

    def get(self, user: str, name: str) -> str | None:
        """The script's source; None when there is none by that name."""

    def put(self, user: str, name: str, source: str) -> None:
        """Create or replace (keeping its active mark); may raise OverQuota."""

    def delete(self, user: str, name: str) -> None:
        """Remove; NoSuchScript, or ScriptActive for the active script."""

    def rename(self, user: str, old: str, new: str) -> None:
        """Rename; NoSuchScript when `old` is missing, ScriptExists when `new` is another
        script's name (old == new is a no-op)."""

    def activate(self, user: str, name: str | None) -> None:
        """Make `name` the one active script, or none for None; NoSuchScript when missing."""

    def have_space(self, user: str, name: str, size: int) -> bool:
        """Could a script of `size` octets be stored as `name` (replacing one of that name)?"""


def perform(store: ScriptStore, request: Request) -> bytes:
    """The response to `request`, calling `store` (synchronously) and the Sieve checker."""
    try:
        return _perform(store, request)
    except NoSuchScript:
        return R.no("No such script", "NONEXISTENT")
    except ScriptExists:
        return R.no("A script with that name already exists", "ALREADYEXISTS")
    except ScriptActive:
        return R.no("The script is active", "ACTIVE")
    except OverQuota:
        return R.no("Not enough space", "QUOTA")
    except TryLater:
        return R.no("Try again later", "TRYLATER")


def _perform(store: ScriptStore, request: Request) -> bytes:
    user = request.user
    match request:
        case ListScripts():
            return R.listing(sorted(store.list(user))) + R.ok()
        case GetScript(name=name):
            source = store.get(user, name)
            if source is None:
                raise NoSuchScript(name)
            return R.script(source) + R.ok()
        case CheckScript(source=source):
            problem = script_problem(source)
            return R.no(problem) if problem else R.ok("Script is valid")
        case PutScript(name=name, source=source, max_scripts=limit):
            problem = script_problem(source)
            if problem:
                return R.no(problem)
            refusal = _quota(store, user, name, len(source.encode()), limit)
            if refusal:
                return refusal
            store.put(user, name, source)
            return R.ok("Script stored")
        case HaveSpace(name=name, size=size, max_scripts=limit):
            return _quota(store, user, name, size, limit) or R.ok()
        case DeleteScript(name=name):
            store.delete(user, name)
            return R.ok("Script deleted")
        case RenameScript(old=old, new=new):
            store.rename(user, old, new)
            return R.ok("Script renamed")
        case SetActive(name=name):
            store.activate(user, name)
            return R.ok("Active script set" if name else "No script is active")
    raise AssertionError(f"unknown request {request!r}")


def _quota(store: ScriptStore, user: str, name: str, size: int, max_scripts: int) -> bytes:
    """NO (QUOTA/...) when `name` with `size` octets may not be stored; b"" when it may."""
    names = {existing for existing, _ in store.list(user)}
    if name not in names and len(names) >= max_scripts:
        return R.no(f"At most {max_scripts} scripts", "QUOTA/MAXSCRIPTS")
    if not store.have_space(user, name, size):
        return R.no("Not enough space", "QUOTA")
    return b""
