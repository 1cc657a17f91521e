"""The `sgt-probe` command line. `main(argv)` is what the console script and tests call.

Each command group lives in its own module and registers itself on `app`.
"""

from __future__ import annotations

import sys

import typer

app = typer.Typer(
    name="sgt-probe",
    help="Tune unified multimodal models with generative proxies and open them up.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class UserError(Exception):
    """A problem with the user's input: printed as one line, exit status 2."""


def _register() -> None:
    # Imported for their side effect of adding commands to `app`.
    from sgt_probe.cli import compare, dash, data, demo, reproduce, train  # noqa: F401


def _user_error_types() -> tuple[type[BaseException], ...]:
    """Errors that describe bad input or a stopped run: shown as one line, exit status 2."""
    from sgt_probe.report.format import ReportError
    from sgt_probe.tuning.loop import TrainingError

    return (UserError, FileNotFoundError, FileExistsError, ValueError, ReportError, TrainingError)


def main(argv: list[str] | None = None) -> int:
    import click

    _register()
    try:
        app(args=argv if argv is not None else sys.argv[1:], standalone_mode=False)
    except click.exceptions.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Abort:
        return 1
    except Exception as e:
        if isinstance(e, _user_error_types()):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise
    return 0
