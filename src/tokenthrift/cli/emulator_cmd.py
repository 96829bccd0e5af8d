"""``tokenthrift emulator``: serve the local OpenAI/Anthropic upstream over HTTP."""

from __future__ import annotations

import dataclasses
from typing import Any

import click


@click.command("emulator")
@click.option("--port", type=int, default=8787, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--ttft-ms", type=float, default=None, help="Time to first token, in ms.")
@click.option(
    "--tokens-per-s", type=float, default=None, help="Output speed; 0 sends all tokens at once."
)
@click.option(
    "--error-rate", type=float, default=None, help="Probability of a random 5xx/529 (0-1)."
)
@click.option("--rpm", type=int, default=None, help="Requests per minute per API key (0 = off).")
@click.option("--tpm", type=int, default=None, help="Tokens per minute per API key (0 = off).")
@click.option("--seed", type=int, default=None, help="Seed for random faults.")
@click.option(
    "--accept-any-model", is_flag=True, default=False, help="Serve any model name, known or not."
)
def emulator(
    port: int,
    host: str,
    ttft_ms: float | None,
    tokens_per_s: float | None,
    error_rate: float | None,
    rpm: int | None,
    tpm: int | None,
    seed: int | None,
    accept_any_model: bool,
) -> None:
    """Run the emulator: an offline upstream speaking the OpenAI and Anthropic APIs.

    Settings start from TOKENTHRIFT_EMULATOR_* environment variables; flags override
    them. Point an SDK at http://HOST:PORT/v1 (OpenAI) or http://HOST:PORT (Anthropic)
    with any API key. Faults can be scripted with POST /emulator/faults.
    """
    import uvicorn

    from ..emulator import Emulator, EmulatorConfig, create_app
    from ..server.runner import uvicorn_config

    overrides = {
        "ttft_ms": ttft_ms,
        "tokens_per_s": tokens_per_s,
        "error_rate": error_rate,
        "rpm": rpm,
        "tpm": tpm,
        "seed": seed,
    }
    config = EmulatorConfig.from_env()
    changes: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if accept_any_model:
        changes["accept_any_model"] = True
    try:
        config = dataclasses.replace(config, **changes)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    # uvloop + httptools when installed, access log off (see server.runner).
    server_config = uvicorn_config(create_app(Emulator(config)), host, port)
    click.echo(
        f"tokenthrift emulator on http://{host}:{port} "
        f"(loop={server_config.loop}, http={server_config.http})"
    )
    uvicorn.Server(server_config).run()
