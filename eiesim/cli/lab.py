"""``eiesim lab``: list the coursework labs and open one as a notebook."""

from __future__ import annotations

import click


@click.group()
def lab() -> None:
    """Coursework labs (Jupyter notebooks that check your answers)."""


@lab.command("list")
def list_cmd() -> None:
    """Show the labs with their numbers."""
    from eiesim.labs import list_labs

    for item in list_labs():
        click.echo(f"{item.number:>2}  {item.title}")


@lab.command("open")
@click.argument("number")
@click.option("--dest", type=click.Path(file_okay=False), default=".", show_default=True,
              help="folder to write the notebook into (must exist)")
def open_cmd(number: str, dest: str) -> None:
    """Write lab NUMBER as NAME.ipynb into --dest; never overwrites a file."""
    from eiesim.labs import open_lab

    path = open_lab(number, dest)
    click.echo(f"wrote {path}; open it in Jupyter (jupyter lab or VS Code)")
