"""Writing outputs so that a failure leaves nothing half-written under ``--out``.

Everything is written into a staging folder beside the target and moved into place only when the
whole job succeeded; on an exception the staging folder is removed and the target is untouched.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import ConfigError


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
    """Yield a staging folder; on success its contents replace same-named entries in ``out_dir``."""
    out = check_out_dir(out_dir)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    except OSError as e:
        raise ConfigError(f"--out {out} cannot be created: {e.strerror or e}") from None
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        for entry in sorted(stage.iterdir()):
            dest = out / entry.name
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            elif dest.exists() or dest.is_symlink():
                dest.unlink()
            os.replace(entry, dest)
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
