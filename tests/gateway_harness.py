"""A gateway served on a background thread, with the in-process emulator as upstream.

Tests talk to it with the official ``openai`` and ``anthropic`` SDKs, inject upstream
faults through ``emulator`` and read the ledger through ``gateway``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai

from tokenthrift.assembly import build_accountant, build_gateway, build_levers
from tokenthrift.config import GatewayConfig, parse_config
from tokenthrift.ledger.record import LedgerRecord
from tokenthrift.levers.base import Lever
from tokenthrift.pipeline import Gateway
from tokenthrift.server.app import create_app
from tokenthrift.server.runner import ServerThread

CLIENT_KEY = "sk-client-secret-7f3a9c"


@dataclass
class RunningGateway:
    gateway: Gateway
    server: ServerThread

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def emulator(self) -> Any:
        return self.gateway.emulator

    def openai(self, **kwargs: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=CLIENT_KEY, max_retries=0, **kwargs)

    def anthropic(self, **kwargs: Any) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key=CLIENT_KEY, max_retries=0, **kwargs)

    def ledger_row(self, request_id: str) -> LedgerRecord:
        self.gateway.writer.flush()
        row = self.gateway.ledger.get(request_id)
        assert row is not None, f"no ledger row for {request_id}"
        return row


def config_for(tmp_path: Path, raw: dict[str, Any] | None = None) -> GatewayConfig:
    if raw is None:
        return GatewayConfig.embedded_default(str(tmp_path / "data"))
    raw = {"storage": {"ledger": f"sqlite:///{tmp_path}/ledger.db"}, **raw}
    return parse_config(raw)


def levers_with(config: GatewayConfig, **replaced: Lever | None) -> list[Lever]:
    """The levers ``config`` builds, with the ones named replaced (None drops a lever)."""
    levers = build_levers(config, build_accountant(config))
    out: list[Lever] = []
    for lever in levers:
        if lever.name in replaced:
            substitute = replaced.pop(lever.name)
            if substitute is not None:
                out.append(substitute)
        else:
            out.append(lever)
    return out + [lever for lever in replaced.values() if lever is not None]


@contextmanager
def running_gateway(config: GatewayConfig, *, levers: list[Lever] | None = None
                    ) -> Iterator[RunningGateway]:
    gateway = build_gateway(config, levers=levers)
    server = ServerThread(create_app(gateway)).start()
    try:
        yield RunningGateway(gateway, server)
    finally:
        server.stop()
