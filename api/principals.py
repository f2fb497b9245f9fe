"""Bearer token -> principal, remembered for a few seconds in each process.

Looking a token up (one statement that also records its use, at most once a minute) and
loading the principal (a second one) cost more than answering a small query, and an app
sends the same token with every request. So each process keeps the principal of a token
it has checked for ``TOKEN_CACHE_SECONDS``, keyed by the token's digest (never the secret).

The price is a short delay: a token revoked or expired, a user deactivated or given
another role or unit, is refused or changed at the latest ``TOKEN_CACHE_SECONDS`` after
the change, in every process (each checks the database again once its entry is older).
Only valid tokens are kept; an unknown or refused token is looked up every time.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy.orm import Session

from domain.access import Principal, load_principal
from domain.passwords import token_digest
from domain.users import user_for_token

TOKEN_CACHE_SECONDS = 5.0
MAX_CACHED_TOKENS = 10_000


class PrincipalCache:
    """Principals of recently checked tokens; safe to share between worker threads."""

    def __init__(
        self,
        seconds: float = TOKEN_CACHE_SECONDS,
        maxsize: int = MAX_CACHED_TOKENS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds, self.maxsize, self.clock = seconds, maxsize, clock
        self._items: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()

    def principal(self, session: Session, token: str, request_id: uuid.UUID) -> Principal | None:
        """The principal of a valid token (None: unknown, revoked, expired or inactive)."""
        key = token_digest(token)
        now = self.clock()
        with self._lock:
            found = self._items.get(key)
        if found is not None and now < found[0]:
            return dataclasses.replace(found[1], request_id=request_id)
        user = user_for_token(session, token)
        if user is None:
            self.forget(token)
            return None
        principal = load_principal(session, user.id, request_id)
        if self.seconds > 0:
            self._remember(key, now + self.seconds, principal)
        return principal

    def _remember(self, key: str, until: float, principal: Principal) -> None:
        with self._lock:
            self._items[key] = (until, principal)
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def forget(self, token: str) -> None:
        with self._lock:
            self._items.pop(token_digest(token), None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
