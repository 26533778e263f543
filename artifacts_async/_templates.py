"""Key templates: Argo's `{{workflow.uid}}`-style variables, rendered purely.

Rendering is deterministic: the same template and context always give the same key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from ._exceptions import KeyTemplateError
from ._specs import Context

__all__ = ["render_key", "validate_key"]

MAX_KEY_BYTES = 1024
_VAR = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
# Unicode category Cc: exactly U+0000-U+001F, U+007F-U+009F.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

# `workflow.creationTimestamp.<X>` formats with strftime's `%X` for these letters.
_STRFTIME = frozenset("YmdHMSyBbAaIpZz")
_TIMESTAMP_PARTS = _STRFTIME | {"", "RFC3339", "s"}


def _timestamp(ts: datetime, part: str) -> str:
    if part in ("", "RFC3339"):
        return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if part == "s":
        return str(int(ts.timestamp()))
    return ts.strftime(f"%{part}")


_SIMPLE: dict[str, Callable[[Context], str]] = {
    "workflow.name": lambda c: c.workflow_name,
    "workflow.namespace": lambda c: c.namespace,
    "workflow.uid": lambda c: c.workflow_uid,
    "pod.name": lambda c: c.pod_name,
    "node.id": lambda c: c.node_id,
    "retry.attempt": lambda c: str(c.retry_attempt),
}


def _lookup(variable: str, context: Context) -> str:
    if variable in _SIMPLE:
        value = _SIMPLE[variable](context)
        if not value:
            raise KeyTemplateError(f"{{{{{variable}}}}} is empty in the context: set it")
        return value
    for prefix, table in (
        ("workflow.labels.", context.labels),
        ("workflow.annotations.", context.annotations),
        ("workflow.parameters.", context.parameters),
    ):
        if variable.startswith(prefix):
            name = variable.removeprefix(prefix)
            if name not in table:
                raise KeyTemplateError(
                    f"{{{{{variable}}}}}: the workflow has no {prefix.split('.')[1][:-1]} {name!r}"
                )
            return table[name]
    if variable == "workflow.creationTimestamp" or variable.startswith(
        "workflow.creationTimestamp."
    ):
        part = variable.removeprefix("workflow.creationTimestamp").removeprefix(".")
        if part in _TIMESTAMP_PARTS:
            if context.creation_timestamp is None:
                raise KeyTemplateError(
                    f"{{{{{variable}}}}} is empty in the context: set creation_timestamp"
                )
            return _timestamp(context.creation_timestamp, part)
    raise KeyTemplateError(
        f"unknown variable {{{{{variable}}}}}: use workflow.name, workflow.namespace, "
        "workflow.uid, workflow.labels.<k>, workflow.annotations.<k>, workflow.parameters.<k>, "
        "workflow.creationTimestamp[.<Y|m|d|H|M|S|y|B|b|A|a|I|p|Z|z|RFC3339|s>], pod.name, "
        "node.id or retry.attempt"
    )


def render_key(template: str, context: Context) -> str:
    """Substitute every `{{variable}}` in `template`; raise `KeyTemplateError` on any problem."""
    if "{{" not in template and "}}" not in template:
        return template  # no variable: the common explicit key, at no regex cost
    leftover = _VAR.sub("", template)
    if "{{" in leftover or "}}" in leftover:
        raise KeyTemplateError(f"unterminated '{{{{' or stray '}}}}' in key template {template!r}")
    return _VAR.sub(lambda m: _lookup(m.group(1), context), template)


# One segment: not '.' or '..', no '/', control character or lone surrogate (not UTF-8).
_SEGMENT = r"(?!\.\.?(?:/|$))[^/\x00-\x1f\x7f-\x9f\ud800-\udfff]+"
#: Keys that pass every check below; at most 256 characters are at most 1024 UTF-8 bytes.
_SAFE_KEY = re.compile(f"{_SEGMENT}(?:/{_SEGMENT})*")


#: Keys of at most this many characters that `is_safe_key` matches pass `validate_key`.
SAFE_KEY_CHARS = MAX_KEY_BYTES // 4
#: `validate_key`'s fast path (one regex match), for loops over many keys.
is_safe_key = _SAFE_KEY.fullmatch


def validate_key(key: str) -> str:
    """Return `key` if it is safe as an object key, else raise `KeyTemplateError`."""
    if len(key) <= SAFE_KEY_CHARS and _SAFE_KEY.fullmatch(key):
        return key  # the common case in one regex match
    return _checked_key(key)


def _checked_key(key: str) -> str:
    """`validate_key` one check at a time, so that the error names the problem."""
    if not key:
        raise KeyTemplateError("the key is empty")
    if key.startswith("/"):
        raise KeyTemplateError(f"key {key!r} is absolute: keys are relative to the repository")
    if _CONTROL.search(key):  # C0, DEL and C1
        raise KeyTemplateError(f"key {key!r} contains control characters")
    # Substring tests rather than a split: planning 10,000 keys runs before `on_report`.
    wrapped = f"/{key}/"
    if "/./" in wrapped or "/../" in wrapped:
        raise KeyTemplateError(f"key {key!r} has a '.' or '..' segment")
    if "//" in wrapped:  # the key is not empty and does not start with '/': checked above
        raise KeyTemplateError(f"key {key!r} has an empty segment ('//' or a trailing '/')")
    try:
        size = len(key) if key.isascii() else len(key.encode("utf-8"))
    except UnicodeEncodeError:
        # A path name that is not UTF-8 (its bytes decoded with surrogate escapes).
        raise KeyTemplateError(
            f"key {key!r} is not valid UTF-8 (from a file name in another encoding?): "
            "give the artifact a key"
        ) from None
    if size > MAX_KEY_BYTES:
        raise KeyTemplateError(f"key is longer than {MAX_KEY_BYTES} bytes: {key[:64]!r}...")
    return key
