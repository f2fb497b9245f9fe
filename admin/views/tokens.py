"""API bearer tokens (/admin/tokens): the signed-in user's own tokens, or every user's for
the information department (it_admin); create one (its secret shown once, in the answer to
the POST only: never stored, logged or put in a URL), revoke one. Who may manage whose
tokens is the domain's (``domain.users.create_token_as``, ``revoke_token_as``)."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admin.web import db, field_errors, form, is_htmx, now, principal, render, view
from domain.errors import INVALID_TYPE, NOT_FOUND, DomainError, ValidationFailed
from domain.users import (
    MAX_TOKEN_NAME,
    TOKEN_DAYS,
    create_token_as,
    manages_all_tokens,
    revoke_token_as,
    token_owners,
    tokens_for,
)

log = logging.getLogger("retailgis.admin")

TEMPLATE = "tokens/index.html"
DEFAULT_DAYS = 90
STATUS_ZH = {"active": "有效", "expired": "已过期", "revoked": "已吊销"}


def _page(request: Request, **ctx: Any) -> Response:
    """The whole page, or for htmx the block below the heading (list and form)."""
    who = principal(request)
    manages_all = manages_all_tokens(who)
    with db(request) as session:
        rows = tokens_for(session, who)
        owners = token_owners(session, who) if manages_all else []
    base: dict[str, Any] = {
        "rows": rows, "owners": owners, "manages_all": manages_all,
        "at": now(request), "status_zh": STATUS_ZH, "errors": {},
        "days_range": TOKEN_DAYS, "max_name": MAX_TOKEN_NAME,
        "entered": {"name": "", "days": str(DEFAULT_DAYS), "user": who.username},
    }  # fmt: skip
    block = "tokens" if is_htmx(request) else None
    headers = {"Cache-Control": "no-store"}  # the answer to a creation holds its secret
    return render(request, TEMPLATE, {**base, **ctx}, block=block, headers=headers)


@view
def tokens_page(request: Request) -> Response:
    return _page(request)


def _days(text: str) -> int:
    """Whole days in ASCII digits (int() would also take "1_0", "+5" or other scripts)."""
    if text.isascii() and text.isdigit():
        return int(text)
    low, high = TOKEN_DAYS
    error = DomainError(INVALID_TYPE, f"有效期须为 {low} 到 {high} 之间的整数（天）", "days")
    raise ValidationFailed([error])


@view
def create(request: Request) -> Response:
    who = principal(request)
    data = form(request)
    entered = {
        "name": str(data.get("name") or ""),
        "days": str(data.get("days") or "").strip(),
        "user": str(data.get("user") or "").strip() or who.username,
    }
    try:
        days = _days(entered["days"])
        with db(request) as session:
            made = create_token_as(
                session, who, name=entered["name"], days=days, username=entered["user"],
                now=now(request),
            )  # fmt: skip
    except DomainError as err:  # rolled back: nothing was created
        return _page(request, errors=field_errors(err), entered=entered)
    row = made.row
    log.info("admin: API token %s created for %s by %s (%s days)",
             row.prefix, row.username, who.username, days)  # fmt: skip
    return _page(request, created=row, secret=made.secret)


@view
def revoke(request: Request) -> Response:
    who = principal(request)
    token_id = int(request.path_params["token_id"])
    try:
        with db(request) as session:
            row = revoke_token_as(session, who, token_id, now=now(request))
    except DomainError as err:  # rolled back: nothing changed
        if err.code == NOT_FOUND:
            block = "missing" if is_htmx(request) else None
            return render(request, "tokens/missing.html", {"message": err.message},
                          block=block, status=404)  # fmt: skip
        return _page(request, notice=err.message)
    log.info("admin: API token %s of %s revoked by %s", row.prefix, row.username, who.username)
    return _page(request, revoked=row)


ROUTES: list[BaseRoute] = [
    Route("/tokens", tokens_page, methods=["GET"]),
    Route("/tokens", create, methods=["POST"]),
    Route("/tokens/{token_id:int}/revoke", revoke, methods=["POST"]),
]
