"""admin sessions: server-side session rows behind a random cookie, and sign-in attempts
(throttling and lockout)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _at(name: str, nullable: bool = False) -> sa.Column[sa.DateTime]:
    default = None if nullable else sa.text("now()")
    return sa.Column(name, sa.DateTime(timezone=True), server_default=default, nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "admin_sessions",
        # SHA-256 of the cookie's random id: a leaked table does not give usable cookies.
        sa.Column("id_hash", sa.Text(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("csrf_token", sa.Text(), nullable=False),
        _at("created_at"),
        _at("last_seen_at"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        _at("revoked_at", nullable=True),
        sa.Column("ip", sa.Text()),
        sa.Column("user_agent", sa.Text()),
        sa.CheckConstraint("id_hash ~ '^[0-9a-f]{64}$'", name="id_hash_hex"),
    )
    op.create_index("ix_admin_sessions_user_id", "admin_sessions", ["user_id"])
    op.create_table(
        "sign_in_attempts",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("ip", sa.Text()),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        _at("at"),
    )
    op.create_index("ix_sign_in_attempts_username_at", "sign_in_attempts", ["username", "at"])
    op.create_index("ix_sign_in_attempts_ip_at", "sign_in_attempts", ["ip", "at"])


def downgrade() -> None:
    op.drop_table("sign_in_attempts")
    op.drop_table("admin_sessions")
