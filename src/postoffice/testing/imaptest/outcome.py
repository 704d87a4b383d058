"""The result of one script run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Outcome", "ScriptFailed", "ScriptSkipped"]


class ScriptFailed(Exception):
    """The server did not behave as the script expects (the message is the readable diff)."""


class ScriptSkipped(Exception):
    """The script cannot run against this server (e.g. a capability is missing)."""


@dataclass(frozen=True)
class Outcome:
    status: Literal["passed", "skipped", "failed"]
    detail: str = ""
    """Why it was skipped, or what failed: the command, the expected line(s), what was sent."""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def skipped(self) -> bool:
        return self.status == "skipped"

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def __str__(self) -> str:
        return self.status if not self.detail else f"{self.status}: {self.detail}"
