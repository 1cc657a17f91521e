"""The `sgt-probe` command line. `main(argv)` is what the console script and tests call.

Each command group lives in its own module and registers itself on `app`. Options are checked
while the command line is parsed (`options`), and commands check their inputs and outputs
before importing the modules that do the work: an error is one line in about a second.
"""

from __future__ import annotations

import signal
import sys
import threading

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


class Interrupted(BaseException):
    """SIGINT or SIGTERM during a command: one line saying what the run kept (the notes the
    interrupted work added, e.g. the training loop's last checkpoint) and how to go on, exit
    status 128 + the signal's number. Not a KeyboardInterrupt: typer turns one into an exit
    status that main never saw (a Ctrl-C'd `tune` exited 0) and drops what the run said."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# What an interrupted command has kept when the interrupted work said nothing (None: say
# nothing), and how to go on; the commands not named here keep nothing and start again.
AFTER_INTERRUPT = {
    "train": ("nothing was saved", "rerun it with --resume to continue"),
    "tune": ("nothing was saved", "rerun it with --resume to continue"),
    "demo": (None, "the jobs it finished are kept: rerun it to resume"),
    "reproduce": (None, "the jobs it finished are kept: rerun it to resume"),
}
START_AGAIN = ("nothing was saved", "rerun it to start again")


def _interrupt(signum: int, frame) -> None:
    raise Interrupted(signum)


def _on_stop_signals() -> dict:
    """Raise Interrupted on SIGINT and SIGTERM; return the handlers to restore. A signal the
    process was started ignoring (a background job's SIGINT) stays ignored, and only the main
    thread can set handlers (elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    # getsignal gives None for a handler not set from Python: one we could not put back
    old = {s: h for s in STOP_SIGNALS if (h := signal.getsignal(s)) not in (None, signal.SIG_IGN)}
    for s in old:
        signal.signal(s, _interrupt)
    return old


def _interrupted(e: Interrupted, argv: list[str]) -> int:
    command = next((a for a in argv if not a.startswith("-")), None)
    kept, then = AFTER_INTERRUPT.get(command, START_AGAIN)
    notes = list(getattr(e, "__notes__", ()))
    line = "; ".join(p for p in (f"interrupted by {e}", *(notes or [kept]), then) if p)
    print("error: " + " ".join(line.splitlines()), file=sys.stderr)
    return 128 + e.signum


def main(argv: list[str] | None = None) -> int:
    argv = argv if argv is not None else sys.argv[1:]
    _register()
    handlers = _on_stop_signals()
    try:
        code = app(args=argv, standalone_mode=False)
    except typer.TyperException as e:  # the command line itself: unknown option, bad value, ...
        message = e.format_message()
        if message:  # empty when typer has shown the help (a command or group alone)
            print("error: " + " ".join(message.splitlines()), file=sys.stderr)
        return e.exit_code
    except typer.Abort:
        return 1
    except Interrupted as e:
        return _interrupted(e, argv)
    except Exception as e:
        if _is_user_error(e):
            print("error: " + " ".join(str(e).splitlines()), file=sys.stderr)
            return 2
        raise
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
    # a command returns None; typer returns the status of an exit it handled (--help: 0)
    return code if isinstance(code, int) else 0
