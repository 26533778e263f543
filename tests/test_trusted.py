"""Records planned without re-checking fields equal the ones the checked constructors build."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import artifacts_async._records as records_module
from artifacts_async import (
    Archive,
    ArtifactRecord,
    ArtifactStatus,
    ConfigurationError,
    Context,
    GCStrategy,
    KeyTemplateError,
    Location,
    OutputArtifact,
    RepositoryConfig,
    plan_outputs,
)
from artifacts_async._templates import _checked_key, validate_key
from artifacts_async._trusted import (
    trusted_location,
    trusted_record,
    with_location_fields,
    with_record_fields,
)

FAST = settings(derandomize=True, deadline=None, max_examples=300, database=None,
                suppress_health_check=[HealthCheck.too_slow])
CONFIG = RepositoryConfig.from_dict({
    "default": "main",
    "repositories": {
        "main": {"driver": "memory", "name": "plan",
                 "key_format": "{{workflow.name}}/{{pod.name}}"},
        "other": {"driver": "s3", "bucket": "b", "gc": "on_workflow_deletion"},
    },
})
CTX = Context(workflow_name="wf", workflow_uid="u-1", pod_name="wf-123", retry_attempt=2,
              node_id="n-1")


def _checked(record: ArtifactRecord) -> ArtifactRecord:
    """The same record built again through the public, checking constructors."""
    fields: dict[str, Any] = attrs.asdict(record, recurse=False)
    fields["location"] = Location(**attrs.asdict(record.location))
    return ArtifactRecord(**fields)


def _specs() -> list[OutputArtifact]:
    return [
        OutputArtifact(name="logs", path="out/logs"),
        OutputArtifact(name="model", path="out/model.bin", archive=Archive.none(), mode=0o640),
        OutputArtifact(name="data", path="d", key="x/{{workflow.uid}}/d.zip",
                       repository="other", archive=Archive.zip(), gc=GCStrategy.NEVER),
        # Braces in the name: the whole default template is rendered, not a cached prefix.
        OutputArtifact(name="n{{workflow.uid}}", path="n"),
    ]


def test_planned_records_equal_checked_ones() -> None:
    """Planning skips field checks, yet every record equals (and hashes, prints and
    serializes like) the one the public constructors build and check."""
    planned = plan_outputs(_specs(), context=CTX, config=CONFIG)
    for record in planned:
        checked = _checked(record)
        assert record == checked
        assert hash(record) == hash(checked)
        assert repr(record) == repr(checked)
        assert record.to_dict() == checked.to_dict()
        assert ArtifactRecord.from_dict(record.to_dict()) == record
    assert [r.location.key for r in planned] == [
        "wf/wf-123/logs.tgz", "wf/wf-123/model.bin", "x/u-1/d.zip", "wf/wf-123/nu-1.tgz"]
    assert [r.gc for r in planned] == [GCStrategy.NEVER, GCStrategy.NEVER, GCStrategy.NEVER,
                                       GCStrategy.NEVER]
    assert planned[1].mode == 0o640
    assert {r.attempt for r in planned} == {2}


def test_planning_builds_no_record_through_the_checking_constructor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Planning many outputs never runs the per-field checks (the cost of `on_report`)."""

    def refuse(self: object, *args: object, **kwargs: object) -> None:
        raise AssertionError("a planned record went through the checking constructor")

    monkeypatch.setattr(records_module.ArtifactRecord, "__init__", refuse)
    monkeypatch.setattr(records_module.Location, "__init__", refuse)
    specs = [OutputArtifact(name=f"a{i}", path=f"p{i}", key=f"k/{i}") for i in range(200)]
    planned = plan_outputs(specs, context=CTX, config=CONFIG)
    assert [r.location.key for r in planned] == [f"k/{i}" for i in range(200)]


def test_describe_gives_the_url_and_must_give_a_str() -> None:
    """Each record carries the URL its repository's driver describes; anything but a str
    is a typed error."""
    (record,) = plan_outputs([OutputArtifact(name="a", path="a", key="k")], context=CTX,
                             config=CONFIG, describe={"main": lambda key: f"mem://x/{key}"})
    assert record.location.url == "mem://x/k"
    with pytest.raises(ConfigurationError, match="not a str"):
        plan_outputs([OutputArtifact(name="a", path="a", key="k")], context=CTX,
                     config=CONFIG, describe={"main": lambda key: 5})  # type: ignore[dict-item,return-value]


def test_evolving_without_checks_equals_attrs_evolve() -> None:
    """`with_record_fields` and `with_location_fields` change exactly what they are given."""
    location = trusted_location(repository="r", driver="memory", key="k", url="u")
    record = trusted_record(name="a", location=location, archive=Archive.none(),
                            gc=GCStrategy.NEVER)
    assert record == ArtifactRecord(name="a", location=Location(repository="r", driver="memory",
                                                                 key="k", url="u"),
                                    archive=Archive.none(), gc=GCStrategy.NEVER)
    changes: dict[str, Any] = {"status": ArtifactStatus.STORED, "size": 3,
                               "checksum": "crc32c:0000abcd"}
    assert with_record_fields(record, **changes) == attrs.evolve(record, **changes)
    assert with_location_fields(location, url="v") == attrs.evolve(location, url="v")
    assert record.status is ArtifactStatus.PLANNED  # the original is unchanged
    with pytest.raises(TypeError):
        with_record_fields(record, bogus=1)


def test_the_public_constructor_still_checks() -> None:
    """User-built records are checked as before; only the engine's skip the checks."""
    with pytest.raises(ConfigurationError, match="checksum"):
        ArtifactRecord(name="a", location=Location(repository="r", driver="d", key="k"),
                       archive=Archive.none(), gc=GCStrategy.NEVER, checksum="md5:xyz")


keys = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(["a", ".", "..", "", ".a", "a.", "é", "\x01", "\ud800", "b c"]),
             max_size=6).map("/".join),
    st.integers(250, 300).map(lambda n: "k" * n),
    st.integers(60, 70).map(lambda n: "é" * n * 4),
)


@FAST
@given(key=keys)
def test_the_key_fast_path_agrees_with_every_check(key: str) -> None:
    """`validate_key`'s one-regex fast path accepts and refuses exactly what the checks
    one at a time do."""
    try:
        expected: str | None = _checked_key(key)
    except KeyTemplateError:
        expected = None
    try:
        got: str | None = validate_key(key)
    except KeyTemplateError:
        got = None
    assert got == expected
