"""Where platform and training sub-commands join the `recap` command."""

from __future__ import annotations

import typer


def mount(app: typer.Typer) -> None:
    """Add the sub-apps of the other packages (each imports its heavy libraries lazily)."""
