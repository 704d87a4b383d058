"""The DKIM error: one type for everything the signer (and later the verifier) refuses."""

from __future__ import annotations

from postoffice.errors import PostofficeError


class DkimError(PostofficeError):
    """A DKIM input cannot be used: bad key, bad tag list, message without From, ...

    The message is one line that names what is wrong."""
