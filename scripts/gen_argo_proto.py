"""Generate the Python code of Argo's artifact plugin contract (grpcio-tools, mypy-protobuf).

    .venv/bin/python scripts/gen_argo_proto.py          # rewrite the generated files
    .venv/bin/python scripts/gen_argo_proto.py --check  # exit 1 if they are stale

The contract is `artifacts_async/argo/_proto/artifact.proto`; the generated modules and
their typed stubs sit beside it and are committed, so installing the plugin needs no
protoc. The versions of grpcio-tools and mypy-protobuf are pinned in the `test` extra so
that `--check` compares like with like.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc  # type: ignore[import-untyped]  # no stubs

ROOT = Path(__file__).resolve().parent.parent
PROTO = Path("artifacts_async/argo/_proto/artifact.proto")
GENERATED = ("artifact_pb2.py", "artifact_pb2.pyi", "artifact_pb2_grpc.py",
             "artifact_pb2_grpc.pyi")


def generate(out: Path) -> dict[str, str]:
    """Run protoc on the contract into `out`; return the generated files' text by name."""
    bindir = Path(sys.executable).parent
    args = [
        "grpc_tools.protoc",
        f"--proto_path={ROOT}",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
        str(ROOT / PROTO),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    where = out / PROTO.parent
    return {name: (where / name).read_text(encoding="utf-8") for name in GENERATED}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        files = generate(Path(tmp))
    target = ROOT / PROTO.parent
    if "--check" in sys.argv:
        stale = [name for name, text in files.items()
                 if not (target / name).exists()
                 or (target / name).read_text(encoding="utf-8") != text]
        if stale:
            print(f"stale generated code ({', '.join(stale)}): run "
                  ".venv/bin/python scripts/gen_argo_proto.py", file=sys.stderr)
            return 1
        return 0
    for name, text in files.items():
        (target / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
