"""The ``eiesim`` command line (click).

Subcommands live one per module in this package and load only when invoked; their modules
import heavy dependencies (numba, pandas, torch, dask) inside the command, so ``eiesim
--help``, which loads every command to show its summary, starts in 0.3 s
(``tests/test_layers.py`` checks what it imports).
Errors from bad input print as one line on stderr with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import signal
import sys
import warnings

import click

from eiecore.errors import EieError
from eiecore.terminal import EscapedStream, printable
from eiecore.validate import SEED_MAX

# name -> "module:attribute" of a click command; keep this list sorted.
COMMANDS = {
    "baseline": "eiesim.cli.baseline:baseline",
    "compress": "eiesim.cli.compress:compress",
    "decompress": "eiesim.cli.compress:decompress",
    "energy": "eiesim.cli.energy:energy",
    "infer": "eiesim.cli.infer:infer",
    "info": "eiesim.cli.compress:info",
    "lab": "eiesim.cli.lab:lab",
    "lenet": "eiesim.cli.lenet:lenet",
    "paper": "eiesim.cli.paper:paper",
    "simulate": "eiesim.cli.simulate:simulate",
    "study": "eiesim.cli.study:study",
    "sweep": "eiesim.cli.sweep:sweep",
}


# Seeds every command takes: what numpy, scikit-learn and torch all accept.
SEED = click.IntRange(0, SEED_MAX)
MAX_JOBS = 256  # worker processes: more would only exhaust memory and process slots


def config_option(command):
    """The ``--set FIELD=VALUE`` option (repeatable) of every command that takes a configuration:
    any ArchConfig field, beside the command's named options (see :func:`config_fields`)."""
    from eiesim.declarations import field_names

    return click.option(
        "--set", "settings", multiple=True, metavar="FIELD=VALUE",
        help=f"Set a configuration field, e.g. --set lnzd=pack-scan (repeatable): {', '.join(field_names())}; "
             "docs/machine.md gives their units, defaults and choices.")(command)


def config_fields(settings: tuple[str, ...], allow_seed: bool = False, **named) -> dict:
    """The configuration fields a command's options give: each named option given (not None)
    and each ``--set FIELD=VALUE`` (parsed as a sweep's ``--grid`` value); a field given twice,
    or given several values, is an error."""
    from eiesim.sweep.grid import SEED_AXIS, parse_axis

    fields = {k: v for k, v in named.items() if v is not None}
    set_here: set[str] = set()
    for item in settings:
        try:
            name, values = parse_axis(item)
        except EieError as exc:
            raise EieError(f"--set {item}: {exc}") from None
        if len(values) != 1:
            raise EieError(f"--set {item}: give exactly one value")
        if name == SEED_AXIS and not allow_seed:
            raise EieError(f"--set {item}: seed is not a configuration field")
        if name in fields:
            raise EieError(f"--set {item}: {name} is already set" + ("" if name in set_here else " by a named option"))
        fields[name] = values[0]
        set_here.add(name)
    return fields


class Count(click.ParamType):
    """A count of generated work (inputs, frames) in 1..``maximum``: every such option takes
    one of :data:`INPUTS` or :data:`BATCH`, so each bound is stated once, here."""

    name = "integer"

    def __init__(self, maximum: int, held: str):
        self.maximum, self.held = maximum, held

    def convert(self, value, param, ctx):
        label = param.opts[0] if param is not None else "count"
        try:
            number = value if type(value) is int else int(str(value).strip(), 10)
        except ValueError:
            raise EieError(f"{label} must be a whole number, got {value!r}") from None
        if number < 1:
            raise EieError(f"{label} must be at least 1, got {number}")
        if number > self.maximum:
            raise EieError(f"{label} must be at most {self.maximum} ({self.held}), got {number}")
        return number


MAX_INPUTS = 4096
MAX_BATCH = 4096
# Inputs per layer (simulate --inputs, study --inputs): the frames are held at once, K x inputs.
INPUTS = Count(MAX_INPUTS, "the inputs of a layer are held at once")
# Frames per timed call (baseline --batch): a K x batch matrix per call.
BATCH = Count(MAX_BATCH, "a call holds K x batch values")


class FiniteFloatRange(click.FloatRange):
    """A float option in a range that also refuses NaN and infinity (a range alone lets NaN pass)."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class LazyGroup(click.Group):
    """A click group whose subcommands are imported the first time they are used.

    It is also the CLI's last line of defence: an exception no command anticipated becomes
    :class:`UnexpectedError` (one line naming the command) unless ``--debug`` was given.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except _EXPECTED:
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            raise UnexpectedError(ctx.invoked_subcommand or "", exc) from exc


def _debug_requested(args: list[str]) -> bool:
    """Whether ``--debug`` is among the group's options (those before the command name)."""
    for arg in args:
        if not arg.startswith("-"):
            return False
        if arg == "--debug":
            return True
    return False


class UnexpectedError(Exception):
    """An exception from inside a command that no check anticipated (a bug or an exotic input)."""

    def __init__(self, command: str, exc: BaseException):
        self.command, self.exc = command, exc
        if isinstance(exc, MemoryError):
            what = "out of memory"
        else:
            what = f"unexpected {type(exc).__name__}: {_one_line(exc)}"
        name = f"eiesim {command}".strip()
        super().__init__(f"{name}: {what} (rerun as '{name.replace('eiesim', 'eiesim --debug', 1)} ...' "
                         "for the traceback)")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="eiesim")
@click.option("--debug", is_flag=True, help="Show the full traceback of an unexpected error.")
def cli(debug: bool) -> None:
    """eiesim: compress neural-network layers Deep-Compression style and simulate them,
    cycle by cycle, on an EIE-style sparse accelerator."""


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI, turning every failure into one line on stderr."""
    args = sys.argv[1:] if argv is None else list(argv)
    # Everything printed is escaped for the terminal (eiecore.terminal); sys.stdout is restored
    # at the end, also when an output named "-" sent it to stderr (eiecore.atomic.Outputs).
    # SIGTERM stops a command as Ctrl-C does (its clean-up runs: no worker or semaphore left).
    terminated = []
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(EscapedStream(sys.stdout)), \
                _on_sigterm(terminated):
            warnings.showwarning = _show_warning
            cli.main(args=args, prog_name="eiesim", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo(f"eiesim: {'terminated' if terminated else 'interrupted'}", err=True)
        sys.exit(143 if terminated else 130)
    except click.ClickException as exc:
        click.echo(f"eiesim: error: {printable(exc.format_message())}", err=True)
        sys.exit(exc.exit_code or 2)
    except (EieError, OSError) as exc:
        click.echo(f"eiesim: error: {_one_line(exc)}", err=True)
        sys.exit(1)
    except UnexpectedError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    except Exception as exc:  # outside any command (e.g. while rendering --help), or with --debug
        if _debug_requested(args):
            raise
        click.echo(str(UnexpectedError("", exc)), err=True)
        sys.exit(1)
    sys.exit(0)


# Failures main() already reports as one clear line; everything else is unexpected.
_EXPECTED = (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, EieError, OSError)


@contextlib.contextmanager
def _on_sigterm(terminated: list):
    """While the command runs, SIGTERM raises KeyboardInterrupt (noted in ``terminated``)."""
    def stop(signum, frame):
        terminated.append(signum)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def warn(message) -> None:
    """A warning as one line on stderr, escaped for the terminal: every command's warnings,
    Python's included (:func:`_show_warning`), go through here."""
    click.echo(f"eiesim: warning: {printable(' '.join(str(message).split()))}", err=True)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line on stderr, without the source line Python would add."""
    warn(message)


def _one_line(exc: BaseException) -> str:
    """The exception as one line, escaped for the terminal."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return printable(f"{exc.strerror or exc}: {exc.filename}")
    text = printable(" ".join(str(exc).split()))
    return text[:300] + " ..." if len(text) > 300 else text
