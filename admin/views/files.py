"""Admin area: files (screens to come)."""

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
