"""The shared helpers cloud drivers are built on: settings, error translation, log redaction,
and the test factory that closes every driver."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import pytest
from helpers import WrappedDriver

from artifacts_async import (
    ArtifactError,
    BackendError,
    ConfigurationError,
    Credentials,
    SecretRef,
)
from artifacts_async._drivers._memory import MemoryDriver
from artifacts_async.abc import SecretRedactor, SettingsReader, http_range, translated_errors
from artifacts_async.testing import driver_factory

pytestmark = pytest.mark.anyio


def _error(settings: Mapping[str, Any], read: str, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ConfigurationError) as info:
        getattr(SettingsReader(settings, driver="demo"), read)(*args, **kwargs)
    return str(info.value)


def test_settings_reader_reads_typed_values() -> None:
    """Each reader returns the value, its default when unset, and None for empty strings."""
    read = SettingsReader({"s": "x", "e": "", "f": False, "n": None, "t": 2, "c": 3},
                          driver="demo")
    assert (read.string("s"), read.string("e"), read.string("missing")) == ("x", None, None)
    assert (read.flag("f", default=True), read.flag("n", default=True)) == (False, True)
    assert read.flag("missing", default=True) is True
    assert read.seconds("t", 9.0) == 2.0
    assert isinstance(read.seconds("t", 9.0), float)
    assert read.seconds("missing", 1.5) == 1.5
    assert (read.count("c", 1), read.count("missing", 32)) == (3, 32)


def test_settings_reader_names_driver_and_setting() -> None:
    """A bad value raises ConfigurationError prefixed with the driver's name, naming it."""
    assert _error({"s": 3}, "string", "s") == "demo driver: 's' must be a string, got int"
    assert _error({"f": "yes"}, "flag", "f", default=False) == \
        "demo driver: 'f' must be true or false, got 'yes'"
    for bad in (0, -1.0, True, "5"):
        assert _error({"t": bad}, "seconds", "t", 1.0) == \
            f"demo driver: 't' must be a positive number of seconds, got {bad!r}"
    for bad in (0, 2.0, True):
        assert _error({"c": bad}, "count", "c", 1) == \
            f"demo driver: 'c' must be a positive integer, got {bad!r}"


def test_settings_reader_rejects_unknown_settings() -> None:
    """check_known names the unknown settings and lists the known ones with aliases."""
    SettingsReader({"a": 1}, driver="demo").check_known(["a", "b"])
    assert _error({"a": 1, "z": 2, "y": 3}, "check_known", ["a", "b"], aliases=["c"]) == \
        "demo driver: unknown setting(s) y, z (known: a, b, c)"


def test_settings_reader_credentials() -> None:
    """Credentials come as a value, a mapping, or unset (the SDK's chain); nothing else."""
    read = SettingsReader({}, driver="demo")
    assert read.credentials() == Credentials(use_sdk_default=True)
    value = Credentials(refs={"key": SecretRef("env", "KEY")})
    assert SettingsReader({"credentials": value}, driver="demo").credentials() is value
    parsed = SettingsReader({"credentials": {"key_env": "KEY"}}, driver="demo").credentials()
    assert parsed.refs == {"key": SecretRef("env", "KEY")}
    assert _error({"credentials": "KEY"}, "credentials") == \
        "demo driver: 'credentials' must be a Credentials or a mapping, got str"


def test_translated_errors_maps_chains_and_passes_through() -> None:
    """Mapped exceptions are raised chained; ArtifactErrors and unmapped ones pass unchanged."""

    def translate(exc: Exception) -> ArtifactError | None:
        return BackendError(f"mapped {exc}") if isinstance(exc, KeyError) else None

    with pytest.raises(BackendError, match="mapped 'k'") as info, translated_errors(translate):
        raise KeyError("k")
    assert isinstance(info.value.__cause__, KeyError)
    original = ConfigurationError("ours already")
    with pytest.raises(ConfigurationError) as passed, \
            translated_errors(lambda exc: BackendError("never")):
        raise original
    assert passed.value is original
    with pytest.raises(ValueError, match="not ours"), translated_errors(translate):
        raise ValueError("not ours")


def test_secret_redactor_masks_secrets_and_patterns(caplog: pytest.LogCaptureFixture) -> None:
    """Registered secrets (longest first, with URL forms) and pattern matches become ***."""
    child = logging.getLogger("demo_sdk.transport")  # exists before register: reached too
    redactor = SecretRedactor(
        loggers=("demo_sdk",),
        patterns=re.compile(r"(<Token>)[^<]*(</)|(sig=)[^&\s]+"),
        url_encoded=True,
    )
    redactor.register("abc", None, "", "pass+word/1", "pass+word/1-longer")
    caplog.set_level(logging.DEBUG)
    child.debug("a %s b %s c %s", "pass+word/1-longer", quote("pass+word/1", safe=""), "abc")
    child.debug("<Token>t0k3n</Token> url?sig=s1gn&x=1")
    logging.getLogger("unrelated").debug("pass+word/1")
    lines = [record.getMessage() for record in caplog.records]
    assert lines == ["a *** b *** c abc", "<Token>***</Token> url?sig=***&x=1", "pass+word/1"]


def test_secret_redactor_reaches_loggers_created_later(caplog: pytest.LogCaptureFixture) -> None:
    """register() again attaches the filter to the SDK's loggers created since."""
    redactor = SecretRedactor(loggers=("late_sdk",))
    redactor.register("s3cr3t-value")
    caplog.set_level(logging.DEBUG)
    late = logging.getLogger("late_sdk.created.after")
    late.debug("before s3cr3t-value")
    redactor.register()
    late.debug("after s3cr3t-value")
    assert [r.getMessage() for r in caplog.records] == ["before s3cr3t-value", "after ***"]


class _Closing(WrappedDriver):
    closed: ClassVar[list[str]] = []

    async def aclose(self) -> None:
        await super().aclose()
        self.closed.append(self.inner.describe("k"))


async def test_driver_factory_builds_with_overrides_and_closes_all() -> None:
    """driver_factory merges overrides into the settings and closes every driver, on error too."""
    _Closing.closed = []

    def build(settings: Mapping[str, Any]) -> _Closing:
        return _Closing(MemoryDriver.from_settings(settings))

    made: list[_Closing] = []

    async def use() -> None:
        async with driver_factory(build, {"name": "factory-a"}) as make:
            made.extend([make(), make(name="factory-b")])
            assert _Closing.closed == []
            raise RuntimeError("test failed")

    with pytest.raises(RuntimeError, match="test failed"):
        await use()
    first, second = made
    assert _Closing.closed == [first.describe("k"), second.describe("k")]
    assert first.describe("k") != second.describe("k")


@pytest.mark.parametrize(
    ("offset", "length", "expected", "asks_size"),
    [
        (0, None, None, False),
        (5, None, "bytes=5-", False),
        (5, 10, "bytes=5-14", False),
        (-4, None, "bytes=-4", False),
        (-4, 2, "bytes=96-97", True),
        (-200, 3, "bytes=0-2", True),
        (0, 0, "", True),
    ],
)
async def test_http_range(offset: int, length: int | None, expected: str | None,
                          asks_size: bool) -> None:
    """`http_range` gives the Range header of a read, asking for the size only if needed."""
    asked: list[bool] = []

    async def size() -> int:
        asked.append(True)
        return 100

    assert await http_range(offset, length, size=size) == expected
    assert bool(asked) == asks_size
