"""Constants shared by the S3 driver's tests (a module of its own: conftest is not imported)."""

from __future__ import annotations

# Fake keys: moto accepts any. They are what the redaction tests look for in logs.
ACCESS_KEY = "AKIATESTACCESSKEY0001"
SECRET_KEY = "test-secret-key-0f9e8d7c6b5a"
