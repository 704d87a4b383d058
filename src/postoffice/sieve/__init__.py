"""Sieve mail filtering (RFC 5228): parse a user's script, run it against one message.

Pure: no I/O. `run(source, message)` answers the actions the MDA should take; a script that
fails to parse, check or run gives an error result whose actions are a plain keep, so a broken
script never loses mail."""

from postoffice.sieve.interpreter import (
    SUPPORTED,
    Action,
    Message,
    Result,
    check,
    execute,
    run,
    spam_value,
)
from postoffice.sieve.nodes import SieveError
from postoffice.sieve.parser import parse
from postoffice.sieve.vacation import Vacation, should_reply

__all__ = ["SUPPORTED", "Action", "Message", "Result", "SieveError", "Vacation", "check",
           "execute", "parse", "run", "should_reply", "spam_value"]
