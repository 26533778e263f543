"""`abc.header_value` / `abc.from_header_value`: user metadata through HTTP headers."""

from __future__ import annotations

import pytest

from artifacts_async.abc import from_header_value, header_value


@pytest.mark.parametrize("value", ["plain", "640", "", "a b", "x=y?z"])
def test_what_a_header_keeps_is_sent_as_is(value: str) -> None:
    assert header_value(value) == value
    assert from_header_value(value) == value


@pytest.mark.parametrize("value", [
    "modèle ☃",          # outside ASCII
    " padded ",          # a header trims the ends
    "trailing\t",
    "line\nbreak",       # not printable
    "=?UTF-8?B?eA==?=",  # looks like an encoded word itself
    "=?utf-8?b?eA==?=",
])
def test_the_rest_is_an_encoded_word_that_decodes_exactly(value: str) -> None:
    sent = header_value(value)
    assert sent != value
    assert sent.isascii()
    assert sent.isprintable()
    assert sent == sent.strip()
    assert sent.startswith("=?UTF-8?B?")
    assert sent.endswith("?=")
    assert from_header_value(sent) == value


@pytest.mark.parametrize("foreign", ["=?UTF-8?B?not base64!?=", "=?UTF-8?B?/w==?="])
def test_a_foreign_or_broken_encoded_word_is_kept_as_given(foreign: str) -> None:
    assert from_header_value(foreign) == foreign
