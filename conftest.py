"""What every test suite of this repository shares (the core's and each driver's): the
fixtures of `artifacts_async.testing.plugin` (asyncio as the anyio backend, and the
engine's retries without waiting)."""

pytest_plugins = ["artifacts_async.testing.plugin"]
