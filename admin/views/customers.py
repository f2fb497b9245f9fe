"""Admin area: customers (screens to come)."""

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
