"""Planning: keys first, deterministic, errors before any upload."""

from __future__ import annotations

import pytest

from artifacts_async import (
    Archive,
    ArtifactRecord,
    ArtifactStatus,
    ConfigurationError,
    Context,
    GCStrategy,
    InputArtifact,
    KeyTemplateError,
    OutputArtifact,
    RepositoryConfig,
    plan_inputs,
    plan_outputs,
)

CONFIG = RepositoryConfig.from_dict({
    "default": "main",
    "repositories": {
        "main": {"driver": "memory", "name": "plan"},
        "cold": {"driver": "s3", "bucket": "cold-bucket", "key_format": "archive/{{workflow.uid}}",
                 "archive": "zip", "gc": "never"},
        "gcd": {"driver": "memory", "gc": "on_workflow_deletion"},
    },
})
CTX = Context(workflow_name="wf", workflow_uid="u-1", pod_name="wf-123", retry_attempt=1,
              node_id="n-1")


def test_default_keys_follow_argo() -> None:
    """No key: `<key format>/<name>.tgz`, `.zip` for zip, the file's basename for none."""
    records = plan_outputs(
        [
            OutputArtifact(name="logs", path="out/logs"),
            OutputArtifact(name="model", path="out/model.bin", archive=Archive.none()),
            OutputArtifact(name="z", path="out/z", archive=Archive.zip()),
            OutputArtifact(name="plain", path="out/p", archive=Archive.tar(compression_level=0)),
            OutputArtifact(name="cold", path="out/c", repository="cold"),
        ],
        context=CTX,
        config=CONFIG,
    )
    assert [r.location.key for r in records] == [
        "wf/wf-123/logs.tgz",
        "wf/wf-123/model.bin",
        "wf/wf-123/z.zip",
        "wf/wf-123/plain.tar",
        "archive/u-1/cold.zip",
    ]
    assert all(r.status is ArtifactStatus.PLANNED for r in records)
    assert records[4].location.url == "s3://cold-bucket/archive/u-1/cold.zip"
    assert records[0].attempt == 1
    assert records[0].node_id == "n-1"


def test_key_only_artifact_uses_repository() -> None:
    """An artifact giving only a key gets the rest of its location from its repository."""
    (record,) = plan_outputs(
        [OutputArtifact(name="m", path="m", key="models/{{workflow.uid}}/m.bin",
                        repository="cold")],
        context=CTX, config=CONFIG,
    )
    assert record.location.repository == "cold"
    assert record.location.driver == "s3"
    assert record.location.key == "models/u-1/m.bin"
    assert record.archive == Archive.zip()


def test_planning_is_deterministic() -> None:
    """The same specs and context always plan the same records."""
    specs = [OutputArtifact(name=f"a{i}", path=f"p{i}") for i in range(20)]
    assert plan_outputs(specs, context=CTX, config=CONFIG) == plan_outputs(
        specs, context=CTX, config=CONFIG)


@pytest.mark.parametrize(
    ("artifact_gc", "workflow_gc", "repository", "expected"),
    [
        (None, None, "main", GCStrategy.NEVER),
        (None, GCStrategy.ON_WORKFLOW_COMPLETION, "main", GCStrategy.ON_WORKFLOW_COMPLETION),
        (GCStrategy.NEVER, GCStrategy.ON_WORKFLOW_COMPLETION, "main", GCStrategy.NEVER),
        (None, None, "gcd", GCStrategy.ON_WORKFLOW_DELETION),
        (None, GCStrategy.ON_WORKFLOW_COMPLETION, "gcd", GCStrategy.ON_WORKFLOW_COMPLETION),
        (GCStrategy.ON_WORKFLOW_DELETION, None, "main", GCStrategy.ON_WORKFLOW_DELETION),
    ],
)
def test_gc_strategy_resolution(
    artifact_gc: GCStrategy | None, workflow_gc: GCStrategy | None, repository: str,
    expected: GCStrategy,
) -> None:
    """Artifact override beats the workflow default, which beats the repository's; else never."""
    ctx = Context(workflow_name="wf", pod_name="p", artifact_gc=workflow_gc)
    (record,) = plan_outputs([OutputArtifact(name="a", path="a", gc=artifact_gc,
                                             repository=repository)], context=ctx, config=CONFIG)
    assert record.gc is expected


def test_errors_name_the_artifact() -> None:
    """A bad template fails the whole plan, naming the artifact and the problem."""
    with pytest.raises(KeyTemplateError, match=r"artifact 'bad'.*unknown variable"):
        plan_outputs([OutputArtifact(name="ok", path="x"),
                      OutputArtifact(name="bad", path="y", key="{{nope}}")],
                     context=CTX, config=CONFIG)
    with pytest.raises(KeyTemplateError, match=r"artifact 'abs'.*absolute"):
        plan_outputs([OutputArtifact(name="abs", path="y", key="/etc/passwd")],
                     context=CTX, config=CONFIG)


def test_duplicates_refused() -> None:
    """Duplicate names, and two artifacts rendering one key, are refused."""
    with pytest.raises(ConfigurationError, match="named 'a'"):
        plan_outputs([OutputArtifact(name="a", path="x"), OutputArtifact(name="a", path="y")],
                     context=CTX, config=CONFIG)
    with pytest.raises(KeyTemplateError, match="both render key"):
        plan_outputs([OutputArtifact(name="a", path="x", key="k"),
                      OutputArtifact(name="b", path="y", key="k")], context=CTX, config=CONFIG)
    # The default repository named two ways (None and its name) is one place; the same
    # key in two repositories is no clash. The first clash in spec order is named.
    with pytest.raises(KeyTemplateError, match="'b' and 'c' both render key 'k'"):
        plan_outputs([OutputArtifact(name="a", path="x", key="k", repository="cold"),
                      OutputArtifact(name="b", path="y", key="k"),
                      OutputArtifact(name="c", path="z", key="k", repository="main"),
                      OutputArtifact(name="d", path="w", key="k", repository="cold")],
                     context=CTX, config=CONFIG)


def test_unknown_repository() -> None:
    """An unknown repository name is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="'nope' is not configured"):
        plan_outputs([OutputArtifact(name="a", path="x", repository="nope")], context=CTX,
                     config=CONFIG)


def test_inputs_from_key_or_record() -> None:
    """Inputs resolve from a key (archive from the suffix) or from an earlier record."""
    (saved,) = plan_outputs([OutputArtifact(name="a", path="x")], context=CTX, config=CONFIG)
    records = plan_inputs(
        [InputArtifact(name="k", path="in/k", key="data/{{workflow.uid}}.tgz"),
         InputArtifact(name="f", path="in/f", key="data/file.bin"),
         InputArtifact(name="r", path="in/r", record=saved)],
        context=CTX, config=CONFIG)
    assert records[0].location.key == "data/u-1.tgz"
    assert records[0].archive == Archive.tar()
    assert records[1].archive == Archive.none()
    assert records[2] is saved
    with pytest.raises(ConfigurationError, match="neither a key nor a record"):
        plan_inputs([InputArtifact(name="x", path="p")], context=CTX, config=CONFIG)


def test_record_round_trips_through_dict() -> None:
    """A record survives to_dict/from_dict (for callbacks, ledgers, controllers)."""
    (record,) = plan_outputs([OutputArtifact(name="a", path="x", mode=0o640)], context=CTX,
                             config=CONFIG)
    data = record.to_dict()
    assert data["status"] == "planned"
    assert data["archive"] == {"kind": "tar", "compression_level": 6}
    assert ArtifactRecord.from_dict(data) == record


def test_invalid_specs() -> None:
    """Invalid modes and compression levels are typed errors at construction."""
    with pytest.raises(ConfigurationError, match="mode"):
        OutputArtifact(name="a", path="x", mode=0o77777)
    with pytest.raises(ConfigurationError, match="0-9"):
        Archive.tar(compression_level=10)
