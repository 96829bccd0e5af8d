"""The ASGI app built from a config file, in this process or in each worker process.

``tokenthrift serve --workers N`` hands uvicorn the import string
``tokenthrift.server.factory:create_app_from_env``: every worker process builds its own
gateway (its own ledger writer, in-process cache and counters) from the config file
named by ``$TOKENTHRIFT_CONFIG``, which the parent validated before starting them.
"""

from __future__ import annotations

import logging
import os

from starlette.applications import Starlette

from ..config import GatewayConfig, load_config

CONFIG_ENV = "TOKENTHRIFT_CONFIG"
LOG_LEVEL_ENV = "TOKENTHRIFT_LOG_LEVEL"
APP_FACTORY = "tokenthrift.server.factory:create_app_from_env"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def build_app(config: GatewayConfig) -> Starlette:
    """The gateway app for ``config``; raises ``ConfigError`` for a bad lever section."""
    from ..assembly import build_gateway
    from .app import create_app

    return create_app(build_gateway(config))


def create_app_from_env() -> Starlette:
    """uvicorn's app factory in a worker process (``factory=True``)."""
    level = os.environ.get(LOG_LEVEL_ENV)
    if level:
        logging.basicConfig(level=level.upper(), format=LOG_FORMAT)
    return build_app(load_config(os.environ.get(CONFIG_ENV) or None))
