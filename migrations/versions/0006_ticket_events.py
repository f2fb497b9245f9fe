"""ticket events: NOTIFY ticket_events when a ticket or one of its steps changes

Subscribers (the GraphQL subscription `ticketEvents`) LISTEN on the channel; notifications
are delivered at commit, so listeners only ever see committed changes. The payload names
the ticket and what scope filtering needs (customer, region, maker), no personal data.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = """
CREATE FUNCTION ticket_events_notify(t tickets) RETURNS void LANGUAGE sql AS $$
    SELECT pg_notify('ticket_events', json_build_object(
        'ticketId', t.id, 'status', t.status, 'type', t.type,
        'customerId', t.customer_id, 'regionId', t.region_id, 'makerId', t.maker_id,
        'at', now()
    )::text);
$$;

CREATE FUNCTION tickets_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ticket_events_notify(NEW);
    RETURN NULL;
END $$;

CREATE TRIGGER tickets_notify_event
    AFTER INSERT OR UPDATE ON tickets
    FOR EACH ROW EXECUTE FUNCTION tickets_notify_event();

CREATE FUNCTION ticket_steps_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ticket_events_notify(t) FROM tickets t WHERE t.id = NEW.ticket_id;
    RETURN NULL;
END $$;

CREATE TRIGGER ticket_steps_notify_event
    AFTER UPDATE OF status, decision ON ticket_steps
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.decision IS DISTINCT FROM NEW.decision)
    EXECUTE FUNCTION ticket_steps_notify_event();
"""

DOWNGRADE = """
DROP TRIGGER ticket_steps_notify_event ON ticket_steps;
DROP FUNCTION ticket_steps_notify_event();
DROP TRIGGER tickets_notify_event ON tickets;
DROP FUNCTION tickets_notify_event();
DROP FUNCTION ticket_events_notify(tickets);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
