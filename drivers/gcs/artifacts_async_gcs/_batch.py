"""The JSON API's batch endpoint: up to 100 object deletes in one HTTP request.

The request is `multipart/mixed`, one `application/http` part per call, each with a
`Content-ID` the answer echoes as `<response-N>`; each answer part holds that call's own
status line, headers and body.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from urllib.parse import quote

__all__ = ["MAX_CALLS", "encode_deletes", "parse_answers"]

#: "You can make up to 100 calls in a single batch request"
#: (https://cloud.google.com/storage/docs/batch).
MAX_CALLS = 100

_CONTENT_ID = re.compile(r"^content-id:\s*<response-(\d+)>\s*$", re.IGNORECASE | re.MULTILINE)
_STATUS = re.compile(r"^HTTP/1\.[01] (\d{3})", re.MULTILINE)
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


def encode_deletes(bucket: str, names: Sequence[str]) -> tuple[bytes, str]:
    """The body and Content-Type of a batch that deletes `names` (Content-ID = index)."""
    boundary = f"batch_{os.urandom(12).hex()}"
    parts = []
    for index, name in enumerate(names):
        path = f"/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}"
        parts.append(
            f"--{boundary}\r\nContent-Type: application/http\r\n"
            f"Content-Transfer-Encoding: binary\r\nContent-ID: <{index}>\r\n\r\n"
            f"DELETE {path} HTTP/1.1\r\nContent-Length: 0\r\n\r\n\r\n"
        )
    parts.append(f"--{boundary}--\r\n")
    return "".join(parts).encode(), f"multipart/mixed; boundary={boundary}"


def parse_answers(content_type: str, body: str) -> dict[int, tuple[int, str]]:
    """`{index: (status, body)}` from a batch answer; calls missing from it are left out."""
    match = _BOUNDARY.search(content_type)
    if match is None:
        return {}
    answers: dict[int, tuple[int, str]] = {}
    for part in body.split(f"--{match.group(1)}"):
        ident = _CONTENT_ID.search(part)
        status = _STATUS.search(part)
        if ident is None or status is None:
            continue
        # The call's own body follows the blank line after its headers.
        inner = part[status.start():]
        _, _, payload = inner.replace("\r\n", "\n").partition("\n\n")
        answers[int(ident.group(1))] = (int(status.group(1)), payload.strip())
    return answers
