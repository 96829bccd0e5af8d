"""``/ui``: the dashboard the gateway serves itself (no separate server, no build step).

* ``GET /ui`` — the page (``static/index.html``; its script and styles ship in the
  package, nothing is loaded from a CDN).
* ``GET /ui/api/data?since=24h&team=search`` — what the page shows (``data.py``), read
  from the ledger, with live budgets from governance.
* ``GET /ui/static/<file>`` — the page's script and styles.

Access. With a master key configured (``master_key`` or ``$TOKENTHRIFT_MASTER_KEY``) the
page and its data need it: sign in on the form ``/ui`` shows, open ``/ui?key=<master
key>`` once, or send ``Authorization: Bearer <master key>``. Signing in sets an HttpOnly
cookie holding an HMAC of the key (never the key itself). Without a master key the
dashboard is open, unless the gateway requires client keys (virtual keys exist), where
it refuses: spend data must not be readable by anyone who cannot use the gateway.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..ledger.reports import parse_since
from ..levers.governance.lever import GovernanceLever
from ..observability.collect import budget_statuses
from ..observability.settings import parse_observability
from ..pipeline import Gateway
from ..server.attribution import client_key
from .data import Query, dashboard_data

COOKIE = "tokenthrift_ui"
_STATIC = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
_LOGIN = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>tokenthrift — sign in</title><link rel="stylesheet" href="/ui/static/dashboard.css">
</head><body class="login"><form method="post" action="/ui/login">
<h1>tokenthrift</h1><p>{message}</p>
<label>Master key <input type="password" name="key" autocomplete="current-password" autofocus>
</label><button type="submit">Open the dashboard</button></form></body></html>"""


def asset(name: str) -> str:
    return (resources.files("tokenthrift.dashboard") / "static" / name).read_text("utf-8")


def session_token(master: str) -> str:
    """What the cookie holds: proves the key was presented, cannot be turned back into it."""
    return hmac.new(master.encode(), b"tokenthrift-ui-session-v1", hashlib.sha256).hexdigest()


class Access:
    def __init__(self, gateway: Gateway) -> None:
        self.master = gateway.config.admin_key()
        governance = gateway.lever("governance")
        self._governance = governance if isinstance(governance, GovernanceLever) else None

    def allowed(self, request: Request) -> bool:
        if self.master is None:
            return self._governance is None or not self._governance.auth_required
        presented = client_key(request.headers) or request.query_params.get("key")
        if presented is not None and hmac.compare_digest(presented.encode(),
                                                         self.master.encode()):
            return True
        cookie = request.cookies.get(COOKIE)
        return cookie is not None and hmac.compare_digest(cookie, session_token(self.master))

    def refusal(self) -> str:
        if self.master is None:
            return ("This gateway requires client keys but has no master key: set "
                    "TOKENTHRIFT_MASTER_KEY (or master_key in the config) to open the dashboard.")
        return "Sign in with the gateway's master key."

    def signed_in(self, response: Response, request: Request) -> Response:
        assert self.master is not None
        response.set_cookie(COOKIE, session_token(self.master), httponly=True, samesite="strict",
                            path="/ui", secure=request.url.scheme == "https")
        return response


def dashboard_routes(gateway: Gateway) -> list[BaseRoute]:
    if not parse_observability(gateway.config.observability).dashboard:
        return []
    access = Access(gateway)

    async def page(request: Request) -> Response:
        if not access.allowed(request):
            status = 403 if access.master is None else 401
            return HTMLResponse(_LOGIN.format(message=access.refusal()), status_code=status)
        if access.master is not None and "key" in request.query_params:
            # signed in by URL: drop the key from the address bar and the history
            return access.signed_in(RedirectResponse("/ui", status_code=303), request)
        response = HTMLResponse(asset("index.html"))
        if access.master is not None and COOKIE not in request.cookies:
            access.signed_in(response, request)
        return response

    async def login(request: Request) -> Response:
        # A urlencoded form of one field: parsed here (starlette's form() needs an extra
        # package), and small: a master key is not 4 KB long.
        body = (await request.body())[:4096]
        key = next(iter(parse_qs(body.decode("utf-8", "replace")).get("key", [])), None)
        if access.master is None or key is None or not hmac.compare_digest(
                key.encode(), access.master.encode()):
            return HTMLResponse(_LOGIN.format(message="That is not the master key."),
                                status_code=401)
        return access.signed_in(RedirectResponse("/ui", status_code=303), request)

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/ui", status_code=303)
        response.delete_cookie(COOKIE, path="/ui")
        return response

    async def data(request: Request) -> Response:
        if not access.allowed(request):
            return _json({"error": access.refusal()}, 401)
        try:
            query = _query(request)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        budgets = await _budgets(gateway)
        body = await asyncio.to_thread(dashboard_data, gateway.ledger, query, budgets=budgets,
                                       accountant=gateway.accountant)
        return _json(body, 200)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return Response("not found", status_code=404)
        return Response(asset(name), media_type=_STATIC[name],
                        headers={"cache-control": "no-cache"})

    return [
        Route("/ui", page, methods=["GET"]),
        Route("/ui/", page, methods=["GET"]),
        Route("/ui/login", login, methods=["POST"]),
        Route("/ui/logout", logout, methods=["GET", "POST"]),
        Route("/ui/api/data", data, methods=["GET"]),
        Route("/ui/static/{name}", static, methods=["GET"]),
    ]


def _query(request: Request) -> Query:
    params = request.query_params
    since_text = params.get("since") or "all"
    since = None if since_text == "all" else parse_since(since_text)
    team = params.get("team")
    return Query(since=since, team=team if team is not None and team != "*" else None)


async def _budgets(gateway: Gateway) -> list[dict[str, Any]] | None:
    governance = gateway.lever("governance")
    if not isinstance(governance, GovernanceLever):
        return None
    try:
        statuses = await budget_statuses(governance)
    except Exception:  # the store is down: the page still shows the ledger
        return None
    return [{k: float(v) if k in ("usd", "spent", "reserved", "remaining") else v
             for k, v in s.items()} for s in statuses]


def _json(body: Any, status: int) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                    headers={"cache-control": "no-store"})
