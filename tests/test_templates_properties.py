"""Property tests of key templates: rendering is pure, safe keys pass, unsafe ones never do."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import artifacts_async as aa
from artifacts_async._templates import MAX_KEY_BYTES, validate_key

# Derandomized: CI runs the same examples every time, and a failure reproduces.
FAST = settings(derandomize=True, deadline=None, max_examples=100, database=None,
                suppress_health_check=[HealthCheck.too_slow])

SAFE_CHARS = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/{}")
segment = st.text(SAFE_CHARS, min_size=1, max_size=12).filter(lambda s: s not in (".", ".."))
safe_key = st.lists(segment, min_size=1, max_size=6).map("/".join).filter(
    lambda k: len(k.encode()) <= MAX_KEY_BYTES)
value = st.text(SAFE_CHARS, min_size=1, max_size=16).filter(lambda s: s not in (".", ".."))

contexts = st.builds(
    aa.Context,
    workflow_name=value, workflow_uid=value, namespace=value, pod_name=value, node_id=value,
    retry_attempt=st.integers(0, 50),
    labels=st.dictionaries(st.sampled_from(["team", "app"]), value, max_size=2),
    creation_timestamp=st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
)
VARIABLES = ["workflow.name", "workflow.uid", "workflow.namespace", "pod.name", "node.id",
             "retry.attempt", "workflow.labels.team", "workflow.creationTimestamp.Y",
             "workflow.creationTimestamp", "workflow.creationTimestamp.s", "workflow.bogus"]
template_part = st.one_of(segment, st.sampled_from(VARIABLES).map(lambda v: f"{{{{{v}}}}}"),
                          st.sampled_from(["/", "{{", "}}", "{", "..", " "]))
templates = st.lists(template_part, max_size=8).map("".join)


@FAST
@given(template=templates, context=contexts)
def test_render_is_deterministic_and_typed(template: str, context: aa.Context) -> None:
    """The same template and context give the same key; failures are KeyTemplateError only."""
    def outcome() -> str:
        try:
            return "key: " + aa.render_key(template, context)
        except aa.KeyTemplateError as exc:
            return f"error: {exc}"

    first = outcome()
    assert outcome() == first
    if first.startswith("error: "):
        return
    first = first.removeprefix("key: ")
    assert aa.render_key(template, aa.Context(**{
        f: getattr(context, f) for f in ("workflow_name", "workflow_uid", "namespace",
                                         "pod_name", "node_id", "retry_attempt", "labels",
                                         "creation_timestamp")})) == first


@FAST
@given(key=safe_key, context=contexts)
def test_valid_keys_stay_valid(key: str, context: aa.Context) -> None:
    """A safe key without variables renders to itself and passes validation unchanged."""
    assert aa.render_key(key, context) == key
    assert validate_key(key) == key


@FAST
@given(name=value, pod=value, leaf=segment)
def test_variables_substitute_exactly(name: str, pod: str, leaf: str) -> None:
    """Each variable is replaced by its value and nothing else changes."""
    context = aa.Context(workflow_name=name, pod_name=pod)
    key = aa.render_key("{{workflow.name}}/{{ pod.name }}/" + leaf, context)
    assert key == f"{name}/{pod}/{leaf}"
    assert validate_key(key) == key


unsafe = st.one_of(
    safe_key.map(lambda k: "/" + k),                                   # absolute
    st.tuples(safe_key, st.sampled_from(["..", "."]), safe_key).map("/".join),
    st.tuples(safe_key, safe_key).map(lambda t: f"{t[0]}//{t[1]}"),   # empty segment
    safe_key.map(lambda k: k + "/"),                                   # trailing slash
    st.tuples(safe_key, st.characters(categories=["Cc"])).map("".join),  # control char
    st.tuples(safe_key, st.characters(categories=["Cs"])).map("".join),  # not UTF-8
    safe_key.map(lambda k: (k + "/") * (MAX_KEY_BYTES // max(1, len(k)) + 2) + "x"),
    st.just(""),
)


@FAST
@given(key=unsafe)
def test_unsafe_keys_refused(key: str) -> None:
    """An absolute, dotted, empty-segment, control-character, non-UTF-8 or too long key is
    refused with KeyTemplateError."""
    with pytest.raises(aa.KeyTemplateError):
        validate_key(key)


@FAST
@given(bad=st.sampled_from(["..", "../etc", "a//b", "/abs", "x\x00y"]))
def test_unsafe_values_refused_when_planned(bad: str) -> None:
    """A context value that makes the key unsafe fails planning, naming the artifact."""
    config = aa.RepositoryConfig.from_dict({"repositories": {"r": {"driver": "memory"}}})
    context = aa.Context(workflow_name="wf", workflow_uid=bad, pod_name="p",
                         creation_timestamp=datetime(2024, 1, 1, tzinfo=UTC))
    spec = aa.OutputArtifact(name="model", path="m.bin", key="runs/{{workflow.uid}}/m.bin")
    with pytest.raises(aa.KeyTemplateError, match="'model'"):
        aa.plan_outputs([spec], context=context, config=config)
