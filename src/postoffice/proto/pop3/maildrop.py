"""The maildrop as POP3 sees it: numbered messages, deletion marks (RFC 1939 section 5)."""

from __future__ import annotations

from collections.abc import Sequence


class Maildrop:
    """Messages numbered from 1 in the given order; numbers never change within a session."""

    def __init__(self, messages: Sequence[tuple[int, str]]) -> None:
        self._messages = list(messages)
        """(size in octets as sent, unique id) per message."""
        self._deleted: set[int] = set()

    def valid(self, number: int) -> bool:
        """`number` names a message that exists and is not marked deleted."""
        return 1 <= number <= len(self._messages) and number not in self._deleted

    def live(self) -> list[int]:
        return [n for n in range(1, len(self._messages) + 1) if n not in self._deleted]

    def size(self, number: int) -> int:
        return self._messages[number - 1][0]

    def uid(self, number: int) -> str:
        return self._messages[number - 1][1]

    def stat(self) -> tuple[int, int]:
        """(count, octets) of the messages not marked deleted."""
        live = self.live()
        return len(live), sum(self.size(n) for n in live)

    def delete(self, number: int) -> None:
        self._deleted.add(number)

    def reset(self) -> None:
        self._deleted.clear()

    def deleted(self) -> tuple[int, ...]:
        return tuple(sorted(self._deleted))
