"""The replay's upstream: the emulator on the trace's clock, tagging every answer.

Run as ``python -m tokenthrift.bench.upstream --port N``. Every path is the emulator
(``/v1/...`` both protocols, ``/emulator/answers/TAG``), plus ``POST /bench/clock``
``{"now": SECONDS}``, which the replayer sends before each request so the provider
prompt caches expire on the trace's time (``at_s``), not on how fast the replay runs:
a replay is then the same whatever the machine's speed. Batch jobs run on the same
clock (one simulated second per trace second).
"""

from __future__ import annotations

import argparse

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from ..emulator import Emulator, EmulatorConfig
from ..emulator.app import EmulatorEndpoint


class TraceClock:
    """Seconds since the trace started, moved only by the replayer (never backwards)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def set(self, now: float) -> float:
        self.now = max(self.now, now)
        return self.now


def create_upstream(clock: TraceClock | None = None) -> Starlette:
    clock = clock or TraceClock()
    config = EmulatorConfig(tag_answers=True, accept_any_model=True, batch_time_scale=1.0)
    emulator = Emulator(config, clock=clock)

    async def set_clock(request: Request) -> Response:
        if request.method == "POST":
            try:
                clock.set(float(orjson.loads(await request.body())["now"]))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                return Response(b'{"error": "expected {\\"now\\": seconds}"}', status_code=400,
                                media_type="application/json")
        return Response(orjson.dumps({"now": clock.now}), media_type="application/json")

    app = Starlette(routes=[Route("/bench/clock", set_clock, methods=["GET", "POST"]),
                            Mount("/", app=EmulatorEndpoint(emulator))])
    app.state.emulator = emulator
    return app


def main() -> None:
    import uvicorn

    from ..server.runner import uvicorn_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.Server(uvicorn_config(create_upstream(), args.host, args.port)).run()


if __name__ == "__main__":
    main()
