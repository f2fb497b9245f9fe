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
from collections.abc import Sequence
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
        # built once: an import seals hundreds of thousands of values
        self._aead = AESGCM(self._enc_key)
        self._fp_mac = hmac.new(self._fp_key, digestmod=hashlib.sha256)

    def fingerprint(self, value: str) -> str:
        mac = self._fp_mac.copy()
        mac.update(value.encode())
        return mac.hexdigest()[:32]

    def encrypt(self, value: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode(), b"retailgis")
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str) -> str:
        raw = base64.urlsafe_b64decode(token.encode())
        return self._aead.decrypt(raw[:12], raw[12:], b"retailgis").decode()

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

    def seal_many(self, field_type: str, values: Sequence[Any]) -> list[dict[str, str] | None]:
        """``seal`` of each value, for a whole column at once (one draw of the nonces)."""
        nonces = os.urandom(12 * len(values))
        aead, base = self._aead.encrypt, self._fp_mac
        out: list[dict[str, str] | None] = []
        for i, value in enumerate(values):
            if value is None:
                out.append(None)
                continue
            text = str(value)
            raw = text.encode()
            mac = base.copy()
            mac.update(raw)
            nonce = nonces[12 * i : 12 * i + 12]
            token = base64.urlsafe_b64encode(nonce + aead(nonce, raw, b"retailgis")).decode()
            shown = mask(field_type, text) or ""
            out.append({"masked": shown, "fp": mac.hexdigest()[:32], "enc": token})
        return out

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
