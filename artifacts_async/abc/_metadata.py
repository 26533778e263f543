"""User metadata values in HTTP headers (S3's `x-amz-meta-*`, Azure's `x-ms-meta-*`).

A header carries printable ASCII, and trims whitespace at either end of a value. A value
it cannot carry unchanged (an artifact called "modèle", a value with a leading space) is
sent as an RFC 2047 encoded word, `=?UTF-8?B?<base64>?=`, the form S3 itself answers
non-ASCII metadata in; a value that merely looks like an encoded word is encoded too, so
decoding gives back exactly what was written.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["from_header_value", "header_value"]

_PRINTABLE = re.compile(r"[ -~]*")
_ENCODED = re.compile(r"=\?UTF-8\?B\?([A-Za-z0-9+/=]*)\?=", re.IGNORECASE)


def header_value(value: str) -> str:
    """`value` as a metadata header carries it: unchanged when a header keeps it as it is,
    else as an RFC 2047 encoded word (`from_header_value` is the inverse)."""
    if _PRINTABLE.fullmatch(value) and value == value.strip() and \
            not _ENCODED.fullmatch(value):
        return value
    return f"=?UTF-8?B?{base64.b64encode(value.encode()).decode('ascii')}?="


def from_header_value(value: str) -> str:
    """The value `header_value` encoded; any other value (not an encoded word of UTF-8,
    e.g. written by another tool) as the service gave it."""
    match = _ENCODED.fullmatch(value)
    if match is None:
        return value
    try:
        return base64.b64decode(match.group(1), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return value
