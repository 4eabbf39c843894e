"""``detaudit catalog``: list, validate and check-docs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import EnvironmentUnsupported, UsageError
from ..render import RENDERERS
from .exits import EXIT_FINDINGS, EXIT_OK
from .options import add_catalog_options

__all__ = ["register", "run", "run_check_docs"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``catalog`` and its actions (list, validate, check-docs) to the command parser."""
    catalog = commands.add_parser("catalog", help="list or validate catalogue files")
    catalog_commands = catalog.add_subparsers(
        dest="catalog_command", metavar="ACTION", required=True
    )
    listing = catalog_commands.add_parser("list", help="list the catalogue's entries")
    add_catalog_options(listing)
    listing.add_argument("--format", choices=tuple(RENDERERS["catalog-list"]), default="text")
    validate = catalog_commands.add_parser("validate", help="check catalogue files (exit 2 if bad)")
    validate.add_argument("paths", nargs="+", metavar="PATH")
    catalog.set_defaults(run=run)
    _add_check_docs_parser(catalog_commands)


def _add_check_docs_parser(catalog_commands) -> None:
    check = catalog_commands.add_parser(
        "check-docs",
        help="compare torch's use_deterministic_algorithms docstring with the catalogue "
        "(exit 1 if they disagree)",
        description="Parse the installed torch's use_deterministic_algorithms docstring into "
        "its two lists and compare them with the catalogue's claims for that release: items "
        "the catalogue lacks, entries the docs no longer list, and groups that differ.",
    )
    add_catalog_options(check)
    check.add_argument("--format", choices=tuple(RENDERERS["docs-check"]), default="text")
    check.add_argument(
        "--docstring",
        metavar="FILE",
        default=None,
        help="check this docstring text instead of the installed torch's (needs --torch-version)",
    )
    check.add_argument(
        "--torch-version",
        metavar="VERSION",
        default=None,
        help="the torch release the --docstring FILE documents, e.g. 2.0.0",
    )


def run(args: argparse.Namespace) -> int:
    from ..catalog import load_catalog

    if args.catalog_command == "check-docs":
        return run_check_docs(args)
    if args.catalog_command == "validate":
        catalog = load_catalog(args.paths, builtin=False)
        print(f"ok: {len(catalog)} entries in {len(catalog.files)} file(s)")
        return EXIT_OK
    catalog = load_catalog(args.catalog, builtin=not args.no_builtin)
    sys.stdout.write(RENDERERS["catalog-list"][args.format].render(catalog))
    return EXIT_OK


def _read_docstring(path: str) -> str:
    """The text of ``--docstring PATH``; a :class:`UsageError` if unreadable, not UTF-8 or empty."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"--docstring {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"--docstring {path}: not UTF-8 text (byte {data[exc.start]:#04x} at offset "
            f"{exc.start}); save it as UTF-8"
        ) from None
    if not text.strip():
        raise UsageError(f"--docstring {path}: the file is empty; give the docstring's text")
    return text


def run_check_docs(args: argparse.Namespace) -> int:
    from ..catalog import load_catalog, parse_version
    from ..docs.check import check_docs
    from ..docs.docstring import installed_docstring, parse_docstring

    if args.docstring is None:
        if args.torch_version is not None:
            raise UsageError("--torch-version goes with --docstring FILE")
        version, text, source = installed_docstring()
    else:
        if args.torch_version is None:
            raise UsageError(
                "--docstring FILE needs --torch-version VERSION (the release it documents)"
            )
        version, source = args.torch_version, args.docstring
        text = _read_docstring(args.docstring)
    try:
        parse_version(version)
    except ValueError:
        raise UsageError(f"--torch-version {version!r}: expected a version like 2.13.0") from None
    docs = parse_docstring(text)
    if not docs.items:
        # Comparing no lists with the catalogue would report every entry as unlisted.
        raise (UsageError if args.docstring else EnvironmentUnsupported)(
            f"{'--docstring ' if args.docstring else ''}{source}: no use_deterministic_algorithms "
            "lists in it (no bullets after \"The following ... operations will act "
            "deterministically\" or \"... will throw\"); give that function's docstring"
        )
    catalog = load_catalog(args.catalog, builtin=not args.no_builtin)
    check = check_docs(catalog, docs, version, source)
    sys.stdout.write(RENDERERS["docs-check"][args.format].render(check))
    return EXIT_OK if check.ok else EXIT_FINDINGS
