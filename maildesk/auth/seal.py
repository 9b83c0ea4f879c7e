"""Tokens sealed at rest: AES-GCM under a key derived from the desk secret, bound to the login name."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from maildesk.errors import MaildeskError

VERSION = b"s1"
NONCE_BYTES = 12


class SealBroken(MaildeskError):
    """A stored token cannot be opened: another desk secret sealed it, or it was altered."""


class Sealer:
    """Seals and opens small secrets. The login name is authenticated with each one, so a
    token copied to another name's row does not open there."""

    def __init__(self, secret: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"maildesk oauth2 token sealing").derive(secret)
        self._aead = AESGCM(key)

    def seal(self, name: str, value: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, value.encode(), name.encode())

    def open(self, name: str, sealed: bytes) -> str:
        if not sealed.startswith(VERSION) or len(sealed) < len(VERSION) + NONCE_BYTES + 16:
            raise SealBroken(f"the stored token of {name!r} is not in a known format")
        nonce = sealed[len(VERSION):len(VERSION) + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, sealed[len(VERSION) + NONCE_BYTES:], name.encode()).decode()
        except InvalidTag as exc:
            raise SealBroken(f"the stored token of {name!r} does not open with this desk's secret key "
                             f"(was [desk] secret_file replaced?); run `maildesk auth login {name}` again") from exc
