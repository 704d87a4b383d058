"""SMTP replies (RFC 5321 section 4.2) with enhanced status codes (RFC 3463)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    """One SMTP reply, possibly multi-line."""

    code: int
    """Three-digit reply code, 200..599."""
    status: str
    """Enhanced status code such as "2.1.0"; empty for the greeting and EHLO/HELO replies."""
    lines: tuple[str, ...]
    """Text lines, without the code; at least one."""

    def __init__(self, code: int, status: str, *lines: str) -> None:
        if not 200 <= code <= 599:
            raise ValueError(f"reply code out of range: {code}")
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "lines", tuple(lines) or ("",))

    @property
    def positive(self) -> bool:
        """2xx and 3xx replies accept the command they answer."""
        return self.code < 400

    @property
    def text(self) -> str:
        return " ".join(self.lines)

    def render(self) -> bytes:
        """Wire form: every line carries the code and, when set, the enhanced status."""
        prefix = f"{self.status} " if self.status else ""
        out = []
        last = len(self.lines) - 1
        for i, line in enumerate(self.lines):
            sep = " " if i == last else "-"
            out.append(f"{self.code}{sep}{prefix}{line}".rstrip(" ") + "\r\n")
        return "".join(out).encode("utf-8")

    @classmethod
    def parse(cls, data: bytes) -> Reply:
        """Parse a complete (possibly multi-line) reply; used by clients and tests."""
        text = data.decode("utf-8", "replace").rstrip("\r\n")
        raw_lines = text.split("\r\n") if "\r\n" in text else text.split("\n")
        code = int(raw_lines[0][:3])
        bodies = [line[4:] for line in raw_lines]
        status = ""
        first = bodies[0].split(" ", 1)
        if _is_status(first[0], code):
            status = first[0]
            bodies = [_strip_status(b, status) for b in bodies]
        return cls(code, status, *bodies)


def _is_status(token: str, code: int) -> bool:
    parts = token.split(".")
    return len(parts) == 3 and all(p.isdigit() for p in parts) and parts[0] == str(code)[0]


def _strip_status(body: str, status: str) -> str:
    if body == status:
        return ""
    if body.startswith(status + " "):
        return body[len(status) + 1 :]
    return body
