"""Repository configuration: dicts, TOML, YAML, Argo ConfigMaps, credential references."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from artifacts_async import (
    Archive,
    ConfigurationError,
    Credentials,
    GCStrategy,
    RepositoryConfig,
    SecretRef,
)
from artifacts_async._credentials import SECRETS_DIR_ENV

TOML = """
default = "minio"

[repositories.minio]
driver = "s3"
bucket = "my-bucket"
endpoint = "http://127.0.0.1:9000"
key_format = "{{workflow.name}}/{{pod.name}}"
archive = { kind = "tar", compression_level = 9 }
gc = "on_workflow_completion"
credentials = { access_key_env = "AWS_ACCESS_KEY_ID", secret_key_env = "AWS_SECRET_ACCESS_KEY" }

[repositories.scratch]
driver = "local"
root = "./.artifacts"
archive = "none"
"""

CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: my-artifact-repository
  annotations:
    workflows.argoproj.io/default-artifact-repository: default-v1-s3-artifact-repository
data:
  default-v1-s3-artifact-repository: |
    s3:
      bucket: my-bucket
      endpoint: minio:9000
      insecure: true
      accessKeySecret:
        name: my-minio-cred
        key: accesskey
      secretKeySecret:
        name: my-minio-cred
        key: secretkey
  v2-s3-artifact-repository: |
    archiveLogs: true
    s3:
      bucket: other-bucket
      endpoint: s3.amazonaws.com
      keyFormat: "{{workflow.namespace}}/{{workflow.name}}"
      useSDKCreds: true
"""


def test_toml(tmp_path: Path) -> None:
    """A TOML file gives named repositories, a default, defaults and credential refs."""
    path = tmp_path / "repos.toml"
    path.write_text(TOML)
    config = RepositoryConfig.load(path)
    minio = config.get(None)
    assert minio.name == "minio"
    assert minio.driver == "s3"
    assert minio.settings == {"bucket": "my-bucket", "endpoint": "http://127.0.0.1:9000"}
    assert minio.archive == Archive.tar(compression_level=9)
    assert minio.gc is GCStrategy.ON_WORKFLOW_COMPLETION
    assert minio.credentials.refs["access_key"] == SecretRef("env", "AWS_ACCESS_KEY_ID")
    scratch = config.get("scratch")
    assert scratch.archive == Archive.none()
    assert scratch.gc is None


def test_yaml_same_as_toml(tmp_path: Path) -> None:
    """The same config in YAML loads to the same value."""
    import tomllib  # noqa: PLC0415

    import yaml  # noqa: PLC0415

    path = tmp_path / "repos.yaml"
    path.write_text(yaml.safe_dump(tomllib.loads(TOML)))
    toml_path = tmp_path / "repos.toml"
    toml_path.write_text(TOML)
    assert RepositoryConfig.load(path) == RepositoryConfig.load(toml_path)


def test_argo_configmap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Argo's artifact-repositories ConfigMap works as is, secrets become references."""
    path = tmp_path / "cm.yaml"
    path.write_text(CONFIGMAP)
    config = RepositoryConfig.load(path)
    assert config.default == "default-v1-s3-artifact-repository"
    repo = config.get(None)
    assert repo.driver == "s3"
    assert repo.settings["bucket"] == "my-bucket"
    assert repo.settings["endpoint"] == "http://minio:9000"
    assert repo.settings["insecure"] is True
    assert repo.key_format == "{{workflow.name}}/{{pod.name}}"
    assert repo.credentials.refs == {
        "access_key": SecretRef("kubernetes", "my-minio-cred", "accesskey"),
        "secret_key": SecretRef("kubernetes", "my-minio-cred", "secretkey"),
    }
    v2 = config.get("v2-s3-artifact-repository")
    assert v2.settings["endpoint"] == "https://s3.amazonaws.com"
    assert v2.key_format == "{{workflow.namespace}}/{{workflow.name}}"
    assert v2.credentials.use_sdk_default
    # The Kubernetes secret is read from a mounted file when the driver needs it.
    secret = tmp_path / "secrets" / "my-minio-cred" / "accesskey"
    secret.parent.mkdir(parents=True)
    secret.write_text("AKIAEXAMPLE\n")
    monkeypatch.setenv(SECRETS_DIR_ENV, str(tmp_path / "secrets"))
    assert repo.credentials.get("access_key") == "AKIAEXAMPLE"
    with pytest.raises(ConfigurationError, match="secretkey"):
        repo.credentials.get("secret_key")


def test_configmap_data_alone() -> None:
    """Only the ConfigMap's `data` (as a dict of mappings) is accepted too."""
    config = RepositoryConfig.from_argo({"default": {"gcs": {"bucket": "b"}}})
    assert config.get(None).driver == "gcs"


def test_literal_secret_refused() -> None:
    """A literal secret in the config is refused with a hint, and not echoed."""
    with pytest.raises(ConfigurationError) as info:
        RepositoryConfig.from_dict({"repositories": {"r": {
            "driver": "s3", "credentials": {"secret_key": "hunter2-very-secret"}}}})
    assert "secret_key_env" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_secrets_never_in_repr_or_logs(monkeypatch: pytest.MonkeyPatch,
                                       caplog: pytest.LogCaptureFixture) -> None:
    """Reprs name the reference, never the value."""
    monkeypatch.setenv("MY_SECRET", "hunter2-very-secret")
    config = RepositoryConfig.from_dict({"repositories": {"r": {
        "driver": "s3", "bucket": "b", "credentials": {"secret_key_env": "MY_SECRET"}}}})
    repo = config.get("r")
    assert repo.credentials.get("secret_key") == "hunter2-very-secret"
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("config %r", config)
    for text in (repr(config), str(config), repr(repo.driver_settings()), caplog.text):
        assert "hunter2" not in text
        assert "MY_SECRET" in text or text == caplog.text


def test_missing_env_secret_says_what_to_do() -> None:
    """An unset credential variable names the variable."""
    creds = Credentials(refs={"access_key": SecretRef("env", "ARTIFACTS_ASYNC_TEST_UNSET")})
    with pytest.raises(ConfigurationError, match="ARTIFACTS_ASYNC_TEST_UNSET is not set"):
        creds.get("access_key")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"repositories": {"r": {"bucket": "b"}}}, "has no driver"),
        ({"default": "x", "repositories": {"r": {"driver": "local"}}}, "'x' is not defined"),
        ({"repositories": {"r": {"driver": "local", "archive": "rar"}}}, "archive must be"),
        ({"repositories": {"r": {"driver": "local", "archive": {"tar": {"compressionLevel": 12}}}}},
         "0-9"),
        ({"repositories": {"r": {"driver": "local", "gc": "sometimes"}}}, "unknown GC strategy"),
        ({"repositories": "nope"}, "table of named repositories"),
    ],
)
def test_invalid_configs(data: dict[str, object], message: str) -> None:
    """Each invalid config raises ConfigurationError naming the problem."""
    with pytest.raises(ConfigurationError, match=message):
        RepositoryConfig.from_dict(data)


def test_unknown_repository_and_no_default() -> None:
    """Asking for an unknown repository, or having no default among many, is explained."""
    config = RepositoryConfig.from_dict({"repositories": {
        "a": {"driver": "memory"}, "b": {"driver": "memory"}}})
    with pytest.raises(ConfigurationError, match="'zzz' is not configured"):
        config.get("zzz")
    with pytest.raises(ConfigurationError, match="artifact 'model' has no repository"):
        config.get(None, artifact="model")


def test_argo_archive_spelling() -> None:
    """Argo's archive spellings parse: {none: {}}, {tar: {compressionLevel: 0}}, {zip: {}}."""
    for spec, expected in [({"none": {}}, Archive.none()),
                           ({"tar": {"compressionLevel": 0}}, Archive.tar(compression_level=0)),
                           ({"zip": {}}, Archive.zip())]:
        config = RepositoryConfig.from_dict(
            {"repositories": {"r": {"driver": "local", "archive": spec}}})
        assert config.get("r").archive == expected


def test_unreadable_file(tmp_path: Path) -> None:
    """A missing or malformed file is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="cannot read"):
        RepositoryConfig.load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("default = [")
    with pytest.raises(ConfigurationError, match="not valid"):
        RepositoryConfig.load(bad)


QUICK_START = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: artifact-repositories
  annotations:
    workflows.argoproj.io/default-artifact-repository: default-v1
data:
  default-v1: |
    archiveLogs: true
    s3:
      bucket: my-bucket
      endpoint: minio:9000
      insecure: true
      accessKeySecret: {name: my-minio-cred, key: accesskey}
      secretKeySecret: {name: my-minio-cred, key: secretkey}
  second: |
    archiveLogs: true
    s3: {bucket: my-bucket, endpoint: minio:9000, insecure: true, useSDKCreds: true}
  empty: ""
  aliyun: |
    oss:
      bucket: b
      endpoint: http://oss-cn-hangzhou-zmf.aliyuncs.com
"""


def test_argo_quick_start_shape_loads(tmp_path: Path) -> None:
    """A ConfigMap shaped like Argo's quick-start (with `empty: ""`, an `oss:` entry) loads;
    only the unusable entries are refused, and only when used."""
    path = tmp_path / "artifact-repositories.yaml"
    path.write_text(QUICK_START)
    config = RepositoryConfig.load(path)
    assert config.default == "default-v1"
    assert config.get(None).settings["bucket"] == "my-bucket"
    assert config.get("second").credentials.use_sdk_default
    assert sorted(config.unusable) == ["aliyun", "empty"]
    with pytest.raises(ConfigurationError, match=r"'empty' cannot be used: .* is empty"):
        config.get("empty")
    with pytest.raises(ConfigurationError, match=r"'aliyun' cannot be used: .*'oss' repository"):
        config.get("aliyun")
    assert RepositoryConfig.from_argo(yaml.safe_load(QUICK_START)) == config


def test_argo_default_entry_unusable_fails_when_used() -> None:
    """A default that points at an unusable entry is refused when an artifact uses it."""
    config = RepositoryConfig.from_argo({"default": "oss: {bucket: b}", "s": {"s3": {}}})
    assert config.get("s").driver == "s3"
    with pytest.raises(ConfigurationError, match="repository 'default' cannot be used"):
        config.get(None, artifact="model")


@pytest.mark.parametrize("selector", [
    "hunter2-literal-secret",
    {"name": "cred"},
    {"name": "cred", "key": ""},
    {"value": "hunter2-literal-secret"},
])
def test_argo_literal_secret_refused(selector: object) -> None:
    """A *Secret field that is not a {name, key} selector is refused, not replaced by the
    SDK's default credentials, and the message never repeats it."""
    config = RepositoryConfig.from_argo(
        {"r": {"s3": {"bucket": "b", "accessKeySecret": selector}}})
    with pytest.raises(ConfigurationError, match=r"s3\.accessKeySecret must be a") as info:
        config.get("r")
    assert "hunter2" not in str(info.value)


def test_load_argo_flag(tmp_path: Path) -> None:
    """`load(argo=True)` reads a file holding only the ConfigMap's data; without the flag
    such a file is read in this library's format and refused with a pointer to Argo."""
    path = tmp_path / "data.yaml"
    path.write_text("default:\n  gcs: {bucket: b}\n")
    assert RepositoryConfig.load(path, argo=True).get(None).driver == "gcs"
    with pytest.raises(ConfigurationError, match="from_argo"):
        RepositoryConfig.load(path)


def test_from_dict_does_not_guess_argo() -> None:
    """from_dict reads this library's format only: Argo-shaped data points to from_argo."""
    with pytest.raises(ConfigurationError, match="from_argo"):
        RepositoryConfig.from_dict({"default-v1": "s3: {bucket: b}"})
