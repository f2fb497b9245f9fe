"""row-level security on customers: the web requests run as roles that do not own tables

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23

Roles (NOLOGIN, cluster-wide, made only when missing):

- ``retailgis_app``: SELECT/INSERT/UPDATE/DELETE on the application's tables (the ledger:
  SELECT/INSERT only), USAGE/SELECT on their sequences, and the same by default on tables
  later migrations create. It owns nothing, and no policy names it: as itself it sees no
  customer (RLS fails closed).
- ``retailgis_app_city`` / ``_county`` / ``_team`` / ``_own``: members of ``retailgis_app``,
  one per scope of ``domain/access/rights.csv``, each with one policy on ``customers``
  whose condition uses an indexed column (so a county's list still uses the index on
  ``admin_region_id`` and the city's has no condition at all). The ids come from
  ``retailgis.user_id``, ``retailgis.org_unit_id`` and ``retailgis.region_id``, set with the
  role by ``domain/access/rowsecurity.py`` at the start of each web request; unset, they
  match no row.

The migrating user (the tables' owner) is granted every role so the web process can
``SET ROLE`` to them. The owner keeps bypassing RLS (no FORCE): the CLI, the worker, the
periodic run, the demo loader, migrations and backups connect as the owner.

The downgrade drops the policies and the grants in this database but keeps the roles:
they are cluster-wide, and other databases of the cluster may use them.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP = "retailgis_app"
SCOPE_ROLES = ("retailgis_app_city", "retailgis_app_county", "retailgis_app_team",
               "retailgis_app_own")  # fmt: skip


def _setting(name: str) -> str:
    # '' once a setting has been set and reset in the session: the same as unset (no row)
    return f"nullif(current_setting('retailgis.{name}', true), '')::bigint"


POLICIES = {
    "retailgis_app_city": "true",
    "retailgis_app_county": f"admin_region_id = {_setting('region_id')}",
    "retailgis_app_team": (
        "customer_manager_id IN (SELECT u.id FROM users u"
        f" WHERE u.org_unit_id = {_setting('org_unit_id')})"
    ),
    "retailgis_app_own": f"customer_manager_id = {_setting('user_id')}",
}

ENSURE_ROLES = f"""
DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['{APP}', '{"', '".join(SCOPE_ROLES)}'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', name);
            EXCEPTION WHEN duplicate_object THEN
                NULL;  -- made meanwhile by a migration of another database
            END;
        END IF;
        IF name <> '{APP}' AND NOT pg_has_role(name, '{APP}', 'MEMBER') THEN
            EXECUTE format('GRANT %I TO %I', '{APP}', name);
        END IF;
        IF NOT pg_has_role(current_user, name, 'MEMBER') THEN
            EXECUTE format('GRANT %I TO %I', name, current_user);
        END IF;
    END LOOP;
END $$;
"""


# A route's figures are the whole route's whoever asks: the fast path renders its stop count
# inside one statement, so it counts through this function, run as its owner (past RLS).
STOP_COUNT = """
CREATE FUNCTION route_stop_count(route bigint) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT count(*) FROM customers WHERE delivery_route_id = route
$$;
REVOKE ALL ON FUNCTION route_stop_count(bigint) FROM PUBLIC;
"""


def upgrade() -> None:
    op.execute(ENSURE_ROLES)
    op.execute(STOP_COUNT)
    op.execute(f"GRANT EXECUTE ON FUNCTION route_stop_count(bigint) TO {APP}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP}")
    op.execute(f"REVOKE UPDATE, DELETE ON ledger_entries FROM {APP}")
    op.execute(f"REVOKE ALL ON alembic_version FROM {APP}")
    op.execute(f"REVOKE INSERT, UPDATE, DELETE ON spatial_ref_sys FROM {APP}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP}")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public"
        f" GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP}"
    )
    op.execute("ALTER TABLE customers ENABLE ROW LEVEL SECURITY")
    for role, condition in POLICIES.items():
        # WITH CHECK true: an approved change may move a shop out of the approver's scope
        # (another manager, another county); which rows may be changed is the USING part.
        op.execute(
            f"CREATE POLICY {role.removeprefix('retailgis_app_')}_scope ON customers"
            f" FOR ALL TO {role} USING ({condition}) WITH CHECK (true)"
        )


def downgrade() -> None:
    for role in POLICIES:
        name = role.removeprefix("retailgis_app_")
        op.execute(f"DROP POLICY IF EXISTS {name}_scope ON customers")
    op.execute("ALTER TABLE customers DISABLE ROW LEVEL SECURITY")
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public"
        f" REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {APP}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM {APP}"
    )
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP}")
    op.execute("DROP FUNCTION IF EXISTS route_stop_count(bigint)")
