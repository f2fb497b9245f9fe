"""The one masking function for personal data, used on every path (API, admin, exports,
logs, errors, ledger views): phone ``138****1234``, bank account ``****1234``, ID number
first and last digits, an address down to its district."""

from __future__ import annotations

import re
from collections.abc import Callable

_DISTRICT = re.compile(r"^(.*?(?:自治县|[区县旗]))")


def mask_phone(value: str) -> str:
    digits = value.strip()
    if len(digits) <= 7:
        return "****"
    return f"{digits[:3]}****{digits[-4:]}"


def mask_bank_account(value: str) -> str:
    return "****" + value.strip()[-4:] if len(value.strip()) > 4 else "****"


def mask_id_number(value: str) -> str:
    v = value.strip()
    return f"{v[:1]}{'*' * max(len(v) - 2, 4)}{v[-1:]}" if len(v) > 2 else "****"


def mask_address(value: str) -> str:
    m = _DISTRICT.match(value.strip())
    return f"{m.group(1)}****" if m else "****"


def _mask_all(value: str) -> str:
    return "****"


# By the catalogue's storage type; personal free text (e.g. home address) keeps its district.
_MASKERS: dict[str, Callable[[str], str]] = {
    "phone": mask_phone,
    "bank_account": mask_bank_account,
    "id_number": mask_id_number,
    "text": mask_address,
}


def mask(field_type: str, value: object) -> str | None:
    """Masked form of a personal value of a field with this catalogue type (None stays None)."""
    if value is None:
        return None
    masker = _MASKERS.get(field_type, _mask_all)
    return masker(str(value))
