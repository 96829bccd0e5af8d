"""Admin endpoints of governance (placeholder until governance lands)."""

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
