"""Read a form body entirely in memory, with a size cap.

Starlette's own parser spools uploads over 1 MiB to a temporary file on disk; a reference
photo must never touch the disk, so the public request form is parsed here instead.
"""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from urllib.parse import parse_qs

from fastapi import HTTPException, Request


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole request body in memory, 413 once it passes `max_bytes`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise HTTPException(status_code=413, detail=f"the form is larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise HTTPException(
                status_code=413, detail=f"the form is larger than {max_bytes} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def parse_form(content_type: str, body: bytes) -> tuple[dict[str, list[str]], dict[str, bytes]]:
    """(text fields, uploaded files' bytes) of a urlencoded or multipart body."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == "application/x-www-form-urlencoded":
        try:
            return parse_qs(body.decode("utf-8"), keep_blank_values=True), {}
        except UnicodeDecodeError:
            raise HTTPException(status_code=400, detail="the form is not UTF-8") from None
    if ctype != "multipart/form-data":
        raise HTTPException(status_code=415, detail="send the form as multipart/form-data")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    msg = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not msg.is_multipart():
        raise HTTPException(status_code=400, detail="malformed multipart form")
    fields: dict[str, list[str]] = {}
    files: dict[str, bytes] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            if payload:
                files[name] = payload
            continue
        try:
            fields.setdefault(name, []).append(payload.decode("utf-8"))
        except UnicodeDecodeError:
            raise HTTPException(status_code=400, detail=f"field {name!r} is not UTF-8") from None
    return fields, files
