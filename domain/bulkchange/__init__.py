"""Bulk changes (大批量客户档案信息维护): a county's file of changes becomes one ticket with
its diff; the market department manager's signature applies it all in one transaction; the
county verifies. Importing this package registers the ticket type's apply procedure."""

from domain.bulkchange.apply import apply_bulk_change
from domain.bulkchange.service import MAX_ROWS, BulkChangeResult, create_bulk_change

__all__ = ["MAX_ROWS", "BulkChangeResult", "apply_bulk_change", "create_bulk_change"]
