"""plan kind 'move': shops selected on the planner's map moved to a route as one plan

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25

``ALTER TYPE ... ADD VALUE`` runs outside the migration's transaction (alembic's
autocommit block): a value added inside a transaction cannot be used before it commits.

The downgrade leaves the value in place: PostgreSQL cannot drop a value from an enum type
(it would mean recreating the type and rewriting ``route_plans``). A database downgraded
to 0010 therefore still accepts 'move'; no code of that revision writes it, and upgrading
again is a no-op (``IF NOT EXISTS``). Going down to 0006 or below drops the whole type.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("ALTER TYPE plan_kind ADD VALUE IF NOT EXISTS 'move'")


def downgrade() -> None:
    # Intentionally empty: PostgreSQL cannot remove an enum value (see the docstring).
    pass
