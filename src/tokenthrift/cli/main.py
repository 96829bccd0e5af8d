"""The ``tokenthrift`` command line."""

from __future__ import annotations

import click

from .serve_cmd import serve


@click.group()
@click.version_option(package_name="tokenthrift")
def cli() -> None:
    """tokenthrift: cut LLM API spend and prove every dollar saved."""


cli.add_command(serve)


def _register_optional() -> None:
    # Commands whose modules are added by their own features register here.
    import importlib

    for module, name in (("emulator_cmd", "emulator"), ("report_cmd", "report"),
                         ("demo_cmd", "demo")):
        try:
            mod = importlib.import_module(f"tokenthrift.cli.{module}")
        except ModuleNotFoundError:
            continue
        cli.add_command(getattr(mod, name))


_register_optional()
