"""Reading the ``.npy``/``.npz`` files a user hands to hwgen, with one clear error per bad file."""
from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Union

import numpy as np

from ..errors import ModelError

_KIND = "a NumPy .npy/.npz file"


def load_arrays(path: Union[str, os.PathLike], what: str) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` (name -> array), or ``{"arr_0": array}`` for an ``.npy``, read
    eagerly and without pickles.

    Raises
    ------
    ModelError
        ``<what> file <path>`` does not exist, is a directory, is empty, is not NumPy's format, or
        holds Python objects.
    """
    p = Path(path)
    head = f"{what} file {path}"
    if not p.exists():
        raise ModelError(f"{head} does not exist")
    if p.is_dir():
        raise ModelError(f"{head} is a directory, not {_KIND}")
    if p.stat().st_size == 0:
        raise ModelError(f"{head} is empty, not {_KIND}")
    with open(p, "rb") as f:
        magic = f.read(6)
    if not (magic.startswith(b"PK") or magic == b"\x93NUMPY"):
        raise ModelError(f"{head} is not {_KIND}")         # np.load would take it for a pickle
    try:
        data = np.load(p, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            return {"arr_0": data}
        with data:
            return {name: data[name] for name in data.files}
    except ValueError as e:
        if "pickle" in str(e):
            raise ModelError(f"{head} holds Python objects (pickled); only plain numeric arrays "
                             f"are read") from None
        raise ModelError(f"{head} is not {_KIND}") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError):
        raise ModelError(f"{head} is not {_KIND}") from None


def numeric(arr: np.ndarray, head: str) -> np.ndarray:
    """``arr`` as float64; a ModelError when it is not numeric or holds NaN or infinity."""
    arr = np.asarray(arr)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ModelError(f"{head} must be numbers, not {arr.dtype}")
    arr = arr.astype(np.float64)
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    if bad:
        raise ModelError(f"{head} holds {bad} {'value that is' if bad == 1 else 'values that are'} "
                         f"NaN or infinite; only finite numbers are read")
    return arr
