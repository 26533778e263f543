"""Planning: pure functions from specs and context to records. No I/O.

Planning the same specs with the same context always gives the same records, so a
retried step (or a second call) computes the same keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from ._config import Repository, RepositoryConfig
from ._exceptions import ConfigurationError, KeyTemplateError
from ._records import ArtifactRecord, ArtifactStatus, Location
from ._specs import Archive, ArchiveKind, Context, GCStrategy, InputArtifact, OutputArtifact
from ._templates import render_key, validate_key

__all__ = ["plan_inputs", "plan_outputs"]


def location_url(repository: Repository, key: str) -> str:
    """A display URL for `key` in `repository`, derived from its settings alone."""
    settings = repository.settings
    for field in ("bucket", "container"):
        if field in settings:
            return f"{repository.driver}://{settings[field]}/{key}"
    if "root" in settings:
        return f"file://{PurePosixPath(str(settings['root'])) / key}"
    return f"{repository.driver}://{repository.name}/{key}"


def _key(template: str, context: Context, artifact: str) -> str:
    try:
        return validate_key(render_key(template, context))
    except KeyTemplateError as exc:
        raise KeyTemplateError(f"artifact {artifact!r}: {exc}") from None


def _check_names(names: Sequence[str], kind: str) -> None:
    seen: set[str] = set()
    for name in names:
        if not name or "/" in name:
            raise ConfigurationError(f"{kind} name {name!r} must be non-empty and contain no '/'")
        if name in seen:
            raise ConfigurationError(f"two {kind}s are named {name!r}: names must be unique")
        seen.add(name)


def plan_output(spec: OutputArtifact, context: Context, config: RepositoryConfig) -> ArtifactRecord:
    """The planned record of one output."""
    repository = config.get(spec.repository, artifact=spec.name)
    archive = spec.archive or repository.archive
    if spec.key is not None:
        key = _key(spec.key, context, spec.name)
    else:
        leaf = f"{spec.name}{archive.suffix}" if archive.kind is not ArchiveKind.NONE else (
            spec.path.name or spec.name
        )
        key = _key(f"{repository.key_format.rstrip('/')}/{leaf}", context, spec.name)
    gc = spec.gc or context.artifact_gc or repository.gc or GCStrategy.NEVER
    return ArtifactRecord(
        name=spec.name,
        location=Location(
            repository=repository.name,
            driver=repository.driver,
            key=key,
            url=location_url(repository, key),
        ),
        archive=archive,
        gc=gc,
        status=ArtifactStatus.PLANNED,
        workflow_uid=context.workflow_uid,
        node_id=context.node_id,
        attempt=context.retry_attempt,
        mode=spec.mode,
    )


def plan_outputs(
    outputs: Sequence[OutputArtifact], *, context: Context, config: RepositoryConfig
) -> list[ArtifactRecord]:
    """Plan every output; raise the first planning error before anything moves.

    Raises `ConfigurationError` for a duplicate name, an unknown repository or two
    artifacts that render the same key, and `KeyTemplateError` for a bad template.
    """
    _check_names([o.name for o in outputs], "output artifact")
    records = [plan_output(spec, context, config) for spec in outputs]
    by_location: dict[tuple[str, str], str] = {}
    for record in records:
        where = (record.location.repository, record.location.key)
        if where in by_location:
            raise KeyTemplateError(
                f"artifacts {by_location[where]!r} and {record.name!r} both render key "
                f"{record.location.key!r}: give one of them a distinct key"
            )
        by_location[where] = record.name
    return records


def plan_input(spec: InputArtifact, context: Context, config: RepositoryConfig) -> ArtifactRecord:
    """The record an input is read from: its own record, or one planned from its key."""
    if spec.record is not None:
        if spec.key is not None:
            raise ConfigurationError(f"input {spec.name!r}: give either key or record, not both")
        return spec.record
    if spec.key is None:
        raise ConfigurationError(f"input {spec.name!r} has neither a key nor a record: give one")
    repository = config.get(spec.repository, artifact=spec.name)
    key = _key(spec.key, context, spec.name)
    return ArtifactRecord(
        name=spec.name,
        location=Location(
            repository=repository.name,
            driver=repository.driver,
            key=key,
            url=location_url(repository, key),
        ),
        archive=spec.archive or Archive.for_key(key),
        gc=GCStrategy.NEVER,
        status=ArtifactStatus.STORED,
        workflow_uid=context.workflow_uid,
    )


def plan_inputs(
    inputs: Sequence[InputArtifact], *, context: Context, config: RepositoryConfig
) -> list[ArtifactRecord]:
    """Resolve every input's location; raise before any download on a planning error."""
    _check_names([i.name for i in inputs], "input artifact")
    return [plan_input(spec, context, config) for spec in inputs]
