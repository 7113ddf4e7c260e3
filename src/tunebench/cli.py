"""The `tunebench` command. Thin: each stage registers its own commands; heavy imports stay lazy."""

from __future__ import annotations

import errno
import signal
import sys
import threading

import typer
from rich.console import Console

from tunebench.bench.commands import register as register_bench
from tunebench.components.commands import register as register_components
from tunebench.core.errors import UserError
from tunebench.core.paths import describe_os_error
from tunebench.data.commands import register as register_data
from tunebench.evaluation.commands import register as register_eval
from tunebench.models.commands import register as register_models
from tunebench.strategies.commands import register as register_strategies
from tunebench.train.commands import register as register_train

app = typer.Typer(
    name="tunebench",
    help="Benchmark LLaVA-1.5 vs MiniGPT-4 on shared parts; compare prompting, RAG and fine-tuning.",
    epilog="Exit codes: 0 ok, 1 bad data or environment, 2 bad usage or config, 130 interrupted (finished work is "
           "kept: rerun the same command to resume).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # click's plain help: flags without the `<bool>` that typer's rich panels show
)
register_components(app)
register_strategies(app)
register_bench(app)
register_models(app)
register_data(app)
register_train(app)
register_eval(app)

err_console = Console(stderr=True)


def _usage_errors() -> tuple[type[Exception], ...]:
    """click's usage errors, and the pinned typer's own copies of them (it vendors click as `typer._click`)."""
    import click

    try:
        from typer._click.exceptions import ClickException as TyperClickException
    except ImportError:
        return (click.ClickException,)
    return click.ClickException, TyperClickException


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"tunebench {version('tunebench')}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")) -> None:
    """Options of `tunebench` itself, before any command."""


def _interrupted() -> None:
    err_console.print("[red]interrupted: finished work is saved; rerun the same command to resume[/]")
    sys.exit(130)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _os_error_line(exc: OSError) -> str:
    """A file-system error as one line; a full disk also says that finished work is kept."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        # Writes are atomic: what was being written is dropped, finished work and the last checkpoint are kept.
        where = f" while writing {exc.filename}" if exc.filename else ""
        return f"the disk is full{where}; free space and rerun the same command to resume from the last checkpoint"
    return describe_os_error(exc)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors and file-system errors become one red line and a non-zero exit, never a
    traceback (programming errors still raise)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # a kill ends like Ctrl-C: jobs stopped, finished work kept
    try:
        rc = app(args=argv, prog_name="tunebench", standalone_mode=False)
    except UserError as exc:
        err_console.print(f"[bold red]error:[/] {exc.one_line()}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _interrupted()
    except OSError as exc:
        err_console.print(f"[bold red]error:[/] {_os_error_line(exc)}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except Exception as exc:  # usage errors carry their own exit code and message
        if isinstance(exc, _usage_errors()):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    if rc == 130:  # typer returns a KeyboardInterrupt (Ctrl-C, or SIGTERM through `_interrupt`) as exit code 130
        _interrupted()
    if isinstance(rc, int) and rc:
        sys.exit(rc)


if __name__ == "__main__":
    main()
