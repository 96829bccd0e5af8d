"""The Batch API endpoints ``batch run`` calls, over plain HTTP (standard library only).

Point it at the gateway (``/v1/files``, ``/v1/batches``, ``/v1/messages/batches`` are
passed through with attribution and priced into the ledger) or at a provider directly.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

ANTHROPIC_VERSION = "2023-06-01"


class BatchAPIError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class BatchAPI:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 120.0,
                 headers: dict[str, str] | None = None) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self.api_key = api_key
        self.timeout = timeout
        self.extra = headers or {}

    def _send(self, method: str, path: str, body: bytes | None = None,
              content_type: str = "application/json", protocol: str = "openai") -> bytes:
        headers = {"content-type": content_type, **self.extra}
        if protocol == "anthropic":
            headers.update({"x-api-key": self.api_key, "anthropic-version": ANTHROPIC_VERSION})
        else:
            headers["authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.base_url + path, data=body, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                data: bytes = response.read()
                return data
        except urllib.error.HTTPError as exc:
            raise BatchAPIError(exc.code, exc.read().decode(errors="replace")[:500]) from None

    def _json(self, method: str, path: str, payload: Any = None,
              protocol: str = "openai") -> dict[str, Any]:
        body = None if payload is None else json.dumps(payload).encode()
        found: dict[str, Any] = json.loads(self._send(method, path, body, protocol=protocol))
        return found

    # -- OpenAI ----------------------------------------------------------------------

    def upload(self, filename: str, content: bytes) -> str:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n"
                f"batch\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"{filename}\"\r\nContent-Type: application/jsonl\r\n\r\n"
                ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
        reply = json.loads(self._send("POST", "/v1/files", body,
                                      f"multipart/form-data; boundary={boundary}"))
        return str(reply["id"])

    def create_batch(self, file_id: str, endpoint: str, metadata: dict[str, str]
                     ) -> dict[str, Any]:
        return self._json("POST", "/v1/batches", {"input_file_id": file_id, "endpoint": endpoint,
                                                  "completion_window": "24h",
                                                  "metadata": metadata})

    def batch(self, batch_id: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/batches/{batch_id}")

    def batches(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._json("GET", "/v1/batches?limit=100")["data"]
        return data

    def file_content(self, file_id: str) -> bytes:
        return self._send("GET", f"/v1/files/{file_id}/content")

    # -- Anthropic -------------------------------------------------------------------

    def create_message_batch(self, requests: list[dict[str, Any]]) -> dict[str, Any]:
        return self._json("POST", "/v1/messages/batches", {"requests": requests},
                          protocol="anthropic")

    def message_batch(self, batch_id: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/messages/batches/{batch_id}", protocol="anthropic")

    def message_batches(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._json("GET", "/v1/messages/batches?limit=100",
                                                protocol="anthropic")["data"]
        return data

    def message_batch_results(self, batch_id: str) -> bytes:
        return self._send("GET", f"/v1/messages/batches/{batch_id}/results",
                          protocol="anthropic")
