"""IMAP flags (RFC 5232): the flag list `setflag`, `addflag` and `removeflag` change, which
`hasflag` tests and `keep`/`fileinto` give the stored message. A list is space-separated
flags, each once (compared without regard to case), in the order they were first added."""

from __future__ import annotations

from collections.abc import Iterable


def flag_list(values: Iterable[str]) -> tuple[str, ...]:
    """The flags of `values`, each string holding one or more space-separated flags."""
    out: dict[str, str] = {}
    for value in values:
        for flag in value.split():
            out.setdefault(flag.lower(), flag)
    return tuple(out.values())


def add_flags(current: tuple[str, ...], values: Iterable[str]) -> tuple[str, ...]:
    return flag_list((*current, *values))


def remove_flags(current: tuple[str, ...], values: Iterable[str]) -> tuple[str, ...]:
    gone = {flag.lower() for flag in flag_list(values)}
    return tuple(flag for flag in current if flag.lower() not in gone)
