"""Key templates: Argo's variables, timestamps, and unsafe keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from artifacts_async import Context, KeyTemplateError, render_key
from artifacts_async._templates import validate_key

CTX = Context(
    workflow_name="train",
    workflow_uid="6b1f-uid",
    namespace="ml",
    labels={"team": "vision"},
    annotations={"owner": "ana"},
    parameters={"epochs": "12"},
    creation_timestamp=datetime(2024, 3, 7, 9, 5, 4, tzinfo=UTC),
    pod_name="train-2871",
    node_id="train-2871-n1",
    retry_attempt=2,
)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{workflow.name}}/{{pod.name}}", "train/train-2871"),
        ("{{ workflow.namespace }}/{{workflow.uid}}", "ml/6b1f-uid"),
        ("{{workflow.labels.team}}", "vision"),
        ("{{workflow.annotations.owner}}", "ana"),
        ("{{workflow.parameters.epochs}}", "12"),
        ("{{node.id}}-{{retry.attempt}}", "train-2871-n1-2"),
        ("{{workflow.creationTimestamp.Y}}/{{workflow.creationTimestamp.m}}/"
         "{{workflow.creationTimestamp.d}}", "2024/03/07"),
        ("{{workflow.creationTimestamp.H}}{{workflow.creationTimestamp.M}}"
         "{{workflow.creationTimestamp.S}}", "090504"),
        ("{{workflow.creationTimestamp.y}}-{{workflow.creationTimestamp.B}}-"
         "{{workflow.creationTimestamp.b}}", "24-March-Mar"),
        ("{{workflow.creationTimestamp.A}}-{{workflow.creationTimestamp.a}}", "Thursday-Thu"),
        ("{{workflow.creationTimestamp.I}}{{workflow.creationTimestamp.p}}", "09AM"),
        ("{{workflow.creationTimestamp.Z}}{{workflow.creationTimestamp.z}}", "UTC+0000"),
        ("{{workflow.creationTimestamp.RFC3339}}", "2024-03-07T09:05:04Z"),
        ("{{workflow.creationTimestamp}}", "2024-03-07T09:05:04Z"),
        ("{{workflow.creationTimestamp.s}}", "1709802304"),
        ("plain/key.bin", "plain/key.bin"),
    ],
)
def test_variables_render(template: str, expected: str) -> None:
    """Every variable Argo allows renders as Argo renders it."""
    assert render_key(template, CTX) == expected


def test_non_utc_timestamp_renders_in_utc_for_rfc3339() -> None:
    """A timestamp with an offset is shown in UTC for RFC3339."""
    ctx = Context(workflow_name="w", creation_timestamp=datetime(
        2024, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=2))))
    assert render_key("{{workflow.creationTimestamp.RFC3339}}", ctx) == "2023-12-31T23:00:00Z"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{workflow.nope}}", "unknown variable"),
        ("{{workflow.labels.missing}}", "no label 'missing'"),
        ("{{workflow.parameters.x}}", "no parameter 'x'"),
        ("{{workflow.creationTimestamp.Q}}", "unknown variable"),
        ("a/{{workflow.name", "unterminated"),
        ("a/workflow.name}}", "unterminated"),
        ("{{pod.name}}", "empty"),
    ],
)
def test_template_errors(template: str, message: str) -> None:
    """Bad templates raise KeyTemplateError saying what is wrong."""
    ctx = Context(workflow_name="w")
    with pytest.raises(KeyTemplateError, match=message):
        render_key(template, ctx)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "empty"),
        ("/abs/key", "absolute"),
        ("a/../b", r"'\.\.'"),
        ("a/./b", r"'\.'"),
        ("a//b", "empty segment"),
        ("a/b/", "empty segment"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("k" * 1025, "longer than 1024"),
        ("é" * 513, "longer than 1024"),
    ],
)
def test_unsafe_keys_are_refused(key: str, message: str) -> None:
    """Empty, absolute, dot-segment, empty-segment, control and over-long keys are refused."""
    with pytest.raises(KeyTemplateError, match=message):
        validate_key(key)


def test_safe_keys_pass() -> None:
    """Ordinary keys, including spaces, unicode and 1024 bytes exactly, are accepted."""
    for key in ["a", "dir with space/naïve ☃.bin", "k" * 1024, "a/b.c/d..e"]:
        assert validate_key(key) == key
