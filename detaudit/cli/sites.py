"""``detaudit sites``: the alert census of a torch build, its catalogue coverage, or two builds' diff."""

from __future__ import annotations

import argparse
import sys

from ..render import RENDERERS
from .exits import EXIT_FINDINGS, EXIT_OK
from .options import add_catalog_options
from .output import check_output_file, emit

__all__ = ["register", "run"]


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``sites`` to the command parser."""
    sites = commands.add_parser(
        "sites",
        help="every alert a torch build can raise, read from its libraries (exit 1: uncovered)",
        description="Read the shared libraries of a torch build (ELF or Mach-O) and list every "
        "call to at::Context::alertNotDeterministic with the name it passes, the C++ "
        "function and the device; plus the Python-side alert_not_deterministic calls and "
        "whether the cuBLAS workspace check is there. No GPU, no torch import, no install. "
        "Each name is then checked against the catalogue: covered by an entry, listed as a "
        "known gap, or uncovered (exit 1). With --diff, what appears and disappears from "
        'one build to another. Needs the sites extra: pip install "detaudit[sites]".',
    )
    source = sites.add_mutually_exclusive_group()
    source.add_argument("--python", metavar="PATH", help="the torch of that Python interpreter")
    source.add_argument("--wheel", metavar="FILE.whl", help="a torch wheel (read, not installed)")
    source.add_argument(
        "--torch-version",
        metavar="V",
        help="the torch V wheel, fetched with pip download into the cache (installs nothing)",
    )
    source.add_argument(
        "--diff",
        nargs=2,
        metavar=("OLD", "NEW"),
        help="compare two builds; each a version (e.g. 2.9.1), a .whl, a Python or a torch "
        "folder (exit 1 when a site appears or goes, or the cuBLAS check changes)",
    )
    sites.add_argument(
        "--platform",
        default="",
        help="the wheel platform for versions (e.g. macosx_11_0_arm64; default this machine's)",
    )
    sites.add_argument(
        "--python-version", default="3.11", help="the wheel's Python for versions (default 3.11)"
    )
    sites.add_argument(
        "--cache",
        default="",
        metavar="DIR",
        help="where downloaded wheels are kept (default $XDG_CACHE_HOME/detaudit/wheels)",
    )
    sites.add_argument(
        "--format", choices=tuple(RENDERERS["sites"]), default="text", help="output (default text)"
    )
    add_catalog_options(sites)
    sites.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    sites.set_defaults(run=run)


def _source(args: argparse.Namespace):
    from ..sites.fetch import Source

    if args.python:
        return Source("python", args.python)
    if args.wheel:
        return Source("wheel", args.wheel)
    if args.torch_version:
        return Source("version", args.torch_version, args.platform, args.python_version, args.cache)
    return Source("installed")


def _census(source):
    from ..sites.census import take_census
    from ..sites.fetch import open_build

    with open_build(source) as build:
        return take_census(build)


def run(args: argparse.Namespace) -> int:
    from ..sites.binary import require

    check_output_file("-o", args.output)
    require()
    if args.diff:
        return _run_diff(args)
    from ..catalog import load_catalog
    from ..catalog.gaps import load_known_gaps
    from ..sites.coverage import Covered, cover

    catalog = load_catalog(args.catalog, builtin=not args.no_builtin)
    known = load_known_gaps()
    result = cover(_census(_source(args)), catalog, known)
    emit(RENDERERS["sites"][args.format].render(result), args.output)
    uncovered = result.of(Covered.UNCOVERED)
    if not uncovered:
        return EXIT_OK
    names = ", ".join(n.alert for n in uncovered)
    print(f"detaudit: sites: {len(uncovered)} alert names uncovered: {names}", file=sys.stderr)
    return EXIT_FINDINGS


def _run_diff(args: argparse.Namespace) -> int:
    from ..sites.diff import diff_censuses
    from ..sites.fetch import source_of

    old, new = (
        _census(source_of(side, args.platform, args.python_version, args.cache))
        for side in args.diff
    )
    result = diff_censuses(old, new)
    emit(RENDERERS["sites-diff"][args.format].render(result), args.output)
    if not result.changed:
        return EXIT_OK
    print(
        f"detaudit: sites --diff: {len(result.appeared)} sites appeared, {len(result.gone)} gone"
        + (f", the cuBLAS check {result.cublas_change}" if result.cublas_change else ""),
        file=sys.stderr,
    )
    return EXIT_FINDINGS
