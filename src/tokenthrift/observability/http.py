"""``GET /metrics``: the Prometheus scrape endpoint.

Open by default, like most exporters (bind the gateway to a private interface or put
the scrape behind your network policy); with ``observability.metrics.auth: true`` it
asks for the master key as ``Authorization: Bearer <key>`` (Prometheus:
``authorization: {credentials: …}`` in the scrape config).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..errors import GatewayError
from ..pipeline import Gateway
from ..server.admin import require_master_key
from ..server.http import error_response
from .collect import refresh_gauges
from .metrics import GatewayMetrics
from .registry import CONTENT_TYPE


def gateway_metrics(gateway: Gateway) -> GatewayMetrics | None:
    """The metrics observer the composition root gave ``gateway``, if any."""
    return next((o for o in gateway.observers if isinstance(o, GatewayMetrics)), None)


def metrics_routes(gateway: Gateway) -> list[BaseRoute]:
    metrics = gateway_metrics(gateway)
    if metrics is None:
        return []
    master = gateway.config.admin_key()
    auth = metrics.settings.auth

    async def scrape(request: Request) -> Response:
        if auth:
            try:
                require_master_key(request, master)
            except GatewayError as error:
                return error_response(error, "openai")
        await refresh_gauges(metrics, gateway)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return [Route("/metrics", scrape, methods=["GET"])]
