"""Personal values at rest outside the customer record (ledger, ticket changes):
a masked form for display, a keyed fingerprint to compare without revealing, and the
value encrypted (AES-GCM) so an authorised replay can restore it.

The key comes from the application's settings; domain code never reads it from the
environment.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.masking import mask

ENVELOPE_KEYS = frozenset({"masked", "fp", "enc"})


class Vault:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the vault secret must be at least 32 bytes")
        self._enc_key = hashlib.sha256(b"retailgis-enc\0" + secret).digest()
        self._fp_key = hashlib.sha256(b"retailgis-fp\0" + secret).digest()

    def fingerprint(self, value: str) -> str:
        return hmac.new(self._fp_key, value.encode(), hashlib.sha256).hexdigest()[:32]

    def encrypt(self, value: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self._enc_key).encrypt(nonce, value.encode(), b"retailgis")
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str) -> str:
        raw = base64.urlsafe_b64decode(token.encode())
        return AESGCM(self._enc_key).decrypt(raw[:12], raw[12:], b"retailgis").decode()

    def seal(self, field_type: str, value: Any) -> dict[str, str] | None:
        """The envelope stored for a personal value (None stays None)."""
        if value is None:
            return None
        text = str(value)
        return {
            "masked": mask(field_type, text) or "",
            "fp": self.fingerprint(text),
            "enc": self.encrypt(text),
        }

    def open(self, envelope: Any) -> Any:
        """The clear value of an envelope; anything else is returned as is."""
        if is_envelope(envelope):
            return self.decrypt(envelope["enc"])
        return envelope


def is_envelope(value: Any) -> bool:
    return isinstance(value, dict) and value.keys() >= ENVELOPE_KEYS


def shown(value: Any) -> Any:
    """What a view shows of a stored JSON value: an envelope's masked form, else the value."""
    return value["masked"] if is_envelope(value) else value
