"""Exports of customer lists (XLSX/CSV, streamed, masked by role, logged) and the monthly
reports (XLSX)."""

from domain.exports.customers import ExportResult, export_customers
from domain.exports.writers import FORMATS

__all__ = ["FORMATS", "ExportResult", "export_customers"]
