"""One masking function for every path; the vault's envelope."""

from __future__ import annotations

import pytest

from domain.masking import mask
from domain.vault import Vault, is_envelope, shown


@pytest.mark.parametrize(
    ("type_", "value", "masked"),
    [
        ("phone", "13812341234", "138****1234"),
        ("phone", "029-88881234", "029****1234"),
        ("bank_account", "6222021234567890123", "****0123"),
        ("id_number", "61010219900101123X", "6****************X"),
        ("text", "西安市雁塔区小寨东路12号3单元", "西安市雁塔区****"),
        ("text", "蓝田县华胥镇某村5组", "蓝田县****"),
        ("text", "某个无法识别的地址", "****"),
        ("phone", None, None),
    ],
)
def test_mask(type_: str, value: str | None, masked: str | None) -> None:
    assert mask(type_, value) == masked


def test_vault_envelope_hides_the_value_and_restores_it() -> None:
    vault = Vault(b"k" * 32)
    env = vault.seal("phone", "13812341234")
    assert env is not None and is_envelope(env)
    assert "13812341234" not in repr(env)
    assert shown(env) == "138****1234"
    assert vault.open(env) == "13812341234"
    # the same value has the same fingerprint, a different key another one
    assert vault.seal("phone", "13812341234")["fp"] == env["fp"]  # type: ignore[index]
    assert Vault(b"j" * 32).fingerprint("13812341234") != env["fp"]


def test_vault_refuses_a_short_secret() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Vault(b"short")


def test_sealing_a_column_at_once_gives_the_envelopes_of_seal() -> None:
    # given a column of personal values with an empty one
    vault = Vault(b"k" * 32)
    values = ["13812341234", None, "6222000000001234", "13812341234"]
    # when sealed at once
    many = vault.seal_many("phone", values)
    # then each is the envelope seal gives, but for its fresh nonce; empty stays empty
    assert many[1] is None
    for value, env in zip(values, many, strict=True):
        if value is None:
            continue
        assert env is not None and is_envelope(env) and vault.open(env) == value
        one = vault.seal("phone", value)
        assert one is not None and (env["masked"], env["fp"]) == (one["masked"], one["fp"])
        assert value not in env["enc"]
    assert many[0] is not None and many[3] is not None and many[0]["enc"] != many[3]["enc"]
