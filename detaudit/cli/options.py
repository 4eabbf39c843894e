"""Argument types and option groups that several commands share."""

from __future__ import annotations

import argparse

__all__ = ["add_catalog_options", "positive_float", "positive_int", "report_formats"]


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    from ..runner.spec import MAX_TIMEOUT

    if not 0 < value <= MAX_TIMEOUT:  # NaN fails both comparisons
        raise argparse.ArgumentTypeError(
            f"must be a positive, finite number of seconds (at most {MAX_TIMEOUT}), got {text}"
        )
    return value


def report_formats(text: str) -> list[str]:
    from ..render import RENDERERS

    formats = RENDERERS["report"]
    chosen = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in formats]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown format {', '.join(unknown) or text!r}; choose from {','.join(formats)}"
        )
    return chosen


def add_catalog_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--catalog",
        action="append",
        default=[],
        metavar="PATH",
        help="add a catalogue YAML file to the built-in one (repeatable)",
    )
    parser.add_argument("--no-builtin", action="store_true", help="use only the --catalog files")
