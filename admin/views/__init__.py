"""The admin's screens, one module per area; each exposes ``ROUTES`` (paths under /admin)."""

from admin.views import (
    calendar,
    customers,
    files,
    home,
    maps,
    planner,
    plans,
    queue,
    tiles,
    tokens,
)

AREAS = (home, maps, customers, queue, planner, tiles, plans, files, tokens, calendar)
