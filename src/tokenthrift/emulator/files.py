"""OpenAI Files API (``/v1/files``), the part batches use: upload, retrieve, content,
list, delete. Uploads are ``multipart/form-data`` with ``file`` and ``purpose`` fields
(API reference, "Upload file"); batch input files are limited to 200 MB.
"""

from __future__ import annotations

import email.parser
import email.policy
from dataclasses import dataclass
from typing import Any

from .replies import ApiError, invalid, random_id

MAX_BATCH_FILE_BYTES = 200 * 1024 * 1024
PURPOSES = ("batch", "batch_output", "fine-tune", "assistants", "vision", "user_data", "evals")


@dataclass(slots=True)
class StoredFile:
    id: str
    org: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "object": "file", "bytes": len(self.content),
                "created_at": self.created_at, "filename": self.filename,
                "purpose": self.purpose, "status": "processed", "expires_at": None,
                "status_details": None}


class FileStore:
    def __init__(self) -> None:
        self.files: dict[str, StoredFile] = {}

    def add(self, org: str, filename: str, purpose: str, content: bytes, now: int) -> StoredFile:
        stored = StoredFile(random_id("file-", 11), org, filename, purpose, content, now)
        self.files[stored.id] = stored
        return stored

    def get(self, org: str, file_id: str) -> StoredFile:
        stored = self.files.get(file_id)
        if stored is None or stored.org != org:
            raise ApiError(404, f"No such File object: {file_id}", param="id")
        return stored

    def delete(self, org: str, file_id: str) -> dict[str, Any]:
        self.get(org, file_id)
        del self.files[file_id]
        return {"id": file_id, "object": "file", "deleted": True}

    def listing(self, org: str, purpose: str | None) -> dict[str, Any]:
        data = [f.as_json() for f in self.files.values()
                if f.org == org and (purpose is None or f.purpose == purpose)]
        return {"object": "list", "data": data, "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None}

    def clear(self) -> None:
        self.files.clear()


def parse_upload(content_type: str, body: bytes) -> tuple[str, str, bytes]:
    """(filename, purpose, content) of a multipart upload, or the 400 OpenAI answers."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise invalid("Expected a multipart/form-data upload with 'file' and 'purpose'.")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            fields[name] = (part.get_filename(), payload if isinstance(payload, bytes) else b"")
    if "file" not in fields:
        raise invalid("Missing required parameter: 'file'.", param="file")
    purpose = fields.get("purpose", (None, b""))[1].decode(errors="replace").strip()
    if purpose not in PURPOSES:
        raise invalid(f"Invalid value for 'purpose': {purpose!r}.", param="purpose")
    filename, content = fields["file"]
    if purpose == "batch" and len(content) > MAX_BATCH_FILE_BYTES:
        raise invalid("File is too large: batch input files are limited to 200 MB.",
                      param="file")
    return filename or "upload.jsonl", purpose, content
