"""The admin's screens, one module per area; each exposes ``ROUTES`` (paths under /admin)."""

from admin.views import customers, files, home, maps, planner, queue

AREAS = (home, maps, customers, queue, planner, files)
