"""`python -m artifacts_async.argo SOCKET_PATH`: the same as artifacts-async-argo-plugin."""

from ._server import main

raise SystemExit(main())
