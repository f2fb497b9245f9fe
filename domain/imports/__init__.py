"""Bulk imports: customer records (客户基础信息表) and monthly purchase records from CSV or
XLSX files, validated against the catalogue, reported per row and field, and written in one
transaction under an import id (``imports`` table) so that a killed import leaves nothing.

Typical use (the CLI): ``read_table`` the file; ``start_import`` and commit, so the import
is seen as running; then in a second transaction ``import_customers`` (or
``import_purchases``) and commit. A refused import removes its row; ``write_report``
writes the findings for the user. The admin runs the check and the import as background
jobs (``domain.imports.jobs``) on uploads it keeps by id (``domain.imports.uploads``).
"""

from domain.imports.customers import import_customers, import_customers_now
from domain.imports.files import Table, parse_table, read_table
from domain.imports.purchases import import_purchases, import_purchases_now
from domain.imports.registry import discard_import, start_import
from domain.imports.report import RowIssue, write_report
from domain.imports.result import ImportResult, Progress

__all__ = [
    "ImportResult",
    "Progress",
    "RowIssue",
    "Table",
    "discard_import",
    "import_customers",
    "import_customers_now",
    "import_purchases",
    "import_purchases_now",
    "parse_table",
    "read_table",
    "start_import",
    "write_report",
]
