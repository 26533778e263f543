"""AWS Signature Version 4 for S3 requests with an unsigned payload.

What botocore's `S3SigV4Auth` computes for the same request, without its per-request
machinery: the canonical request (the path as sent, S3 does not normalise it; the query
sorted; every header given, lowercased, values trimmed), the string to sign, and the
HMAC chain. The signing key (four HMACs over the secret, the date, the region and the
service) changes once a day: it is derived once per date and kept, so a request costs
one SHA-256 of its canonical form and one HMAC.

The body is not hashed: requests say `x-amz-content-sha256: UNSIGNED-PAYLOAD`, and their
checksum headers (`x-amz-checksum-crc32c`, `Content-MD5`), which S3 verifies, are signed
instead.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import NamedTuple

__all__ = ["UNSIGNED_PAYLOAD", "Identity", "SigV4Signer"]

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_ALGORITHM = "AWS4-HMAC-SHA256"


class Identity(NamedTuple):
    """The credentials a request is signed with (botocore's `ReadOnlyCredentials` fits)."""

    access_key: str
    secret_key: str
    token: str | None


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.digest(key, text.encode("utf-8"), "sha256")


class SigV4Signer:
    """Signs requests for one region and service, caching the day's signing key."""

    def __init__(self, *, region: str, service: str) -> None:
        self.region = region
        self.service = service
        # (secret, date) -> signing key; one entry: a key lives for a day.
        self._cached: tuple[str, str, bytes] | None = None

    def signing_key(self, secret_key: str, date: str) -> bytes:
        """The signing key of `secret_key` on `date` (YYYYMMDD), derived once per date."""
        cached = self._cached
        if cached is not None and cached[0] == secret_key and cached[1] == date:
            return cached[2]
        key = _hmac(f"AWS4{secret_key}".encode(), date)
        for part in (self.region, self.service, "aws4_request"):
            key = _hmac(key, part)
        self._cached = (secret_key, date, key)
        return key

    def sign(
        self,
        *,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        identity: Identity,
        now: float | None = None,
    ) -> dict[str, str]:
        """The headers to add to a request: `X-Amz-Date`, `X-Amz-Content-SHA256`,
        `X-Amz-Security-Token` (with a session token) and `Authorization`.

        `path` is the URL path exactly as sent (already percent-encoded), `query` the
        canonical query string (sorted, encoded), `headers` every other header to sign
        (`host` included) with lowercase names. `now` is a POSIX time (tests fix it).
        """
        stamp = time.gmtime(time.time() if now is None else now)
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", stamp)
        date = amz_date[:8]
        added = {"x-amz-date": amz_date, "x-amz-content-sha256": UNSIGNED_PAYLOAD}
        if identity.token:
            added["x-amz-security-token"] = identity.token
        signed = {**headers, **added}
        names = sorted(signed)
        canonical_headers = "".join(f"{n}:{' '.join(signed[n].split())}\n" for n in names)
        signed_names = ";".join(names)
        canonical = (
            f"{method}\n{path}\n{query}\n{canonical_headers}\n{signed_names}\n{UNSIGNED_PAYLOAD}"
        )
        scope = f"{date}/{self.region}/{self.service}/aws4_request"
        to_sign = (
            f"{_ALGORITHM}\n{amz_date}\n{scope}\n"
            f"{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
        )
        signature = hmac.new(
            self.signing_key(identity.secret_key, date), to_sign.encode("utf-8"), "sha256"
        ).hexdigest()
        added["authorization"] = (
            f"{_ALGORITHM} Credential={identity.access_key}/{scope}, "
            f"SignedHeaders={signed_names}, Signature={signature}"
        )
        return added
