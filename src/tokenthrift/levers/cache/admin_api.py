"""Admin endpoints of the response cache (placeholder until the cache lands)."""

from starlette.routing import BaseRoute

ROUTES: list[BaseRoute] = []
