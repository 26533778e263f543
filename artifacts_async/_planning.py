"""Planning: pure functions from specs and context to records. No I/O.

Planning the same specs with the same context always gives the same records, so a
retried step (or a second call) computes the same keys.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from pathlib import PurePosixPath

import attrs

from ._config import Repository, RepositoryConfig
from ._exceptions import ConfigurationError, KeyTemplateError
from ._records import ArtifactRecord, ArtifactStatus
from ._specs import Archive, ArchiveKind, Context, GCStrategy, InputArtifact, OutputArtifact
from ._templates import SAFE_KEY_CHARS, is_safe_key, render_key, validate_key
from ._trusted import trusted_location, trusted_record

__all__ = ["Describe", "plan_inputs", "plan_outputs"]

#: A repository's drivers' own URL of a key (`Driver.describe`), by repository name.
Describe = Mapping[str, Callable[[str], str]]


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


def _valid(key: str, artifact: str) -> str:
    try:
        return validate_key(key)
    except KeyTemplateError as exc:
        raise KeyTemplateError(f"artifact {artifact!r}: {exc}") from None


def _check_names(names: Sequence[str], kind: str) -> None:
    # Specs refuse an empty name or one with '/' when they are built: with distinct names
    # (one set, at C speed) there is nothing to find.
    if len(set(names)) == len(names):
        return
    seen: set[str] = set()
    for name in names:
        if not name or "/" in name:
            raise ConfigurationError(f"{kind} name {name!r} must be non-empty and contain no '/'")
        if name in seen:
            raise ConfigurationError(f"two {kind}s are named {name!r}: names must be unique")
        seen.add(name)


@attrs.frozen
class _Target:
    """What every output planned into one repository shares, worked out once per batch."""

    repository: Repository
    url_of: Callable[[str], str]
    key_prefix: str
    rendered_prefix: str | None  # None when it does not render alone (a whole key may)
    gc: GCStrategy | None  # the workflow's, else the repository's default

    @classmethod
    def of(cls, repository: Repository, context: Context, describe: Describe | None) -> _Target:
        url_of = describe.get(repository.name) if describe is not None else None
        prefix = repository.key_format.rstrip("/")
        try:
            rendered: str | None = render_key(prefix, context)
        except KeyTemplateError:
            rendered = None  # each artifact's own rendering raises its error
        return cls(
            repository=repository,
            url_of=url_of or functools.partial(location_url, repository),
            key_prefix=prefix,
            rendered_prefix=rendered,
            gc=context.artifact_gc or repository.gc,
        )


def _first_clash(records: Sequence[ArtifactRecord]) -> tuple[str, str, str] | None:
    """The first two records (in order) planned to one location, and its key."""
    by_location: dict[tuple[str, str], str] = {}
    for record in records:
        where = (record.location.repository, record.location.key)
        if where in by_location:
            return by_location[where], record.name, record.location.key
        by_location[where] = record.name
    return None


def plan_outputs(
    outputs: Sequence[OutputArtifact],
    *,
    context: Context,
    config: RepositoryConfig,
    describe: Describe | None = None,
) -> list[ArtifactRecord]:
    """Plan every output; raise the first planning error before anything moves.

    Raises `ConfigurationError` for a duplicate name, an unknown repository or two
    artifacts that render the same key, and `KeyTemplateError` for a bad template.
    `describe` maps a repository name to its driver's `describe`, giving each record the
    URL the driver reports (else one derived from the repository's settings).

    Records are built without re-checking their fields (`_trusted`): every value comes
    from a spec, the context or the configuration, each checked when it was built, or is
    a key `validate_key` accepted. What a batch shares is worked out once: planning
    10,000 outputs runs before `on_report`.
    """
    _check_names([o.name for o in outputs], "output artifact")
    # Each spec costs a few µs here and 10,000 are planned before `on_report`: the loop
    # keeps to local names, the fast path of each check inline, and one key list per
    # repository whose clashes are looked for after the loop (one set, at C speed).
    targets: dict[str | None, tuple[_Target, list[str]]] = {}
    keys_of: dict[str, list[str]] = {}  # the keys planned in each repository, by name
    planned, never, none = ArtifactStatus.PLANNED, GCStrategy.NEVER, ArchiveKind.NONE
    uid, node, attempt = context.workflow_uid, context.node_id, context.retry_attempt
    safe, longest = is_safe_key, SAFE_KEY_CHARS
    records = []
    for spec in outputs:
        found = targets.get(spec.repository)
        if found is None:
            repository = config.get(spec.repository, artifact=spec.name)
            # Two names may pick one repository (None, the default, and its own name).
            found = targets[spec.repository] = (_Target.of(repository, context, describe),
                                                keys_of.setdefault(repository.name, []))
        target, keys = found
        repository = target.repository
        archive = spec.archive or repository.archive
        key = spec.key
        if key is None:
            leaf = f"{spec.name}{archive.suffix}" if archive.kind is not none else (
                spec.path.name or spec.name
            )
            key = f"{target.key_prefix}/{leaf}"
            if "{" not in leaf and "}" not in leaf and target.rendered_prefix is not None:
                # No variable can span the '/' into a leaf without braces: the key format
                # rendered once per batch is the same as the whole template rendered.
                key = f"{target.rendered_prefix}/{leaf}"
                if len(key) > longest or not safe(key):
                    key = _valid(key, spec.name)
            else:
                key = _key(key, context, spec.name)
        elif "{{" in key or "}}" in key or len(key) > longest or not safe(key):
            key = _key(key, context, spec.name)  # a template, or an error to name
        keys.append(key)
        url = target.url_of(key)
        if not isinstance(url, str):
            raise ConfigurationError(
                f"the driver of repository {repository.name!r} described a key as "
                f"{type(url).__name__}, not a str"
            )
        records.append(trusted_record(
            name=spec.name,
            location=trusted_location(repository=repository.name, driver=repository.driver,
                                      key=key, url=url),
            archive=archive,
            gc=spec.gc or target.gc or never,
            status=planned,
            workflow_uid=uid,
            node_id=node,
            attempt=attempt,
            mode=spec.mode,
        ))
    clash = None
    if any(len(set(keys)) != len(keys) for keys in keys_of.values()):
        clash = _first_clash(records)
    if clash is not None:
        first, second, key = clash
        raise KeyTemplateError(
            f"artifacts {first!r} and {second!r} both render key {key!r}: give one of "
            "them a distinct key"
        )
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
    return trusted_record(
        name=spec.name,
        location=trusted_location(
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
