"""The ``hwgen`` command: one subcommand group per capability, each a thin wrapper over public
Python functions. Errors print one line and exit non-zero; ``--debug`` shows the traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .cliutil import add_json, add_out
from .errors import HwgenError
from .outdir import check_out_dir, command

# Capabilities in the order they appear in ``hwgen --help`` and in ``hwgen demo``. Each has
# ``hwgen/<name>/cli.py`` with ``register(subparsers)``; a missing one is simply not offered.
CAPABILITIES = ("adders", "accel", "linebuf", "hls")


def capability_module(cap: str, name: str):
    """``hwgen.<cap>.<name>``, or None when that capability (or that module of it) is absent."""
    try:
        return importlib.import_module(f"hwgen.{cap}.{name}")
    except ModuleNotFoundError as e:
        if e.name in (f"hwgen.{cap}", f"hwgen.{cap}.{name}"):
            return None
        raise


def _doctor(args: argparse.Namespace) -> int:
    from . import toolchain
    from .cliutil import emit, table
    rows, missing = toolchain.doctor_table()
    result = {"tools": [dict(zip(("tool", "status", "detail", "purpose"), r)) for r in rows],
              "missing": missing}
    emit(result, args, lambda _: table(rows, toolchain.DOCTOR_HEADERS))
    if missing:
        print(toolchain.missing_line(missing), file=sys.stderr)
        return 1
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    return run_demo(args.out, quick=args.quick)


class Parser(argparse.ArgumentParser):
    """argparse's parser with hwgen's one-line usage errors (``hwgen: error: ...``, exit 2);
    every subparser is one too (argparse makes subparsers of the parent's class)."""

    def error(self, message: str):
        self.exit(2, f"hwgen: error: {message} (see `{self.prog} --help`)\n")


def _leaf_parsers(parser: argparse.ArgumentParser):
    """The parsers that take no further subcommand (``hwgen adders generate``, ``hwgen doctor``)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield parser
    for action in subs:
        for child in dict.fromkeys(action.choices.values()):  # aliases map to one parser
            yield from _leaf_parsers(child)


#: packages a capability may need that a board's Python lacks (the runtime needs neither)
OPTIONAL_PACKAGES = ("amaranth", "jinja2")


def _unavailable(sub, cap: str, package: str) -> None:
    """``hwgen <cap> ...`` where ``cap`` cannot be imported without ``package``: a one-line error
    naming the install (on a board, only the accelerator's runtime commands are expected)."""
    p = sub.add_parser(cap, help=f"(needs {package}, which is not installed)")
    p.add_argument("rest", nargs=argparse.REMAINDER)

    def refuse(args):
        raise HwgenError(f"hwgen {cap} needs the Python package {package}, which is not installed: "
                         f"pip install {package}")
    p.set_defaults(func=refuse)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="hwgen", description="DNN hardware design automation")
    p.add_argument("--version", action="version", version=f"hwgen {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    d = sub.add_parser("doctor", help="list the external tools hwgen uses and their versions")
    add_json(d)
    d.set_defaults(func=_doctor)
    d = sub.add_parser("demo", help="the main job on built-in defaults (what `make demo` runs)")
    add_out(d)  # no default: nothing is written into the current folder unless asked
    d.add_argument("--quick", action="store_true", help="smaller workloads")
    d.set_defaults(func=_demo)
    for cap in CAPABILITIES:
        try:
            mod = capability_module(cap, "cli")
        except ModuleNotFoundError as e:
            if e.name not in OPTIONAL_PACKAGES:
                raise
            _unavailable(sub, cap, e.name)
            continue
        if mod is not None:
            mod.register(sub)
    # --debug is accepted after the subcommand too (`hwgen adders generate ... --debug`).
    for leaf in _leaf_parsers(p):
        if "--debug" not in leaf._option_string_actions:
            leaf.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                              help="show tracebacks on errors")
        # the parser an unknown flag is reported by (argparse reports it from the top one)
        leaf.set_defaults(_leaf=leaf)
    return p


def _silence_unused_elaboratables() -> None:
    """A run stopped by an error or Ctrl-C drops designs half-built: Amaranth would warn
    "created but never used" for each one (dozens of lines under the one-line error). Amaranth
    silences these itself only for uncaught exceptions; ours are caught."""
    unused = sys.modules.get("amaranth._unused")
    if unused is not None:
        unused.MustUse._MustUse__silence = True


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra:
            getattr(args, "_leaf", parser).error(f"unrecognized arguments: {' '.join(extra)}")
        if getattr(args, "out", None) is not None:
            # An unusable --out is refused before any work starts (a long search must not find
            # out at its end that it cannot write its results).
            check_out_dir(args.out)
        # a reused --out holds what this command's last run wrote, not also its earlier runs'
        with command(" ".join(getattr(args, "_leaf", parser).prog.split()[1:])):
            rc = args.func(args)
        return int(rc or 0)
    except (HwgenError, TypeError, ValueError, OSError) as e:
        # Config type errors from dataclass checks reach here too; OSError: an unreadable input,
        # an output folder that cannot be written, a full disk.
        if debug:
            raise
        _silence_unused_elaboratables()
        print(f"hwgen: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _silence_unused_elaboratables()
        print("hwgen: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
