"""The ``eiesim`` command line (click).

Subcommands live one per module in this package and load only when invoked, so
``eiesim --help`` starts fast and heavy dependencies (numba, torch, dask) load on demand.
Errors from bad input print as one line on stderr with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import click

from eiesim.errors import EieError

# name -> "module:attribute" of a click command; keep this list sorted.
COMMANDS = {
    "baseline": "eiesim.cli.baseline:baseline",
    "compress": "eiesim.cli.compress:compress",
    "decompress": "eiesim.cli.compress:decompress",
    "energy": "eiesim.cli.energy:energy",
    "info": "eiesim.cli.compress:info",
    "lab": "eiesim.cli.lab:lab",
    "lenet": "eiesim.cli.lenet:lenet",
    "paper": "eiesim.cli.paper:paper",
    "simulate": "eiesim.cli.simulate:simulate",
    "sweep": "eiesim.cli.sweep:sweep",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported the first time they are used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="eiesim")
def cli() -> None:
    """eiesim: compress neural-network layers Deep-Compression style and simulate them,
    cycle by cycle, on an EIE-style sparse accelerator."""


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI, turning every expected failure into one line."""
    try:
        cli.main(args=argv, prog_name="eiesim", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("eiesim: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"eiesim: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code or 2)
    except (EieError, OSError) as exc:
        click.echo(f"eiesim: error: {_one_line(exc)}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("eiesim: interrupted", err=True)
        sys.exit(130)
    sys.exit(0)


def _one_line(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.strerror or exc}: {exc.filename}"
    return " ".join(str(exc).split())
