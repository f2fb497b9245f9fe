"""The database's own guard of the scope rules: row-level security on ``customers``.

A web request (GraphQL or admin) runs as a role that owns no table, one per scope
(migration 0012): ``retailgis_app_city`` sees every shop, ``_county`` the shops in
``retailgis.region_id``, ``_team`` those of the managers in ``retailgis.org_unit_id``, ``_own``
those of ``retailgis.user_id``; ``retailgis_app`` (no principal, or a scope the matrix does
not know) sees none. The domain's own scope filters (``scope.py``) stay: they decide
NOT_FOUND and build the queries; the policies make sure that a query that forgets them
still cannot read another county's shops.

``enter_scope`` sets the role and the ids in one statement. In a transaction the settings
are local to it (``local=True``): COMMIT or ROLLBACK ends them. The read-only sessions run
in autocommit, where a local setting would end with each statement, so there they are set
for the connection (``local=False``): the connection remembers what it was given
(``SCOPE_CACHE``), so the next request of the same scope and ids on it sends nothing. A
pool shared with owner code runs ``LEAVE_SQL`` before the connection is reused
(``api.db.reset_row_security``); the web process's read-only requests have a pool of their
own that only they use (``api.db.read_engine``), where the scope stays between requests.

Code connected as the tables' owner (the CLI, the worker, the periodic run, migrations,
the demo loader, tests' own sessions) bypasses the policies: the owner is not subject to
RLS unless the table FORCEs it, and it does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from domain.access.principal import Principal
from domain.access.rights import role_rights
from domain.errors import FORBIDDEN, DomainError

APP_ROLE = "retailgis_app"  # no policy: no customer
SCOPE_ROLES = {scope: f"{APP_ROLE}_{scope}" for scope in ("city", "county", "team", "own")}
CITY_ROLE = SCOPE_ROLES["city"]
# marks a connection whose role was set for the connection, not a transaction
CONNECTION_MARK = "retailgis_row_security"
# what a connection's role and ids were last set to for the connection (local=False)
SCOPE_CACHE = "retailgis_scope"
_INFO = "row_security"

# The roles, made when missing (cluster-wide) and granted to the connecting user: what
# migration 0012 runs, and what a restore runs first (a dump's GRANTs and policies name
# the roles, and a new cluster has none).
ENSURE_ROLES_SQL = """
DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY[ROLES] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', name);
            EXCEPTION WHEN duplicate_object THEN
                NULL;
            END;
        END IF;
        IF name <> 'APP' AND NOT pg_has_role(name, 'APP', 'MEMBER') THEN
            EXECUTE format('GRANT %I TO %I', 'APP', name);
        END IF;
        IF NOT pg_has_role(current_user, name, 'MEMBER') THEN
            EXECUTE format('GRANT %I TO %I', name, current_user);
        END IF;
    END LOOP;
END $$;
""".replace("ROLES", ", ".join(f"'{r}'" for r in (APP_ROLE, *SCOPE_ROLES.values()))).replace(
    "'APP'", f"'{APP_ROLE}'"
)

_ENTER = text(
    "SELECT set_config('role', :role, :local), set_config('retailgis.user_id', :user, :local),"
    " set_config('retailgis.org_unit_id', :unit, :local),"
    " set_config('retailgis.region_id', :region, :local)"
)
_ROLE = text("SELECT set_config('role', :role, :local)")
LEAVE_SQL = (
    "SELECT set_config('role', 'none', false), set_config('retailgis.user_id', '', false),"
    " set_config('retailgis.org_unit_id', '', false),"
    " set_config('retailgis.region_id', '', false)"
)


@dataclass(frozen=True)
class _State:
    role: str
    local: bool


def role_for(principal: Principal | None) -> str:
    """The database role of a principal's scope (``retailgis_app``: none, sees nothing)."""
    if principal is None:
        return APP_ROLE
    return SCOPE_ROLES.get(role_rights(principal.role).scope, APP_ROLE)


def enter_scope(session: Session, principal: Principal | None, *, local: bool = True) -> None:
    """Run the rest of the session's work (``local``: of its transaction) as the principal's
    scope role with its ids; one statement."""
    role = role_for(principal)
    ids = {"user": "", "unit": "", "region": ""}
    if principal is not None:
        region = principal.region_id
        ids = {"user": str(principal.user_id), "unit": str(principal.org_unit_id),
               "region": "" if region is None else str(region)}  # fmt: skip
    session.info[_INFO] = _State(role, local)
    if local:
        session.execute(_ENTER, {"role": role, "local": True, **ids})
        return
    info = session.connection().info
    wanted = (role, ids["user"], ids["unit"], ids["region"])
    if info.get(SCOPE_CACHE) == wanted:
        return  # this connection was set so by the last request on it: nothing to send
    info.pop(SCOPE_CACHE, None)  # unknown until the statement succeeds
    info[CONNECTION_MARK] = True
    session.execute(_ENTER, {"role": role, "local": False, **ids})
    info[SCOPE_CACHE] = wanted


@contextmanager
def city_wide(session: Session) -> Iterator[None]:
    """Read every shop inside a request, for a rule that is city-wide by nature (a licence
    number is unique in the city; a route's figures count all its stops). What the caller
    gets to see must still be cut to the scope by the code inside; use it narrowly and
    say why at the call. Outside a scoped session (owner connections) it does nothing."""
    state: _State | None = session.info.get(_INFO)
    if state is None or state.role == CITY_ROLE:
        yield
        return
    with _as_role(session, state, CITY_ROLE):
        yield


@contextmanager
def _as_role(session: Session, state: _State, role: str) -> Iterator[None]:
    """The block runs as ``role``; then the session's own role again."""
    info = session.connection().info
    cached = None if state.local else info.pop(SCOPE_CACHE, None)  # stale until restored
    session.execute(_ROLE, {"role": role, "local": state.local})
    try:
        yield
    finally:
        try:
            session.execute(_ROLE, {"role": state.role, "local": state.local})
        except DBAPIError:
            if not state.local:
                raise
            # the transaction failed: its rollback ends the elevation with it
        else:
            if cached is not None:
                info[SCOPE_CACHE] = cached


@contextmanager
def city_copy(session: Session) -> Iterator[None]:
    """COPY into ``customers`` inside a request: PostgreSQL refuses COPY FROM to a table
    with row-level security for any role the policies apply to, whatever they say. A bulk
    import is city-wide by nature and only city roles run one (``admin.views.files``
    ``may_import``), so for the COPY alone the session goes back to the owner, and then to
    the city role. Refused for any other scope."""
    state: _State | None = session.info.get(_INFO)
    if state is None:
        yield
        return
    if state.role != CITY_ROLE:
        raise DomainError(FORBIDDEN, "批量导入须由全市范围的角色进行", "file")
    with _as_role(session, state, "none"):
        yield
