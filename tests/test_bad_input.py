"""A corpus of bad input: each case raises this library's exact error naming the field.

Configuration dicts and files, Argo ConfigMaps, specs, key templates and records. No
case may surface an `AttributeError`, `TypeError`, `UnicodeError` or a cattrs error.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

import artifacts_async as aa
from artifacts_async import ConfigurationError, KeyTemplateError

SECRET = "hunter2-AKIA-very-secret"


@attrs.frozen
class Case:
    """`call(tmp_path)` raises exactly `error`, whose message contains `field`."""

    id: str
    call: Callable[[Path], object]
    field: str
    error: type[Exception] = ConfigurationError


def _config(data: object) -> Callable[[Path], object]:
    return lambda _: aa.RepositoryConfig.from_dict(data)  # type: ignore[arg-type]


def _repo(**fields: object) -> Callable[[Path], object]:
    return _config({"repositories": {"r": {"driver": "local", **fields}}})


def _file(name: str, content: bytes | str, *, argo: bool | None = None) -> Callable[[Path], object]:
    def load(tmp_path: Path) -> object:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return aa.RepositoryConfig.load(path, argo=argo)

    return load


def _argo(data: object, use: str | None = "<none>") -> Callable[[Path], object]:
    """Load the ConfigMap `data`; when `use` is given, also ask for that repository."""

    def load(_: Path) -> object:
        config = aa.RepositoryConfig.from_argo(data)  # type: ignore[arg-type]
        return config if use == "<none>" else config.get(use)

    return load


def _entry(text: object) -> Callable[[Path], object]:
    return _argo({"e": text, "ok": {"s3": {"bucket": "b"}}}, use="e")


def _s3(**spec: object) -> Callable[[Path], object]:
    return _entry({"s3": {"bucket": "b", **spec}})


def _make(factory: Callable[..., object], **kwargs: Any) -> Callable[[Path], object]:
    return lambda _: factory(**kwargs)


def _output(**kwargs: Any) -> Callable[[Path], object]:
    return _make(aa.OutputArtifact, **{"name": "o", "path": "out", **kwargs})


def _input(**kwargs: Any) -> Callable[[Path], object]:
    return _make(aa.InputArtifact, **{"name": "i", "path": "in", "key": "k", **kwargs})


def _context(**kwargs: Any) -> Callable[[Path], object]:
    return _make(aa.Context, **{"workflow_name": "wf", **kwargs})


CONTEXT = aa.Context(workflow_name="wf", workflow_uid="uid", pod_name="pod",
                     labels={"team": "ml"})
LOCAL = aa.RepositoryConfig.from_dict({"repositories": {"r": {"driver": "local", "root": "/s"}}})


def _key(template: str, context: aa.Context = CONTEXT, **kwargs: Any) -> Callable[[Path], object]:
    spec = aa.OutputArtifact(name="art", path="out.bin", key=template, **kwargs)
    return lambda _: aa.plan_outputs([spec], context=context, config=LOCAL)


RECORD = aa.ArtifactRecord(
    name="n", location=aa.Location(repository="r", driver="local", key="k"),
    archive=aa.Archive.none(), gc=aa.GCStrategy.NEVER,
).to_dict()


def _record(**patch: object) -> Callable[[Path], object]:
    return lambda _: aa.ArtifactRecord.from_dict({**RECORD, **patch})


def _record_value(**fields: object) -> Callable[[Path], object]:
    base: dict[str, object] = {
        "name": "n", "location": aa.Location(repository="r", driver="local", key="k"),
        "archive": aa.Archive.none(), "gc": aa.GCStrategy.NEVER}
    return _make(aa.ArtifactRecord, **{**base, **fields})


CONFIG_DICTS = [
    Case("empty dict", _config({}), "repositories"),
    Case("misspelt top-level key", _config({"repositores": {}}), "did you mean 'repositories'"),
    Case("argo data to from_dict", _config({"default-v1": {"s3": {}}}), "from_argo"),
    Case("not a mapping", _config(["repositories"]), "repository configuration"),
    Case("empty repositories", _config({"repositories": {}}), "'repositories'"),
    Case("repositories a list", _config({"repositories": ["r"]}), "'repositories'"),
    Case("repository a string", _config({"repositories": {"r": "local"}}), "repositories.r"),
    Case("repository name an int", _config({"repositories": {5: {"driver": "local"}}}),
         "repository names"),
    Case("no driver", _config({"repositories": {"r": {"bucket": "b"}}}), "repositories.r.driver"),
    Case("driver an int", _repo(driver=5), "repositories.r.driver"),
    Case("default an int", _config({"default": 5, "repositories": {"r": {"driver": "local"}}}),
         "'default'"),
    Case("default undefined", _config({"default": "x", "repositories": {"r": {"driver": "m"}}}),
         "default repository 'x'"),
    Case("gc an int", _repo(gc=5), "repositories.r.gc"),
    Case("gc unknown", _repo(gc="sometimes"), "repositories.r.gc"),
    Case("gc a list", _repo(gc=["never"]), "repositories.r.gc"),
    Case("archive a list", _repo(archive=["tar"]), "repositories.r.archive"),
    Case("archive options a list", _repo(archive={"tar": [1, 2]}), "repositories.r.archive.tar"),
    Case("archive level a string", _repo(archive={"tar": {"compressionLevel": "9"}}),
         "compression_level"),
    Case("archive level too high", _repo(archive={"tar": {"compressionLevel": 12}}),
         "compression_level"),
    Case("archive level a bool", _repo(archive={"kind": "tar", "compression_level": True}),
         "compression_level"),
    Case("archive kind an int", _repo(archive={"kind": 5}), "repositories.r.archive"),
    Case("archive unknown", _repo(archive="rar"), "repositories.r.archive"),
    Case("archive two kinds", _repo(archive={"tar": {}, "zip": {}}), "repositories.r.archive"),
    Case("key_format an int", _repo(key_format=5), "repositories.r.key_format"),
    Case("credentials a string", _repo(credentials=SECRET), "repositories.r.credentials"),
    Case("credentials a list", _repo(credentials=["AWS_ACCESS_KEY_ID"]),
         "repositories.r.credentials"),
    Case("literal secret", _repo(credentials={"secret_key": SECRET}),
         "repositories.r.credentials.secret_key"),
    Case("env name an int", _repo(credentials={"access_key_env": 5}),
         "credentials.access_key_env"),
    Case("env name empty", _repo(credentials={"access_key_env": ""}),
         "credentials.access_key_env"),
    Case("use_sdk_creds a string", _repo(credentials={"use_sdk_creds": "yes"}),
         "credentials.use_sdk_creds"),
    Case("profile a list", _repo(credentials={"profile": ["p"]}), "credentials.profile"),
    Case("credential key an int", _repo(credentials={1: "x"}), "repositories.r.credentials"),
    Case("setting key an int", _config({"repositories": {"r": {"driver": "local", 5: "x"}}}),
         "repositories.r"),
]

CONFIG_FILES = [
    Case("empty toml file", _file("repos.toml", ""), "repos.toml"),
    Case("comment-only yaml file", _file("repos.yaml", "# nothing\n"), "repos.yaml"),
    Case("json null", _file("repos.json", "null"), "repos.json"),
    Case("non-UTF-8 file", _file("repos.toml", b'default = "caf\xe9"\n'), "not UTF-8"),
    Case("invalid toml", _file("repos.toml", "default = ["), "repos.toml"),
    Case("yaml list", _file("repos.yaml", "- a\n- b\n"), "repository configuration"),
    Case("misspelt key in a file", _file("repos.toml", 'defualt = "r"\n'), "'defualt'"),
    Case("missing file", lambda tmp: aa.RepositoryConfig.load(tmp / "none.toml"), "none.toml"),
    Case("argo=False on a ConfigMap", _file(
        "cm.yaml", "kind: ConfigMap\ndata:\n  d: |\n    s3: {bucket: b}\n", argo=False),
         "from_argo"),
]

ARGO = [
    Case("data a string", _argo({"kind": "ConfigMap", "data": "s3: {}"}), "ConfigMap data"),
    Case("kind not ConfigMap", _argo({"kind": "Secret", "data": {}}), "kind"),
    Case("annotations a list", _argo({"kind": "ConfigMap", "metadata": {"annotations": ["x"]}}),
         "metadata.annotations"),
    Case("default annotation an int", _argo({"kind": "ConfigMap", "metadata": {"annotations": {
        "workflows.argoproj.io/default-artifact-repository": 5}}}),
         "workflows.argoproj.io/default-artifact-repository"),
    Case("configmap a string", _argo("s3: {}"), "ConfigMap"),
    Case("data key an int", _argo({1: {"s3": {}}}), "ConfigMap data keys"),
    Case("entry a list", _entry(["s3"]), "ConfigMap entry 'e'"),
    Case("entry empty", _entry(""), "ConfigMap entry 'e' is empty"),
    Case("entry oss", _entry("oss:\n  bucket: b\n"), "'oss'"),
    Case("entry two kinds", _entry({"s3": {}, "gcs": {}}), "exactly one of"),
    Case("entry unknown kind", _entry({"s4": {}}), "'s4'"),
    Case("entry bad yaml", _entry(f"s3: {{bucket: [{SECRET}\n"), "not valid YAML"),
    Case("s3 a string", _entry({"s3": "my-bucket"}), "s3 must be a mapping"),
    Case("bucket an int", _s3(bucket=5), "s3.bucket"),
    Case("insecure a string", _s3(insecure="yes"), "s3.insecure"),
    Case("keyFormat a list", _s3(keyFormat=["a"]), "s3.keyFormat"),
    Case("useSDKCreds a string", _s3(useSDKCreds="true"), "s3.useSDKCreds"),
    Case("literal accessKeySecret", _s3(accessKeySecret=SECRET), "s3.accessKeySecret"),
    Case("selector without key", _s3(secretKeySecret={"name": "cred"}), "s3.secretKeySecret"),
    Case("literal sessionTokenSecret", _s3(sessionTokenSecret={"name": "c", "key": 5}),
         "s3.sessionTokenSecret"),
    Case("unsupported caSecret", _s3(caSecret={"name": "c", "key": "k"}), "s3.caSecret"),
    Case("literal gcs secret", _entry({"gcs": {"bucket": "b", "serviceAccountKeySecret": SECRET}}),
         "gcs.serviceAccountKeySecret"),
    Case("literal azure secret", _entry({"azure": {"container": "c", "accountKeySecret": SECRET}}),
         "azure.accountKeySecret"),
    Case("default is an unusable entry", _argo({"kind": "ConfigMap", "metadata": {"annotations": {
        "workflows.argoproj.io/default-artifact-repository": "empty"}}, "data": {"empty": ""}},
        use=None), "repository 'empty'"),
]

SPECS = [
    Case("output name an int", _output(name=5), "OutputArtifact.name"),
    Case("output name empty", _output(name=""), "OutputArtifact.name"),
    Case("output name with a slash", _output(name="a/b"), "OutputArtifact.name"),
    Case("output mode a string", _output(mode="644"), "OutputArtifact.mode"),
    Case("output mode too large", _output(mode=0o10000), "OutputArtifact.mode"),
    Case("output mode a bool", _output(mode=True), "OutputArtifact.mode"),
    Case("output path an int", _output(path=5), "path"),
    Case("output archive a string", _output(archive="tar"), "OutputArtifact.archive"),
    Case("output gc a string", _output(gc="never"), "OutputArtifact.gc"),
    Case("output key an int", _output(key=5), "OutputArtifact.key"),
    Case("output optional a string", _output(optional="yes"), "OutputArtifact.optional"),
    Case("output repository an int", _output(repository=5), "OutputArtifact.repository"),
    Case("input record a dict", _input(record=RECORD), "InputArtifact.record"),
    Case("input mode a string", _input(mode="644"), "InputArtifact.mode"),
    Case("input verify a string", _input(verify="no"), "InputArtifact.verify"),
    Case("context name an int", _context(workflow_name=5), "Context.workflow_name"),
    Case("context labels a list", _context(labels=["team"]), "Context.labels"),
    Case("context label an int", _context(labels={"team": 1}), "Context.labels"),
    Case("context attempt negative", _context(retry_attempt=-1), "Context.retry_attempt"),
    Case("context attempt a string", _context(retry_attempt="1"), "Context.retry_attempt"),
    Case("context timestamp a string", _context(creation_timestamp="2024-01-01"),
         "Context.creation_timestamp"),
    Case("context gc a string", _context(artifact_gc="never"), "Context.artifact_gc"),
    Case("archive level out of range", _make(aa.Archive.tar, compression_level=10),
         "compression_level"),
    Case("archive level a string", _make(aa.Archive.tar, compression_level="9"),
         "compression_level"),
    Case("archive kind a string", _make(aa.Archive, kind="tar"), "Archive.kind"),
    Case("gc strategy an int", lambda _: aa.GCStrategy.parse(5), "gc"),
]

TEMPLATES = [
    Case("no creation timestamp", _key("{{workflow.creationTimestamp.Y}}/m",
                                       aa.Context(workflow_name="wf")),
         "workflow.creationTimestamp.Y", KeyTemplateError),
    Case("no creation timestamp (RFC3339)", _key("{{workflow.creationTimestamp}}/m",
                                                 aa.Context(workflow_name="wf")),
         "creation_timestamp", KeyTemplateError),
    Case("unknown timestamp part", _key("{{workflow.creationTimestamp.Q}}/m"),
         "workflow.creationTimestamp.Q", KeyTemplateError),
    Case("unknown variable", _key("{{workflow.bogus}}/m"), "workflow.bogus", KeyTemplateError),
    Case("missing label", _key("{{workflow.labels.owner}}/m"), "'owner'", KeyTemplateError),
    Case("empty uid", _key("{{workflow.uid}}/m", aa.Context(workflow_name="wf")),
         "workflow.uid", KeyTemplateError),
    Case("unterminated", _key("a/{{workflow.name"), "'art'", KeyTemplateError),
    Case("absolute key", _key("/abs/m"), "'art'", KeyTemplateError),
    Case("dot-dot segment", _key("a/../m"), "'art'", KeyTemplateError),
    Case("control character", _key("a/\x01m"), "'art'", KeyTemplateError),
    Case("too long", _key("k" * 1025), "'art'", KeyTemplateError),
    Case("non-UTF-8 path with archive none", lambda _: aa.plan_outputs(
        [aa.OutputArtifact(name="art", path=os.fsdecode(b"out/caf\xe9.bin"),
                           archive=aa.Archive.none())], context=CONTEXT, config=LOCAL),
         "'art'", KeyTemplateError),
]

RECORDS = [
    Case("empty record", lambda _: aa.ArtifactRecord.from_dict({}), "record.name"),
    Case("record a list", lambda _: aa.ArtifactRecord.from_dict([]), "ArtifactRecord"),  # type: ignore[arg-type]
    Case("checksum sha256", _record(checksum="sha256:" + "ab" * 32), "ArtifactRecord.checksum"),
    Case("checksum bare hex", _record(checksum="deadbeef"), "ArtifactRecord.checksum"),
    Case("checksum empty", _record(checksum=""), "ArtifactRecord.checksum"),
    Case("checksum not hex", _record(checksum="crc32c:zzzzzzzz"), "ArtifactRecord.checksum"),
    Case("checksum too short", _record(checksum="crc32c:0"), "ArtifactRecord.checksum"),
    Case("checksum built directly", _record_value(checksum="sha256:00"),
         "ArtifactRecord.checksum"),
    Case("attempt a string", _record(attempt="1"), "record.attempt"),
    Case("name an int", _record(name=5), "record.name"),
    Case("status unknown", _record(status="done"), "record.status"),
    Case("archive a string", _record(archive="tar"), "record.archive"),
    Case("archive kind unknown", _record(archive={"kind": "rar"}), "record.archive"),
    Case("unknown field", _record(bogus=1), "bogus"),
    Case("location incomplete", _record(location={"repository": "r"}), "record.location.key"),
    Case("size negative", _record(size=-1), "ArtifactRecord.size"),
    Case("gc unknown", _record(gc="sometimes"), "record.gc"),
    Case("mode a string", _record_value(mode="644"), "ArtifactRecord.mode"),
    Case("location key an int", _make(aa.Location, repository="r", driver="d", key=5),
         "Location.key"),
]

CASES = [*CONFIG_DICTS, *CONFIG_FILES, *ARGO, *SPECS, *TEMPLATES, *RECORDS]


def test_corpus_is_large_enough() -> None:
    """The corpus covers at least 60 cases, across every kind of input."""
    assert len(CASES) >= 60
    assert all([CONFIG_DICTS, CONFIG_FILES, ARGO, SPECS, TEMPLATES, RECORDS])


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    """The exact error class of this library, naming the field, never echoing a secret."""
    with pytest.raises(Exception) as info:  # noqa: PT011 - the exact class is checked below
        case.call(tmp_path)
    assert type(info.value) is case.error, repr(info.value)
    assert case.field in str(info.value)
    assert SECRET not in str(info.value)
    assert "hunter2" not in repr(info.value)


def test_good_timestamp_still_renders() -> None:
    """With a creation timestamp set, the timestamp variables render (the contrast case)."""
    context = aa.Context(workflow_name="wf", creation_timestamp=datetime(2024, 3, 7, tzinfo=UTC))
    assert aa.render_key("{{workflow.creationTimestamp.Y}}", context) == "2024"
