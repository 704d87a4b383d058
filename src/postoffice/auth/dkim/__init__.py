"""DKIM (RFC 6376, RFC 8463 Ed25519): canonicalisation, keys and signing.

``canonical`` is shared by the signer here and the verifier: one implementation of what is hashed.
"""

from postoffice.auth.dkim.errors import DkimError
from postoffice.auth.dkim.keys import (
    Algorithm,
    PrivateKey,
    PublicKey,
    generate_key,
    load_private_key,
    private_key_pem,
    public_key_record,
    selector_name,
)
from postoffice.auth.dkim.sign import DEFAULT_HEADERS, SigningKey, sign, sign_many

__all__ = [
    "DEFAULT_HEADERS",
    "Algorithm",
    "DkimError",
    "PrivateKey",
    "PublicKey",
    "SigningKey",
    "generate_key",
    "load_private_key",
    "private_key_pem",
    "public_key_record",
    "selector_name",
    "sign",
    "sign_many",
]
