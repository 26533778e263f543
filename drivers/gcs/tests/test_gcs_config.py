"""Argo Workflows' `gcs:` artifact repository, from its ConfigMap to a save and a load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from gcs_support import Server

import artifacts_async as aa

pytestmark = pytest.mark.anyio

# The example of Argo's docs/configure-artifact-repository.md ("Configuring GCS"), with
# its bucket replaced by the test's.
ARGO_CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: artifact-repositories
  annotations:
    workflows.argoproj.io/default-artifact-repository: my-gcs-repository
data:
  my-gcs-repository: |
    gcs:
      bucket: BUCKET
      keyFormat: prefix/in/bucket/{{workflow.name}}/{{pod.name}}
      serviceAccountKeySecret:
        name: my-gcs-credentials
        key: serviceAccountKey
"""


async def test_argo_configmap_round_trip(
    bucket: str, gcs_endpoint: str, server: Server, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ConfigMap's bucket, keyFormat and secret reference are used: an output is saved
    under the rendered key and loaded back (through the emulator named by
    STORAGE_EMULATOR_HOST, as Google's clients do)."""
    secrets = tmp_path / "secrets"
    (secrets / "my-gcs-credentials").mkdir(parents=True)
    key = {"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com",
           "private_key": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"}
    (secrets / "my-gcs-credentials" / "serviceAccountKey").write_text(json.dumps(key))
    monkeypatch.setenv("ARTIFACTS_ASYNC_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_endpoint)
    data: dict[str, Any] = yaml.safe_load(ARGO_CONFIGMAP.replace("BUCKET", bucket))
    config = aa.RepositoryConfig.from_argo(data)

    repository = config.get(None)
    assert repository.driver == "gcs"
    assert repository.settings == {"bucket": bucket}
    assert json.loads(repository.credentials.get("service_account_key") or "") == key

    (tmp_path / "model.bin").write_bytes(b"weights" * 1000)
    context = aa.Context(workflow_name="train", workflow_uid="u1", pod_name="train-1")
    async with aa.Artifacts(config) as artifacts:
        result = await artifacts.save_outputs(
            [aa.OutputArtifact(name="model", path=tmp_path / "model.bin",
                               archive=aa.Archive.none())],
            context=context,
        )
        result.raise_for_errors()
        (record,) = result.records
        assert record.location.key == "prefix/in/bucket/train/train-1/model.bin"
        assert server.names(bucket) == [record.location.key]
        await artifacts.load_inputs(
            [aa.InputArtifact(name="model", path=tmp_path / "back.bin", record=record)],
            context=context,
        )
    assert (tmp_path / "back.bin").read_bytes() == b"weights" * 1000
