"""No client body, however malformed, gets past the wire layer as anything but an
``InvalidRequest`` (a 400 naming the field), and whatever parses can be sent to either
upstream protocol. Every field of the full example requests is replaced, in turn, by
values of every JSON type."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from test_wire_anthropic import FULL_REQUEST as ANTHROPIC_REQUEST
from test_wire_openai import FULL_REQUEST as OPENAI_REQUEST
from tokenthrift.errors import InvalidRequest
from tokenthrift.types import ChatRequest
from tokenthrift.wire import anthropic_messages as am
from tokenthrift.wire import openai_chat as oc

JUNK: list[Any] = [
    None,
    0,
    -1,
    1.5,
    True,
    "",
    "x",
    [],
    {},
    [1],
    [None],
    {"type": "text"},
    {"a": None},
]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in items:
        yield from paths(child, (*prefix, key))


def variants(body: dict[str, Any]) -> Iterator[tuple[tuple[Any, ...], Any, Any]]:
    for path in paths(body):
        for junk in JUNK:
            if not path:
                yield path, junk, junk
                continue
            mutated = copy.deepcopy(body)
            target = mutated
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = junk
            yield path, junk, mutated


@pytest.mark.parametrize(
    ("body", "parse"),
    [(OPENAI_REQUEST, oc.parse_request), (ANTHROPIC_REQUEST, am.parse_request)],
    ids=["openai", "anthropic"],
)
def test_malformed_bodies_are_invalid_requests_never_crashes(
    body: dict[str, Any], parse: Callable[[Any], ChatRequest]
) -> None:
    accepted = 0
    for path, junk, mutated in variants(body):
        try:
            request = parse(mutated)
        except InvalidRequest:
            continue
        except Exception as exc:  # pragma: no cover - the failure message is the point
            pytest.fail(f"{path} = {junk!r}: {type(exc).__name__}: {exc}")
        accepted += 1
        for build in (oc.build_upstream_request, am.build_upstream_request):
            try:
                build(request, "model")
            except InvalidRequest:
                pass
            except Exception as exc:  # pragma: no cover
                pytest.fail(f"{path} = {junk!r} -> {build.__module__}: {type(exc).__name__}: {exc}")
    assert accepted > 0  # optional fields accept null, so some variants do parse
