"""Identifiers with real-world structure: phones, ID numbers, bank accounts, tax ids."""

from __future__ import annotations

import numpy as np

from domain.demo.common import DateArray, IntArray

# ISO 7064 MOD 11-2 (GB 11643) for resident ID numbers.
ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
ID_CHECK = "10X98765432"
# GB 32100 unified social credit code (统一社会信用代码).
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
MOBILE_PREFIXES = ("13", "15", "18", "17", "19", "13", "15", "18", "14", "16")


def _digits_to_str(digits: IntArray) -> list[str]:
    """Rows of single digits (0..9) to strings, vectorised through a byte view."""
    codes = (digits + ord("0")).astype(np.uint8)
    width = digits.shape[1]
    raw = np.ascontiguousarray(codes).view(f"S{width}").ravel()
    return [b.decode() for b in raw.tolist()]


def mobile_phones(rng: np.random.Generator, n: int) -> list[str]:
    """Mobile numbers ``1[3-9]`` + 9 digits."""
    prefix = rng.integers(0, len(MOBILE_PREFIXES), size=n)
    rest = rng.integers(0, 10, size=(n, 9))
    return [
        MOBILE_PREFIXES[p] + r for p, r in zip(prefix.tolist(), _digits_to_str(rest), strict=True)
    ]


def landlines(rng: np.random.Generator, n: int) -> list[str]:
    """Xi'an landlines ``029-8xxxxxxx``."""
    rest = rng.integers(0, 10, size=(n, 7))
    return ["029-8" + r for r in _digits_to_str(rest)]


def id_numbers(
    rng: np.random.Generator, region_codes: list[str], births: DateArray, male: np.ndarray
) -> list[str]:
    """18-character resident ID numbers: region, birth date, sequence (odd = male), check."""
    n = len(region_codes)
    digits = np.zeros((n, 17), dtype=np.int64)
    region = np.array([[int(c) for c in code] for code in region_codes], dtype=np.int64).reshape(
        n, 6
    )
    digits[:, :6] = region
    ymd = np.char.replace(np.datetime_as_string(births, unit="D"), "-", "")
    birth = np.frombuffer(np.ascontiguousarray(ymd.astype("S8")).tobytes(), dtype=np.uint8)
    digits[:, 6:14] = birth.reshape(n, 8).astype(np.int64) - ord("0")
    seq = rng.integers(0, 500, size=n) * 2 + np.where(male, 1, 0)
    digits[:, 14] = seq // 100
    digits[:, 15] = (seq // 10) % 10
    digits[:, 16] = seq % 10
    check = (digits * ID_WEIGHTS).sum(axis=1) % 11
    body = _digits_to_str(digits)
    return [b + ID_CHECK[c] for b, c in zip(body, check.tolist(), strict=True)]


def id_check_char(body17: str) -> str:
    total = sum(int(d) * int(w) for d, w in zip(body17, ID_WEIGHTS.tolist(), strict=True))
    return ID_CHECK[total % 11]


def bank_accounts(rng: np.random.Generator, bins: list[str]) -> list[str]:
    """19-digit card accounts: the bank's 6-digit BIN, 12 digits, a Luhn check digit."""
    n = len(bins)
    digits = np.zeros((n, 18), dtype=np.int64)
    digits[:, :6] = np.array([[int(c) for c in b] for b in bins], dtype=np.int64).reshape(n, 6)
    digits[:, 6:] = rng.integers(0, 10, size=(n, 12))
    # Luhn: from the right of the full number, the check digit is position 1; double even ones.
    doubled = digits[:, ::-1].copy()
    doubled[:, ::2] *= 2
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    check = (10 - doubled.sum(axis=1) % 10) % 10
    return [b + str(c) for b, c in zip(_digits_to_str(digits), check.tolist(), strict=True)]


def tax_ids(rng: np.random.Generator, region_codes: list[str], enterprise: np.ndarray) -> list[str]:
    """Unified social credit codes: 92 (individual business) / 91 (enterprise) + region + ..."""
    n = len(region_codes)
    vals = np.zeros((n, 17), dtype=np.int64)
    vals[:, 0] = 9
    vals[:, 1] = np.where(enterprise, 1, 2)
    vals[:, 2:8] = np.array([[int(c) for c in code] for code in region_codes]).reshape(n, 6)
    vals[:, 8:17] = rng.integers(0, len(USCC_CHARS), size=(n, 9))
    vals[:, 8] = USCC_CHARS.index("M")  # the common "MA..." codes
    vals[:, 9] = USCC_CHARS.index("A")
    check = (31 - (vals * USCC_WEIGHTS).sum(axis=1) % 31) % 31
    table = np.frombuffer(USCC_CHARS.encode(), dtype=np.uint8)
    chars = np.concatenate([table[vals], table[check][:, None]], axis=1)
    raw = np.ascontiguousarray(chars).view("S18").ravel()
    return [b.decode() for b in raw.tolist()]


def unique_digits(rng: np.random.Generator, n: int, width: int, first_min: int = 1) -> list[str]:
    """``n`` distinct ``width``-digit numbers whose first digit is at least ``first_min``."""
    low = first_min * 10 ** (width - 1)
    values = rng.choice(10**width - low, size=n, replace=False) + low
    return [str(v) for v in values.tolist()]
