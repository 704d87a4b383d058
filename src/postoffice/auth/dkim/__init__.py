"""DKIM (RFC 6376, RFC 8463 Ed25519): canonicalisation, keys, signing and verification.

``canonical`` is shared by the signer and the verifier: one implementation of what is hashed;
``signature`` and ``checks`` are shared by the verifier and ARC (:mod:`postoffice.auth.arc`).
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
from postoffice.auth.dkim.verify import DkimResult, DkimStatus, VerifyPolicy, verify

__all__ = [
    "DEFAULT_HEADERS",
    "Algorithm",
    "DkimError",
    "DkimResult",
    "DkimStatus",
    "PrivateKey",
    "PublicKey",
    "SigningKey",
    "VerifyPolicy",
    "generate_key",
    "load_private_key",
    "private_key_pem",
    "public_key_record",
    "selector_name",
    "sign",
    "sign_many",
    "verify",
]
