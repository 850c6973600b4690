"""The package's loggers, made on first use: importing `logging` costs ~15 ms per CLI call,
and a status that logs nothing should not pay it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging


def get(name: str) -> logging.Logger:
    """`logging.getLogger(name)`; fleetctl's loggers stay silent unless the CLI configures logging."""
    import logging

    package = logging.getLogger("fleetctl")
    if not package.handlers:
        package.addHandler(logging.NullHandler())
    return logging.getLogger(name)
