"""The postoffice error tree. CLI faces print `str(error)` as one line and exit non-zero."""

from __future__ import annotations


class PostofficeError(Exception):
    """Base of every error postoffice raises on purpose."""


class ConfigError(PostofficeError):
    """The configuration file or environment is invalid; the message names the key."""


class UsageError(PostofficeError):
    """A command was called with arguments that cannot work (bad address, missing data dir)."""
