"""The personal-data leak scan (issue 9, part 2), shared by the authorization walk
(tests/security) and the fuzzers (tests/fuzz): what a caller got to see (a response body, a
rendered page, an export file, a log line) is searched for the city's clear phone numbers,
ID numbers, bank accounts and home addresses (those that are not also a shop's address
or mailing address, which are not personal fields), and for anything shaped like a mobile
number or an ID number.

The only clear value a caller may see is one its role may reveal (rights.csv), and only
where the read is logged: the one field a reveal answer is for, and an export file. Log
lines may hold none. Zero hits is the only pass.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from domain.access.rights import role_rights
from domain.ledger import IMPORT_RECORD, field_changes
from domain.models import Customer, LedgerEntry, TicketChange
from domain.vault import Vault, is_envelope

FIELDS = ("phone", "id_number", "bank_account", "home_address")  # catalogue keys
MOBILE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
ID_NUMBER = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")


@dataclass
class Artifact:
    """One thing a caller got to see: a response body, a page, an export file, a log line."""

    role: str | None  # None: a log line (written by the server, read by operators)
    kind: str  # graphql | page | export | log
    label: str
    text: str
    reveal_field: str | None = None  # a reveal answer: the one field it may show in clear
    # what the caller sent: a number *shaped* like a phone or ID number that the server
    # only echoes back (e.g. "Int cannot represent ... 13912345678") is the caller's own
    sent: str = ""


@dataclass
class Recorder:
    artifacts: list[Artifact] = field(default_factory=list)

    def add(self, role: str | None, kind: str, label: str, body: str, **kw: Any) -> None:
        self.artifacts.append(Artifact(role, kind, label, body, **kw))


class LogCollector(logging.Handler):
    """Every record of the loggers it is added to, as a ``log`` artifact (message and
    traceback)."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__(logging.DEBUG)
        self.recorder = recorder

    def emit(self, record: logging.LogRecord) -> None:
        text_ = record.getMessage()
        if record.exc_info:
            text_ += "\n" + logging.Formatter().formatException(record.exc_info)
        self.recorder.add(None, "log", record.name, text_)


@dataclass(frozen=True)
class Hit:
    artifact: str
    field: str
    value: str


def clear_values(engine: Engine, vault: Vault | None = None) -> dict[str, str]:
    """Each clear personal value of the city -> its field, read as the owner: the customers
    table, and with the vault, the sealed values of the ledger and of ticket changes (earlier
    and proposed values). Short values are skipped: a four-digit tail is what masking keeps."""
    out: dict[str, str] = {}

    def keep(key: str, value: Any) -> None:
        if isinstance(value, str) and len(value) >= 8 and value not in public:
            out.setdefault(value, key)

    with Session(engine) as s:
        # a shopkeeper living at the shop, or receiving mail at home, has a home address
        # equal to the shop's address or its mailing address: fields that are not personal
        public: set[str] = set()
        for column in (Customer.address, Customer.mailing_address):
            public.update(s.scalars(select(column).where(column.is_not(None))))
        rows = s.execute(
            select(Customer.phone, Customer.id_number, Customer.bank_account, Customer.home_address)
        )
        for row in rows:
            for key, value in zip(FIELDS, row, strict=True):
                keep(key, value)
        if vault is not None:
            for key, value in sealed_values(s, vault):
                keep(key, value)
    return out


def sealed_values(session: Session, vault: Vault) -> list[tuple[str, Any]]:
    """(field, value opened by the vault) of every personal value in the ledger (imported
    records included: one change per field) and in ticket changes."""
    out = []
    for table in (LedgerEntry, TicketChange):
        sealed = session.execute(
            select(table.field_key, table.old_value, table.new_value).where(
                table.field_key.in_((*FIELDS, IMPORT_RECORD))
            )
        )
        for c in (c for row in sealed for c in field_changes(*row)):
            if c.key in FIELDS:
                out += [(c.key, vault.open(v) if is_envelope(v) else v) for v in (c.old, c.new)]
    return out


def may_show(artifact: Artifact, key: str) -> bool:
    """Clear only where the role holds the grant and the read is logged: a reveal answer
    (personal_data_reveals) for the field asked, or an export file (export_logs)."""
    if artifact.role is None or key not in role_rights(artifact.role).reveals:
        return False
    return artifact.reveal_field == key or artifact.kind == "export"


def scan(artifacts: list[Artifact], clear: dict[str, str]) -> list[Hit]:
    hits = []
    for a in artifacts:
        who = a.role or ("log" if a.kind == "log" else "anonymous")
        label = f"{who} {a.kind} {a.label}"
        for value, key in clear.items():
            if value in a.text and not may_show(a, key):
                hits.append(Hit(label, key, value))
        shaped = [("phone", m) for m in MOBILE.findall(a.text)]
        shaped += [("id_number", m) for m in ID_NUMBER.findall(a.text)]
        for key, value in shaped:
            if value not in clear and value not in a.sent and not may_show(a, key):
                hits.append(Hit(label, f"{key}-shaped", value))
    return hits


def report(hits: list[Hit]) -> str:
    """The hits for an assertion message (the field and where, never the value itself)."""
    return "\n".join(f"{h.artifact}: {h.field}" for h in hits)
