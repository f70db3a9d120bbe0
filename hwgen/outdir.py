"""Writing outputs so that a failure leaves nothing half-written under ``--out``.

Everything is written into a staging folder beside the target and moved into place only when the
whole job succeeded; on an exception the staging folder is removed and the target is untouched.

A reused ``--out`` holds what the last run of each command wrote there, not also what earlier
runs wrote: ``--out`` keeps a record, ``.hwgen-outputs.json``, of the top-level entries each
command (``hwgen adders generate``, ...) wrote, and a command's next run removes those of its own
entries it did not write again. Entries that another command wrote, and files hwgen did not write,
are left alone. The command is set by the CLI (:func:`command`); outside it nothing is removed.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import ConfigError

#: the record of which command wrote which top-level entries of an --out folder
RECORD = ".hwgen-outputs.json"

#: (command, {resolved --out: names this run of it wrote there so far}, open staging folders)
_command: contextvars.ContextVar[tuple[str, dict[Path, set[str]], set[Path]] | None] = \
    contextvars.ContextVar("hwgen_out_command", default=None)


@contextlib.contextmanager
def command(name: str) -> Iterator[None]:
    """Within this block, ``staged_output`` records what it writes as written by ``name`` and
    removes what ``name`` wrote into the same folder before and did not write again (what one run
    writes into one folder in several steps counts as written together; a folder written inside
    another's staging folder is part of that one and keeps no record of its own)."""
    token = _command.set((name, {}, set()))
    try:
        yield
    finally:
        _command.reset(token)


def _read_record(out: Path) -> dict[str, list[str]]:
    """The record in ``out``: {command: [entry names]}; a damaged or foreign one counts as empty
    (nothing is then removed: a name is trusted only if it is one plain entry of ``out``)."""
    try:
        rec = json.loads((out / RECORD).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(rec, dict):
        return {}
    return {k: [n for n in v if isinstance(n, str) and n not in ("", ".", "..", RECORD)
                and "/" not in n and "\\" not in n]
            for k, v in rec.items() if isinstance(k, str) and isinstance(v, list)}


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def check_out_dir(out_dir: str | os.PathLike) -> Path:
    """Refuse an ``--out`` that cannot become a folder before any work is done: an existing file,
    a path below a file, or a folder whose nearest existing parent is not writable."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out must be a directory, but {out} is a file")
    parent = out.parent if not out.exists() else out
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"--out {out} cannot be created: {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out} cannot be created: {parent} is not writable")
    return out


@contextlib.contextmanager
def staged_output(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Yield a staging folder; on success its contents replace same-named entries in ``out_dir``
    and, inside :func:`command`, the entries the same command wrote there before and did not
    write again are removed."""
    out = check_out_dir(out_dir)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    except OSError as e:
        raise ConfigError(f"--out {out} cannot be created: {e.strerror or e}") from None
    current = _command.get()
    if current is not None:
        current[2].add(stage.resolve())
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    finally:
        if current is not None:
            current[2].discard(stage.resolve())
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = sorted(e.name for e in stage.iterdir() if e.name != RECORD)
        for name in written:
            dest = out / name
            _remove(dest)
            os.replace(stage / name, dest)
        nested = current is not None and any(st in out.resolve().parents for st in current[2])
        if current is not None and not nested:
            cmd, runs, _stages = current
            mine = runs.setdefault(out.resolve(), set())
            mine.update(written)
            record = _read_record(out)
            for name in set(record.get(cmd, ())) - mine:
                _remove(out / name)
            # the last writer of a name owns it
            record = {k: [n for n in v if n not in mine] for k, v in record.items() if k != cmd}
            record[cmd] = sorted(mine)
            (out / RECORD).write_text(json.dumps({k: v for k, v in sorted(record.items()) if v},
                                                 indent=1, sort_keys=True) + "\n")
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
