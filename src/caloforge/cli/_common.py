"""What every verb shares: user errors as one line and a non-zero exit."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from caloforge.exceptions import CaloforgeError

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["command", "handle_errors"]


def handle_errors(fn: F) -> F:
    """Print :class:`CaloforgeError` as ``error: <message>`` and exit 1; Ctrl-C exits 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CaloforgeError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def command(app: typer.Typer, name: str, **kwargs: Any) -> Callable[[F], F]:
    """``@command(app, "info")``: register a verb with error handling."""

    def decorator(fn: F) -> F:
        app.command(name, **kwargs)(handle_errors(fn))
        return fn

    return decorator
