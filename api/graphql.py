"""POST /graphql: authenticate, bound the request, execute in a worker thread with one
session (one transaction) per request; unexpected errors are masked and logged."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid
from typing import Any

from graphql import GraphQLError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.access import load_principal
from domain.errors import DomainError
from domain.users import user_for_token
from domain.vault import Vault
from schema import schema
from schema.context import Context
from schema.loaders import make_loaders

log = logging.getLogger("retailgis.graphql")
MAX_BODY_BYTES = 100_000


def _error(status: int, message: str, request_id: uuid.UUID) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"requestId": str(request_id)}}]},
        status_code=status,
    )


def _format_error(error: GraphQLError, request_id: uuid.UUID) -> dict[str, Any]:
    original = error.original_error
    out: dict[str, Any]
    if original is None or isinstance(original, GraphQLError):
        out = dict(error.formatted)
    elif isinstance(original, DomainError):
        out = {"message": original.message, "path": error.path,
               "extensions": {"code": original.code, "field": original.field}}  # fmt: skip
    else:
        log.error("request %s: unexpected error in %s", request_id, error.path, exc_info=original)
        out = {"message": "服务器内部错误，请联系管理员并提供请求编号", "path": error.path,
               "extensions": {"code": "INTERNAL", "requestId": str(request_id)}}  # fmt: skip
    return out


def _execute(factory: sessionmaker[Session], vault: Vault, token: str | None, body: dict[str, Any],
             request_id: uuid.UUID) -> tuple[int, dict[str, Any]]:  # fmt: skip
    with factory() as session:
        principal = None
        if token:
            user = user_for_token(session, token)
            if user is None:
                return 401, {"errors": [{"message": "访问令牌无效、已过期或已吊销",
                                         "extensions": {"code": "UNAUTHENTICATED"}}]}  # fmt: skip
            principal = load_principal(session, user.id, request_id)
        context = Context(
            session=session, principal=principal, vault=vault, now=dt.datetime.now(dt.UTC),
            request_id=request_id, loaders=make_loaders(session),
        )  # fmt: skip
        result = asyncio.run(
            schema.execute(
                body["query"], variable_values=body.get("variables"),
                operation_name=body.get("operationName"), context_value=context,
            )
        )  # fmt: skip
        if result.errors and any(
            e.original_error is not None
            and not isinstance(e.original_error, DomainError | GraphQLError)
            for e in result.errors
        ):
            session.rollback()
        else:
            session.commit()
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [_format_error(e, request_id) for e in result.errors]
    return 200, payload


async def graphql_endpoint(request: Request) -> Response:
    request_id = uuid.uuid4()
    if request.method != "POST":
        return _error(405, "请使用 POST 提交 GraphQL 请求", request_id)
    if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
        return _error(413, f"请求体超过 {MAX_BODY_BYTES} 字节", request_id)
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        return _error(413, f"请求体超过 {MAX_BODY_BYTES} 字节", request_id)
    try:
        body = json.loads(raw)
    except ValueError:
        return _error(400, "请求体不是有效的 JSON", request_id)
    if isinstance(body, list):
        return _error(400, "不支持批量请求", request_id)
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return _error(400, "缺少 query", request_id)
    if body.get("variables") is not None and not isinstance(body["variables"], dict):
        return _error(400, "variables 须为对象", request_id)
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    status, payload = await run_in_threadpool(
        _execute, request.app.state.sessionmaker, request.app.state.vault, token, body, request_id
    )
    return JSONResponse(payload, status_code=status, headers={"X-Request-Id": str(request_id)})
