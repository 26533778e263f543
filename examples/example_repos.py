"""The repository the examples use: the local driver by default, S3 with `--s3`.

With `--s3`, the bucket comes from `$EXAMPLES_S3_BUCKET`, the endpoint (for MinIO or any
S3-compatible server) from `$EXAMPLES_S3_ENDPOINT` if set, and the credentials from the AWS
SDK's default chain (environment, profile, instance role): references, never literals.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import artifacts_async as aa


def use_s3(argv: list[str] | None = None) -> bool:
    """True when `--s3` is among the arguments (and removes it)."""
    args = sys.argv if argv is None else argv
    if "--s3" in args:
        args.remove("--s3")
        return True
    return False


def repository_config(work: Path, *, s3: bool, key_format: str | None = None
                      ) -> aa.RepositoryConfig:
    """One default repository: `./artifact-store` under `work`, or an S3 bucket."""
    repo: dict[str, Any]
    if s3:
        repo = {"driver": "s3", "bucket": os.environ["EXAMPLES_S3_BUCKET"],
                "region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
        if os.environ.get("EXAMPLES_S3_ENDPOINT"):
            repo["endpoint"] = os.environ["EXAMPLES_S3_ENDPOINT"]
    else:
        repo = {"driver": "local", "root": str(work / "artifact-store")}
    if key_format:
        repo["key_format"] = key_format
    return aa.RepositoryConfig.from_dict({"default": "store", "repositories": {"store": repo}})
