"""Unique tokens: never repeated, also across a fork."""

from __future__ import annotations

import os

from postoffice.message import unique


def test_tokens_are_unique_hex() -> None:
    made = [unique.token() for _ in range(10_000)]
    assert len(set(made)) == len(made)
    assert all(len(t) == 32 and int(t, 16) >= 0 for t in made[:10])


def test_a_forked_child_draws_its_own_key() -> None:
    parent = unique.token()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: what would a worker make next?
        os.write(write, unique.token().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    assert child != unique.token() and child != parent
