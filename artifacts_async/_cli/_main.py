"""The `artifacts-async` command group: global options, output, errors and exit codes."""

from __future__ import annotations

import enum
import gc
import json
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import anyio
import attrs
import click
from rich.console import Console

from .._config import RepositoryConfig
from .._exceptions import (
    ArtifactError,
    ArtifactNotFoundError,
    ConfigurationError,
    KeyTemplateError,
    MissingInputError,
)
from ._inputs import CONFIG_ENV, load_config
from ._logs import configure as configure_logging


def freeze_collector() -> None:
    """Move every object that exists now out of the cyclic collector's sight.

    The command line is a process of its own: what it has built by now (the imported
    modules, click, the configuration; after the early report also the drivers, their
    SDK and the planned records) lives until it exits. Each full collection would walk
    all of it again, with the event loop stopped (60-80 ms a pass in the `small` suite,
    several per save: `docs/benchmarks.md`, "The event loop"). Frozen objects are never
    collected, which costs nothing in a process that ends with the command. A library
    does not do this for its caller (it changes the collector for the whole process);
    an application can, in the same way (`docs/transfers.md`).
    """
    gc.freeze()


class ExitCode(enum.IntEnum):
    """The documented exit codes."""

    OK = 0
    FAILED = 1  # some artifacts failed (save, load, gc) or a check failed
    USAGE = 2  # bad flags, config, specs or key templates (nothing was transferred)
    NOT_FOUND = 3  # the object, input path or upload does not exist
    ERROR = 4  # the backend or a transfer failed (one-object commands)
    INTERRUPTED = 130


@attrs.define
class State:
    """The global options, handed to every command."""

    config_path: str | None
    json: bool
    quiet: bool
    debug: bool

    def config(self) -> RepositoryConfig:
        """The repository config (raises `ConfigurationError` when absent or invalid)."""
        return load_config(self.config_path)

    def emit(self, data: Any, text: Callable[[Console], None]) -> None:
        """Print a result: JSON on stdout with `--json`, else `text` to a console."""
        if self.json:
            print(json.dumps(data, indent=2, default=str))
        elif not self.quiet:
            text(Console(soft_wrap=True, highlight=False))

    def say(self, message: str) -> None:
        """A status line on stderr (silenced by `--quiet` and `--json`)."""
        if not self.quiet and not self.json:
            print(message, file=sys.stderr, flush=True)

    def run(self, work: Callable[[], Awaitable[int]]) -> NoReturn:
        """Run `work` on an event loop; map errors to one line and an exit code."""
        freeze_collector()  # after start-up: see `freeze_collector`
        try:
            code = anyio.run(work)
        except KeyboardInterrupt:
            self._fail("interrupted", None)
            code = ExitCode.INTERRUPTED
        except click.UsageError as exc:
            self._fail(exc.format_message(), exc)
            code = ExitCode.USAGE
        except (ConfigurationError, KeyTemplateError) as exc:
            self._fail(str(exc), exc)
            code = ExitCode.USAGE
        except (ArtifactNotFoundError, MissingInputError) as exc:
            self._fail(str(exc), exc)
            code = ExitCode.NOT_FOUND
        except (ArtifactError, OSError) as exc:
            self._fail(f"{type(exc).__name__}: {exc}", exc)
            code = ExitCode.ERROR
        raise SystemExit(int(code))

    def _fail(self, message: str, exc: BaseException | None) -> None:
        if self.debug and exc is not None:
            traceback.print_exception(exc, file=sys.stderr)
        print(f"artifacts-async: error: {message}", file=sys.stderr, flush=True)


pass_state = click.make_pass_decorator(State)

EPILOG = """\b
Exit codes: 0 all done; 1 some artifacts failed (or a check failed);
2 usage or configuration error; 3 not found; 4 backend or transfer error;
130 interrupted.
"""


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"],
                                              "max_content_width": 100})
@click.option("--config", "config_path", envvar=CONFIG_ENV, metavar="PATH",
              help="Repository config: TOML, YAML or JSON file, or a mounted Argo ConfigMap "
                   f"directory. [env {CONFIG_ENV}]")
@click.option("--json", "json_mode", is_flag=True,
              help="Machine-readable output: results as JSON on stdout, progress as JSON "
                   "lines on stderr.")
@click.option("-q", "--quiet", is_flag=True, help="No progress and no result text.")
@click.option("--debug", is_flag=True, help="Print tracebacks with errors.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="warning", show_default=True, envvar="ARTIFACTS_ASYNC_LOG_LEVEL",
              help="Library log level (stderr). [env ARTIFACTS_ASYNC_LOG_LEVEL]")
@click.option("--log-json", is_flag=True, envvar="ARTIFACTS_ASYNC_LOG_JSON",
              help="Logs as JSON lines, for log collectors. [env ARTIFACTS_ASYNC_LOG_JSON]")
@click.version_option(package_name="artifacts-async")
@click.pass_context
def cli(ctx: click.Context, /, *, config_path: str | None, json_mode: bool, quiet: bool,
        debug: bool, log_level: str, log_json: bool) -> None:
    """Move a workflow step's artifacts to and from object storage."""
    if ctx.invoked_subcommand != "argo-plugin":  # the plugin server sets up its own logs
        configure_logging(log_level, as_json=log_json)
    ctx.obj = State(config_path=config_path, json=json_mode, quiet=quiet, debug=debug)


def usage_error(message: str) -> NoReturn:
    """Exit 2 with one line, as click does for bad flags."""
    print(f"artifacts-async: error: {message}", file=sys.stderr)
    raise SystemExit(int(ExitCode.USAGE))
