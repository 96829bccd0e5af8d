"""A stored response's input items as ``GET /v1/responses/{id}/input_items`` lists them.

The input items of a response are the context it was answered from: the conversation of
its ``previous_response_id`` chain, then its own input (instructions are not items). Each
is listed in the API's item shape (``id``, ``type``, ``status``, content as typed parts),
newest first unless ``order=asc``, ``limit`` (1-100, default 20) at a time, with
``after``/``before`` item-id cursors, as OpenAI's list endpoints page.
"""

from __future__ import annotations

from typing import Any

from tokenthrift.errors import InvalidRequest

_PREFIX = {"message": "msg", "function_call": "fc", "function_call_output": "fco",
           "reasoning": "rs"}
DEFAULT_LIMIT, MAX_LIMIT = 20, 100


def with_ids(items: list[dict[str, Any]], response_id: str, tag: str = "") -> list[dict[str, Any]]:
    """``items`` with an ``id`` on each that lacks one, stable for this response."""
    suffix = response_id.removeprefix("resp_")
    return [item if item.get("id") else
            {**item, "id": f"{_PREFIX.get(str(item.get('type', 'message')), 'item')}_"
                           f"{suffix}_{tag}{i}"}
            for i, item in enumerate(items)]


def listed(item: dict[str, Any]) -> dict[str, Any]:
    """An input item in the shape the API lists it (string content becomes a part)."""
    kind = item.get("type", "message")
    out = {**item, "type": kind}
    if kind == "message":
        content = item.get("content")
        if isinstance(content, str):
            part = "output_text" if item.get("role") == "assistant" else "input_text"
            out["content"] = [{"type": part, "text": content}]
    if kind != "reasoning":
        out.setdefault("status", "completed")
    return out


def input_items(stored_items: list[dict[str, Any]], output: list[dict[str, Any]],
                response_id: str) -> list[dict[str, Any]]:
    """The input part of a stored conversation (it ends with the response's output)."""
    context = stored_items[:len(stored_items) - len(output)] if output else stored_items
    # Items stored before ids were given get one here ("c": never equal to a stored id).
    return [listed(item) for item in with_ids(context, response_id, "c")]


def page(items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
    """One page of ``items`` (oldest first) for the list endpoint's query parameters."""
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest(f"Invalid value for 'order': {order!r}; expected 'asc' or "
                             "'desc'.", param="order")
    limit = _limit(query.get("limit"))
    ordered = items if order == "asc" else items[::-1]
    ids = [str(item.get("id")) for item in ordered]
    start, end = 0, len(ordered)
    if query.get("after"):
        start = _position(ids, query["after"], "after") + 1
    if query.get("before"):
        end = _position(ids, query["before"], "before")
    window = ordered[start:end]
    data = window[:limit]
    return {"object": "list", "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": len(window) > limit}


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"Invalid value for 'limit': {raw!r}; expected an integer from 1 "
                             f"to {MAX_LIMIT}.", param="limit")
    return limit


def _position(ids: list[str], item_id: str, param: str) -> int:
    try:
        return ids.index(item_id)
    except ValueError:
        raise InvalidRequest(f"No input item with id '{item_id}' in this response.",
                             param=param) from None
