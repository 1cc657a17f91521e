"""The `sgt-probe` command line. `main(argv)` is what the console script and tests call.

Each command group lives in its own module and registers itself on `app`. Options are checked
while the command line is parsed (`options`), and commands check their inputs and outputs
before importing the modules that do the work: an error is one line in about a second.
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
    from sgt_probe.cli import compare, dash, data, demo, reproduce, standin, train  # noqa: F401


# Errors that describe bad input or a stopped run: shown as one line, exit status 2. Besides
# these, ValueError covers CheckpointError and DataError, and OSError's subclasses a bad path.
_USER_ERRORS = (UserError, ValueError, FileNotFoundError, FileExistsError, PermissionError,
                IsADirectoryError, NotADirectoryError)  # fmt: skip
# (module, class): user errors of modules an error path may not have imported. An error whose
# module was never imported cannot have been raised, so they are looked up, not imported:
# importing the training loop for TrainingError took 8-15 s of every one-line error.
_LAZY_USER_ERRORS = (("sgt_probe.report.format", "ReportError"),
                     ("sgt_probe.tuning.loop", "TrainingError"),
                     ("sgt_probe.pipeline", "ClusterError"))  # fmt: skip


def _is_user_error(e: Exception) -> bool:
    lazy = [getattr(sys.modules[m], name) for m, name in _LAZY_USER_ERRORS if m in sys.modules]
    return isinstance(e, (*_USER_ERRORS, *lazy))


def main(argv: list[str] | None = None) -> int:
    _register()
    try:
        app(args=argv if argv is not None else sys.argv[1:], standalone_mode=False)
    except typer.TyperException as e:  # the command line itself: unknown option, bad value, ...
        message = e.format_message()
        if message:  # empty when typer has shown the help (a command or group alone)
            print("error: " + " ".join(message.splitlines()), file=sys.stderr)
        return e.exit_code
    except typer.Abort:
        return 1
    except Exception as e:
        if _is_user_error(e):
            print("error: " + " ".join(str(e).splitlines()), file=sys.stderr)
            return 2
        raise
    return 0
