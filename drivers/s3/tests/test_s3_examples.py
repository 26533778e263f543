"""The examples run against S3 (moto's server) with their one `--s3` flag."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from s3_support import ACCESS_KEY, SECRET_KEY

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.mark.parametrize("example", ["executor_step.py", "gc_after_workflow.py"])
def test_example_runs_on_s3(example: str, moto_endpoint: str, bucket: str, boto: Any,
                            tmp_path: Path) -> None:
    """`--s3` switches an example to the S3 driver; its objects land in the bucket."""
    env = {**os.environ, "EXAMPLES_S3_BUCKET": bucket, "EXAMPLES_S3_ENDPOINT": moto_endpoint,
           "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run([sys.executable, str(EXAMPLES / example), str(tmp_path), "--s3"],
                            capture_output=True, env=env, timeout=100, check=False)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    assert not (tmp_path / "artifact-store").exists()
    keys = sorted(o["Key"] for o in boto.list_objects_v2(Bucket=bucket).get("Contents", []))
    if example == "executor_step.py":
        assert "etl/etl-step-1/summary.txt" in keys
        assert "s3://" in result.stdout.decode()
    else:
        # GC left only the artifacts marked `never`.
        assert keys == ["train/9a41c7e0/0/run.log", "train/9a41c7e0/1/run.log"]
