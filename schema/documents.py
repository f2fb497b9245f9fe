"""Parsed and validated GraphQL documents, kept per schema (bounded, least recently used).

Parsing and validating a document costs graphql-core more than executing a small query,
and client apps send the same few documents over and over with other variables. A
document is kept once it has parsed and passed the schema's document-only rules; rejected
documents are not kept (their errors are computed again, each time they come).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from graphql import DocumentNode, OperationDefinitionNode, OperationType

MAX_DOCUMENTS = 256
MAX_CACHED_QUERY_CHARS = 20_000  # a rare large document is validated each time


class DocumentCache:
    """Valid documents by query text; safe to share between the worker threads."""

    def __init__(self, maxsize: int = MAX_DOCUMENTS) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[str, DocumentNode] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, query: str) -> DocumentNode | None:
        with self._lock:
            document = self._items.get(query)
            if document is not None:
                self._items.move_to_end(query)
            return document

    def put(self, query: str, document: DocumentNode) -> None:
        if len(query) > MAX_CACHED_QUERY_CHARS:
            return
        with self._lock:
            self._items[query] = document
            self._items.move_to_end(query)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def operation_of(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    """The operation a request runs: the one named, or the only one (else None)."""
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return ops[0] if len(ops) == 1 else None
    return next((o for o in ops if o.name is not None and o.name.value == name), None)


def is_query(document: DocumentNode | None, operation_name: str | None) -> bool:
    """Whether a (valid, cached) document runs a query: reads only."""
    op = operation_of(document, operation_name) if document is not None else None
    return op is not None and op.operation == OperationType.QUERY
