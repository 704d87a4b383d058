"""An in-memory ScriptStore (proto/managesieve/store.py) for the ManageSieve tests.

Importable from every test folder: tests/ is on sys.path through tests/conftest.py."""

from __future__ import annotations

from dataclasses import dataclass, field

from postoffice.proto.managesieve.store import NoSuchScript, ScriptActive, ScriptExists


@dataclass
class MemoryScriptStore:
    quota: int = 10_000
    """Octets of script source one user may keep."""
    scripts: dict[str, dict[str, str]] = field(default_factory=dict)
    """user -> name -> source."""
    active: dict[str, str] = field(default_factory=dict)
    """user -> the active script's name."""

    def list(self, user: str) -> list[tuple[str, bool]]:
        return [(name, self.active.get(user) == name) for name in self.scripts.get(user, {})]

    def get(self, user: str, name: str) -> str | None:
        return self.scripts.get(user, {}).get(name)

    def put(self, user: str, name: str, source: str) -> None:
        self.scripts.setdefault(user, {})[name] = source

    def delete(self, user: str, name: str) -> None:
        self._existing(user, name)
        if self.active.get(user) == name:
            raise ScriptActive(name)
        del self.scripts[user][name]

    def rename(self, user: str, old: str, new: str) -> None:
        source = self._existing(user, old)
        if old == new:
            return
        if new in self.scripts[user]:
            raise ScriptExists(new)
        self.scripts[user][new] = source
        del self.scripts[user][old]
        if self.active.get(user) == old:
            self.active[user] = new

    def activate(self, user: str, name: str | None) -> None:
        if name is None:
            self.active.pop(user, None)
            return
        self._existing(user, name)
        self.active[user] = name

    def have_space(self, user: str, name: str, size: int) -> bool:
        others = sum(len(source.encode()) for other, source in self.scripts.get(user, {}).items()
                     if other != name)
        return others + size <= self.quota

    def _existing(self, user: str, name: str) -> str:
        source = self.get(user, name)
        if source is None:
            raise NoSuchScript(name)
        return source
