"""POST /graphql: authenticate, bound the request, execute in a worker thread with one
session (one transaction) per request; unexpected errors are masked and logged.

A mutation with one top-level field and an `idempotencyKey` argument is answered once: a
retry with the same key and the same field and arguments gets the stored body (without
executing), the same key with other input gets IDEMPOTENCY_MISMATCH. Production uses the
hardened schema (no introspection, no suggestions)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import strawberry
from anyio import CapacityLimiter, to_thread
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
    value_from_ast_untyped,
)
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType as StrawberryOperation

from admin.auth import SESSION_COOKIE
from api.principals import PrincipalCache
from api.readonly import run_in_thread_loop
from domain import idempotency
from domain.access import Principal
from domain.access.rowsecurity import enter_scope
from domain.errors import IDEMPOTENCY_MISMATCH, INVALID, DomainError
from domain.signin import CSRF_MISSING, session_principal
from domain.vault import Vault
from schema import schema as development_schema
from schema.context import Context
from schema.documents import DocumentCache, is_query
from schema.fastpath import FastPath
from schema.loaders import make_loaders
from schema.root import production_schema
from schema.security import MAX_TOKENS, NUL_REFUSED, describe_unexpected

log = logging.getLogger("retailgis.graphql")
# subscriptions run over the websocket (api/subscriptions.py), not POST
HTTP_OPERATIONS = frozenset({StrawberryOperation.QUERY, StrawberryOperation.MUTATION})
MAX_BODY_BYTES = 100_000
# Requests a process executes at once (each holds a database connection). Python runs one
# thread at a time, so a few threads only overlap the waits on PostgreSQL; more would hold
# more connections (and, beyond the pool, open and close one per request).
MAX_CONCURRENT = 8


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
    else:  # logged once, by the schema's process_errors (schema/security.py)
        out = {**_internal(request_id), "path": error.path}
    return out


def _internal(request_id: uuid.UUID) -> dict[str, Any]:
    """An unexpected failure as the client sees it: no detail, the request id to quote."""
    return {"message": "服务器内部错误，请联系管理员并提供请求编号",
            "extensions": {"code": "INTERNAL", "requestId": str(request_id)}}  # fmt: skip


def _render(payload: dict[str, Any]) -> bytes:
    """The body as Starlette's JSONResponse renders it (stored as is for a replay)."""
    return json.dumps(
        payload, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def _refusal(message: str, code: str) -> bytes:
    return _render({"data": None, "errors": [{"message": message, "extensions": {"code": code}}]})


_UNAUTHENTICATED = _render(
    {"errors": [{"message": "访问令牌无效、已过期或已吊销",
                 "extensions": {"code": "UNAUTHENTICATED"}}]}
)  # fmt: skip
_SESSION_ENDED = _render(
    {"errors": [{"message": "登录已失效，请重新登录",
                 "extensions": {"code": "UNAUTHENTICATED"}}]}
)  # fmt: skip
_CSRF_REFUSED = _render(
    {"errors": [{"message": "使用登录会话调用时须带 X-CSRF-Token 请求头（页面中的 CSRF 令牌）",
                 "extensions": {"code": "FORBIDDEN"}}]}
)  # fmt: skip


# --- idempotency keys ---------------------------------------------------------------------


@dataclass(frozen=True)
class KeyedCall:
    key: str
    field: str  # the mutation field, e.g. updateCustomer
    request_hash: str


def _root_fields(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], seen: set[str]
) -> list[FieldNode]:
    fields: list[FieldNode] = []
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            fields.append(sel)
        elif isinstance(sel, InlineFragmentNode):
            fields += _root_fields(sel.selection_set, fragments, seen)
        elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen:
            fragment = fragments.get(sel.name.value)
            seen.add(sel.name.value)
            if fragment is not None:
                fields += _root_fields(fragment.selection_set, fragments, seen)
    return fields


def _operation(body: dict[str, Any]) -> tuple[OperationDefinitionNode, list[FieldNode]] | None:
    """The requested mutation and its top-level fields, if the document is one."""
    try:
        document = parse(body["query"], max_tokens=MAX_TOKENS)
    except GraphQLError:
        return None  # execution reports it
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    name = body.get("operationName")
    named = [o for o in ops if name is None or (o.name is not None and o.name.value == name)]
    if len(named) != 1 or named[0].operation != OperationType.MUTATION:
        return None
    defs = document.definitions
    fragments = {d.name.value: d for d in defs if isinstance(d, FragmentDefinitionNode)}
    return named[0], _root_fields(named[0].selection_set, fragments, set())


def keyed_call(body: dict[str, Any]) -> KeyedCall | str | None:
    """The keyed mutation a request makes; a refusal message; or None (not keyed)."""
    if "idempotencyKey" not in body["query"]:
        return None
    found = _operation(body)
    if found is None:
        return None
    op, fields = found
    if not any(a.name.value == "idempotencyKey" for f in fields for a in f.arguments or ()):
        return None
    if len(fields) != 1:
        return "带 idempotencyKey 的请求只能包含一个变更字段"
    variables = dict(body.get("variables") or {})
    for var in op.variable_definitions or ():
        if var.variable.name.value not in variables and var.default_value is not None:
            variables[var.variable.name.value] = value_from_ast_untyped(var.default_value)
    field = fields[0]
    args = {a.name.value: value_from_ast_untyped(a.value, variables) for a in field.arguments or ()}
    key = args.pop("idempotencyKey")
    if key is None or not isinstance(key, str):
        return None  # no key, or the wrong type (validation reports it)
    if not 1 <= len(key) <= idempotency.MAX_KEY_LENGTH:
        return f"idempotencyKey 须为 1 到 {idempotency.MAX_KEY_LENGTH} 个字符"
    if "\x00" in key:  # a literal's; the endpoint refuses it in variables
        return NUL_REFUSED
    return KeyedCall(key, field.name.value, idempotency.request_hash(field.name.value, args))


# --- execution ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    schema: strawberry.Schema  # the development or the production variant
    token: str | None
    body: dict[str, Any]
    request_id: uuid.UUID
    # The admin's session cookie and the CSRF header sent with it (when no bearer token).
    session_cookie: str | None = None
    csrf: str | None = None


@dataclass(frozen=True)
class Runtime:
    """What the endpoint needs from the application, made once by ``create_app``."""

    sessions: sessionmaker[Session]  # one transaction per request (mutations)
    read_sessions: sessionmaker[Session]  # autocommit, writes refused (queries)
    vault: Vault
    principals: PrincipalCache
    fast: FastPath | None = None  # the hot query shapes, run without graphql-core
    read_pool: Any = None  # the read sessions' QueuePool (its free connections), if pooled
    _limiter: list[CapacityLimiter] = field(default_factory=list)

    def limiter(self) -> CapacityLimiter:
        """``MAX_CONCURRENT`` worker threads for this app (made in the running loop)."""
        if not self._limiter:
            self._limiter.append(CapacityLimiter(MAX_CONCURRENT))
        return self._limiter[0]


def _known_query(call: Call, keyed: KeyedCall | None) -> DocumentNode | None:
    """The document of a query already validated: it reads only, and may take the fast
    path (the first sight of a document, and anything else, runs in a transaction)."""
    documents: DocumentCache | None = getattr(call.schema, "documents", None)
    if keyed is not None or documents is None:
        return None
    document = documents.get(call.body["query"])
    return document if is_query(document, call.body.get("operationName")) else None


def _lookup(runtime: Runtime, call: Call) -> bool:
    """Whether the request is a known query of unique-key lookups only (``Plan.lookup``:
    ``customer(id|code)`` with plain fields), with a read connection free. It then runs on
    the event loop: one index lookup takes about 0.1 ms, less than handing the request to
    a worker thread and back costs (a quarter of the throughput of such requests); every
    other request, and a first sight of any document, goes to the worker threads."""
    fast = runtime.fast
    if fast is None or fast.schema is not call.schema or call.token is None:
        return False
    document = _known_query(call, None)
    if document is None or "idempotencyKey" in call.body["query"]:
        return False
    plan = fast.plan(call.body["query"], document, call.body.get("operationName"))
    pool = runtime.read_pool
    return plan is not None and plan.lookup and (pool is None or pool.checkedout() < pool.size())


def _fast(runtime: Runtime, call: Call, document: DocumentNode, context: Context) -> bytes | None:
    fast = runtime.fast
    if fast is None or fast.schema is not call.schema:
        return None
    body = call.body
    data = fast.execute(
        body["query"], document, body.get("operationName"), body.get("variables"), context
    )
    if isinstance(data, str):  # rendered by PostgreSQL
        return b'{"data":' + data.encode("utf-8") + b"}"
    return None if data is None else _render({"data": data})


def _replay(session: Session, principal: Principal, keyed: KeyedCall) -> bytes | None:
    """The stored answer of a keyed call already made (or the refusal of a key reused for
    another request); None: this call is the first, and its key is now claimed."""
    before = idempotency.claim(session, user_id=principal.user_id, key=keyed.key)
    if before is None:
        return None
    session.commit()  # the token's last use; releases the lock
    if (before.operation, before.request_hash) == (keyed.field, keyed.request_hash):
        return before.response.encode("utf-8")
    return _refusal(
        f"idempotencyKey {keyed.key!r} 已用于另一请求（{before.operation}），"
        "同一键只能重试完全相同的请求",
        IDEMPOTENCY_MISMATCH,
    )


def _graphql(call: Call, context: Context, keyed: KeyedCall | None) -> bytes:
    """Run the request through strawberry; commit, or roll back after an unexpected error."""
    session = context.session
    context.loaders = make_loaders(session)
    try:
        result = run_in_thread_loop(
            call.schema.execute(
                call.body["query"], variable_values=call.body.get("variables"),
                operation_name=call.body.get("operationName"), context_value=context,
                allowed_operation_types=HTTP_OPERATIONS,
            )
        )  # fmt: skip
    except MissingQueryError:
        return _refusal("query 为空", INVALID)
    except CannotGetOperationTypeError as exc:  # no such operationName, or several unnamed
        return _refusal(exc.as_http_error_reason(), INVALID)
    except InvalidOperationTypeError:
        return _refusal(
            "订阅请通过 WebSocket（graphql-transport-ws）进行，POST 不支持订阅", INVALID
        )
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [_format_error(e, call.request_id) for e in result.errors]
    rendered = _render(payload)
    if result.errors and any(
        e.original_error is not None
        and not isinstance(e.original_error, DomainError | GraphQLError)
        for e in result.errors
    ):
        session.rollback()
        return rendered
    principal = context.principal
    if keyed is not None and principal is not None and result.data is not None:
        idempotency.remember(
            session, user_id=principal.user_id, key=keyed.key, operation=keyed.field,
            hash_=keyed.request_hash, response=rendered.decode("utf-8"),
        )  # fmt: skip
    session.commit()
    return rendered


def _session_principal(
    session: Session, call: Call
) -> tuple[tuple[int, bytes] | None, Principal | None]:
    """The admin user behind a session cookie; the session's CSRF token must come along
    in ``X-CSRF-Token`` (a page of the admin has it), so another site cannot call."""
    principal, refused = session_principal(
        session, call.session_cookie or "", call.csrf, now=dt.datetime.now(dt.UTC),
        request_id=call.request_id,
    )  # fmt: skip
    if refused == CSRF_MISSING:
        return (403, _CSRF_REFUSED), None
    if principal is None:
        return (401, _SESSION_ENDED), None
    return None, principal


def _execute(runtime: Runtime, call: Call, *, only_fast: bool = False) -> tuple[int, bytes] | None:
    """The request's status and body; with ``only_fast``, None when the fast path does not
    answer it (nothing was written: the caller runs it again in a worker thread)."""
    keyed = keyed_call(call.body)
    if isinstance(keyed, str):
        return 200, _refusal(keyed, INVALID)
    known = _known_query(call, keyed)
    factory = runtime.sessions if known is None else runtime.read_sessions
    with factory() as session:
        principal = None
        if call.token:
            principal = runtime.principals.principal(session, call.token, call.request_id)
            if principal is None:
                return 401, _UNAUTHENTICATED
        elif call.session_cookie:
            refused, principal = _session_principal(session, call)
            if refused is not None:
                return refused
        # the rest runs as the principal's scope role: RLS backs the scope filters
        enter_scope(session, principal, local=known is None)
        if keyed is not None and principal is not None:
            replayed = _replay(session, principal, keyed)
            if replayed is not None:
                return 200, replayed
        context = Context(
            session=session, principal=principal, vault=runtime.vault,
            now=dt.datetime.now(dt.UTC), request_id=call.request_id,
        )  # fmt: skip
        if known is not None and (fast := _fast(runtime, call, known, context)) is not None:
            return 200, fast
        if only_fast:  # on the event loop: graphql-core's executor runs in a worker thread
            return None
        return 200, _graphql(call, context, keyed)


def _not_json(constant: str) -> Any:
    """NaN, Infinity and -Infinity are Python's extension, not JSON (RFC 8259)."""
    raise ValueError(f"{constant} is not JSON")


def _finite(text: str) -> float:
    """A JSON number as a float; one too large for a float (1e400) is refused, not infinity."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _nul_in(value: Any) -> bool:
    """Whether a string (or an object's key) anywhere in the variables holds U+0000, which
    PostgreSQL's text and jsonb cannot store. Iterative: the nesting is the client's."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


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
        body = json.loads(raw, parse_constant=_not_json, parse_float=_finite)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        return _error(400, "请求体不是有效的 JSON", request_id)
    if isinstance(body, list):
        return _error(400, "不支持批量请求", request_id)
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return _error(400, "缺少 query", request_id)
    if body.get("variables") is not None and not isinstance(body["variables"], dict):
        return _error(400, "variables 须为对象", request_id)
    if body.get("operationName") is not None and not isinstance(body["operationName"], str):
        return _error(400, "operationName 须为字符串", request_id)
    if _nul_in(body.get("variables")):
        return Response(
            _refusal(NUL_REFUSED, INVALID), media_type="application/json",
            headers={"X-Request-Id": str(request_id)},
        )  # fmt: skip
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    production = request.app.state.settings.is_production
    cookie = None if token else request.cookies.get(SESSION_COOKIE)
    call = Call(
        production_schema if production else development_schema, token, body, request_id,
        session_cookie=cookie, csrf=request.headers.get("x-csrf-token"),
    )  # fmt: skip
    runtime: Runtime = request.app.state.graphql
    try:
        answer = _execute(runtime, call, only_fast=True) if _lookup(runtime, call) else None
        if answer is None:
            answer = await to_thread.run_sync(_execute, runtime, call, limiter=runtime.limiter())
        assert answer is not None
        status, content = answer
    except Exception as exc:  # e.g. a commit refused by a deferred constraint, a lost server
        log.error("request %s: %s", request_id, describe_unexpected(exc, "commit"))
        status, content = 500, _render({"data": None, "errors": [_internal(request_id)]})
    return Response(
        content, status_code=status, media_type="application/json",
        headers={"X-Request-Id": str(request_id)},
    )  # fmt: skip
