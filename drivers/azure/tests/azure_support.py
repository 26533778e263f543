"""Constants and helpers shared by the Azure driver's tests (conftest is not imported)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from artifacts_async.abc import PartChecksums

# Azurite's well-known development account (public, documented by Microsoft). The
# redaction tests look for this key in logs.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
KEY_ENV = "TEST_AZURE_ACCOUNT_KEY"
MiB = 1024 * 1024


def azurite_blob() -> str:
    """The azurite-blob launcher that scripts/setup.sh installs (or $AZURITE_BLOB)."""
    override = os.environ.get("AZURITE_BLOB")
    if override:
        return override
    root = Path(__file__).resolve().parents[3]
    return str(root / ".tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob")


def connection_string(endpoint: str) -> str:
    """A connection string for Azurite's account at `endpoint`."""
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={endpoint};")


def md5_checks(data: bytes) -> PartChecksums:
    """The per-part checksums the Azure driver uses (MD5)."""
    return PartChecksums(md5=hashlib.md5(data).digest())
