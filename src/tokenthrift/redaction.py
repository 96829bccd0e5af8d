"""Keeping provider keys out of what leaves the gateway: client-facing error messages
and log records.

Providers echo the key they were given when they reject it, whole or partly masked
(OpenAI: ``Incorrect API key provided: sk-proj-abc*****xyz``), and an OpenAI-compatible
server may echo anything. Two nets catch that text:

* every configured provider key, registered when its provider is built, is replaced
  wherever it appears, and so are its masked forms (first and last characters around
  ``*``/``…``);
* anything *shaped* like a secret: ``sk-…`` (OpenAI ``sk-``, ``sk-proj-``, Anthropic
  ``sk-ant-``), and a long token following ``key``/``token``/``Bearer``.

``GatewayError`` runs its message through ``redact``, so no error the gateway answers
with can carry a key; ``install_log_filter`` does the same for ``tokenthrift`` loggers.
"""

from __future__ import annotations

import logging
import re
import threading

REDACTED = "[redacted]"
# Keys shorter than this are not registered: replacing a 3-character "key" everywhere
# would mangle messages without protecting anything.
_MIN_SECRET_CHARS = 8
# Characters providers use to mask the middle of a key they echo.
_MASK = r"(?:\*+|…|\.{3}|•+)"
_SHAPED = (
    # OpenAI (sk-, sk-proj-, sk-svcacct-, sk-admin-) and Anthropic (sk-ant-api03-...)
    # keys, whole or masked.
    re.compile(rf"\bsk-(?:[A-Za-z0-9_\-]|{_MASK})+"),
    # "Bearer <token>", "api key: <token>", "x-api-key=<token>", "api_key=<token>"; not
    # "key_<hex>" nor "key 'vk_<hex>'" (the gateway's own non-secret key ids).
    re.compile(
        rf"(?i)((?<![a-z0-9])(?:bearer|key|token)\b[\"']?\s*[:=]?\s*[\"']?)"
        rf"(?!vk_[0-9a-f]{{16}}\b)(?:[A-Za-z0-9_\-+/=.]|{_MASK}){{16,}}"
    ),
)


class Redactor:
    """Replaces registered secrets and secret-shaped text with ``[redacted]``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._known: re.Pattern[str] | None = None

    def register(self, secret: str | None) -> None:
        if not secret or len(secret) < _MIN_SECRET_CHARS or secret in self._secrets:
            return
        with self._lock:
            self._secrets = self._secrets | {secret}
            self._known = re.compile("|".join(_known_forms(s) for s in self._secrets))

    def redact(self, text: str) -> str:
        known = self._known
        if known is not None:
            text = known.sub(REDACTED, text)
        text = _SHAPED[0].sub(REDACTED, text)
        return _SHAPED[1].sub(lambda m: m.group(1) + REDACTED, text)


def _known_forms(secret: str) -> str:
    """The secret itself, or its first 3+ and last 2+ characters around a mask."""
    head, tail = re.escape(secret[:3]), re.escape(secret[-2:])
    return rf"{re.escape(secret)}|{head}[^\s\"',]*?{_MASK}[^\s\"',]*?{tail}"


_DEFAULT = Redactor()


def register_secret(secret: str | None) -> None:
    """Remember a provider key so it is redacted from messages and logs."""
    _DEFAULT.register(secret)


def redact(text: str) -> str:
    return _DEFAULT.redact(text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and its traceback text) with secrets redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed format string: leave it to logging
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()


def install_log_filter(root: str = "tokenthrift") -> None:
    """Attach the filter to ``root`` and every logger below it that exists now.

    A logger's filters do not see records of its children, so each one gets the filter;
    modules create their loggers at import, before providers (which call this) exist.
    """
    manager = logging.Logger.manager
    names = [root, *(n for n in list(manager.loggerDict) if n.startswith(root + "."))]
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
