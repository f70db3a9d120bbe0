"""The one cocotb runner helper every hwgen testbench goes through.

- Builds each (design, simulator, build options) once into a cache keyed by the design's content
  and by the simulator and cocotb installation that build it (a Verilator model links the building
  venv's cocotb libraries), shared by parallel pytest workers (a file lock serialises the first
  build).
- Runs on Icarus or Verilator via ``cocotb_tools.runner``; waveforms when ``WAVES=1``, written
  into the run's ``test_dir`` (``<toplevel>.fst`` on Icarus, ``dump.vcd`` on Verilator).
- Passes testbench parameters as ``HWGEN_TB_*`` environment variables (read them with
  :func:`tb_param` inside the cocotb test).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

SIMULATORS = ("icarus", "verilator")
TIMESCALE = ("1ns", "1ps")
_STAMP = ".hwgen-built"
# Part of every cache key: raise it when what a cache entry holds changes (2: Verilator entries
# without their build intermediates).
CACHE_VERSION = 2


@dataclass(frozen=True)
class SimResult:
    """Outcome of a cocotb run."""
    tests: int
    failed: int
    results_xml: Path
    test_dir: Path
    waves: Path | None = None

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.tests > 0


def cache_root() -> Path:
    """Where built simulation models live (``$HWGEN_SIM_CACHE`` or ``~/.cache/hwgen/sim``)."""
    root = os.environ.get("HWGEN_SIM_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "hwgen" / "sim"


def sim_identity(simulator: str) -> list[str]:
    """What a built model depends on besides its sources: the simulator binary and version, and
    the cocotb installation (a Verilator model links that venv's cocotb libraries by path, so a
    model built by another venv breaks when that venv goes)."""
    import importlib.metadata

    from cocotb_tools import config

    from hwgen import toolchain
    tool = "iverilog" if simulator == "icarus" else "verilator"
    cmd = toolchain.find(tool)
    return [str(cmd[0]) if cmd else "", str(toolchain.version(tool)),
            importlib.metadata.version("cocotb"), str(config.libs_dir)]


def _digest(sources: Sequence[Path], simulator: str, build_args: Sequence[str],
            parameters: Mapping[str, Any], waves: bool, toplevel: str) -> str:
    h = hashlib.sha256()
    for s in sources:
        h.update(Path(s).name.encode())
        h.update(Path(s).read_bytes())
    h.update(json.dumps([simulator, list(build_args), sorted((k, str(v)) for k, v in parameters.items()),
                         waves, toplevel, TIMESCALE, sim_identity(simulator), CACHE_VERSION]).encode())
    return h.hexdigest()[:16]


@contextlib.contextmanager
def _lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _waves() -> bool:
    return os.environ.get("WAVES", "0") not in ("", "0", "false", "no")


def _runner(simulator: str):
    from hwgen import toolchain
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")
    for tool in (("iverilog",) if simulator == "icarus" else ("verilator", "perl", "make")):
        toolchain.require(tool)
    toolchain.prepare_sim_environ()
    from cocotb_tools.runner import get_runner
    return get_runner(simulator)


def _drop_intermediates(bdir: Path) -> None:
    """Delete what a finished Verilator build no longer needs: the precompiled headers (two of
    about 75 MB each for a split build), object files and archives. A cached model is never
    rebuilt in place (a changed design has another key) and running it needs only the executable.
    Measured: 156 MB -> 7.4 MB for the accelerator's testbench."""
    for p in bdir.iterdir():
        if p.suffix in (".gch", ".o", ".a") and p.is_file():
            p.unlink()


def build(sources: Iterable[str | Path], toplevel: str, simulator: str, *,
          build_args: Sequence[str] = (), parameters: Mapping[str, Any] | None = None) -> Path:
    """Build (or reuse from the cache) a simulation model; return its build folder."""
    sources = [Path(s).resolve() for s in sources]
    parameters = dict(parameters or {})
    waves = _waves()
    args = list(build_args)
    if simulator == "verilator":
        args = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "-Wno-MULTIDRIVEN", "-Wno-UNOPTFLAT",
                "--x-assign", "0", "--x-initial", "0", "-O2"] + args
    key = _digest(sources, simulator, args, parameters, waves, toplevel)
    bdir = cache_root() / f"{toplevel}-{simulator}-{key}"
    if (bdir / _STAMP).exists():
        _touch(bdir)
        return bdir
    runner = _runner(simulator)
    with _lock(bdir.with_suffix(".lock")):
        if not (bdir / _STAMP).exists():
            log = bdir / "build.log"
            bdir.mkdir(parents=True, exist_ok=True)
            try:
                runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=bdir,
                             build_args=args, parameters=parameters, timescale=TIMESCALE,
                             waves=waves, always=True, log_file=log)
            except (SystemExit, Exception) as e:
                tail = log.read_text()[-3000:] if log.exists() else ""
                raise RuntimeError(f"{simulator} build of {toplevel} failed ({e}); log tail:\n{tail}") from None
            if simulator == "verilator":
                _drop_intermediates(bdir)
            (bdir / _STAMP).write_text(json.dumps({"sources": [str(s) for s in sources]}))
    prune()
    return bdir


def _touch(bdir: Path) -> None:
    """Mark a cache entry as used now (its folder's mtime is its last use, for :func:`prune`)."""
    try:
        os.utime(bdir)
    except OSError:
        pass


def _size(d: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(d):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def prune(limit_bytes: int | None = None, min_age_s: float = 3600.0) -> list[Path]:
    """Keep the cache under ``limit_bytes`` (``$HWGEN_SIM_CACHE_GB``, default 5 GB): delete the
    least recently used built models first, only those unused for ``min_age_s`` (a model in use by
    another run is not touched); return what was deleted. Runs after every new build: every change
    of a design's text makes a new entry, and nothing else ever removed one (a developer's cache
    held 14 GB)."""
    if limit_bytes is None:
        raw = os.environ.get("HWGEN_SIM_CACHE_GB", "5")
        try:
            limit_bytes = int(float(raw) * 2**30)
        except ValueError:
            raise ValueError(f"HWGEN_SIM_CACHE_GB must be a number of gigabytes, not {raw!r}") from None
    root = cache_root()
    if not root.is_dir():
        return []
    now = time.time()
    entries = []
    for d in root.iterdir():
        if d.is_dir() and (d / _STAMP).exists():
            try:
                entries.append((d.stat().st_mtime, d, _size(d)))
            except OSError:
                pass
    total = sum(e[2] for e in entries)
    removed = []
    for mtime, d, size in sorted(entries, key=lambda e: e[0]):
        if total <= limit_bytes or now - mtime < min_age_s:
            break
        shutil.rmtree(d, ignore_errors=True)
        total -= size
        removed.append(d)
    return removed


def run(sources: Iterable[str | Path], toplevel: str, test_module: str, simulator: str, *,
        test_dir: str | Path | None = None, testcase: str | Sequence[str] | None = None,
        params: Mapping[str, Any] | None = None, python_paths: Sequence[str | Path] = (),
        build_args: Sequence[str] = (), parameters: Mapping[str, Any] | None = None,
        seed: int | None = None, check: bool = True) -> SimResult:
    """Build (cached) and run cocotb test module ``test_module`` against ``toplevel``.

    Parameters
    ----------
    params : mapping, optional
        Testbench parameters; each becomes ``HWGEN_TB_<NAME>`` (JSON-encoded) for :func:`tb_param`.
    python_paths : sequence, optional
        Folders to put on the simulator's Python path so ``test_module`` imports.
    check : bool
        Raise ``AssertionError`` (with the log tail) when a cocotb test fails.
    """
    sources = [Path(s).resolve() for s in sources]
    bdir = build(sources, toplevel, simulator, build_args=build_args, parameters=parameters)
    runner = _runner(simulator)
    tdir = Path(test_dir) if test_dir else Path(tempfile.mkdtemp(prefix="hwgen-sim-"))
    tdir = tdir.resolve()
    tdir.mkdir(parents=True, exist_ok=True)
    env = {f"HWGEN_TB_{k.upper()}": json.dumps(v) for k, v in (params or {}).items()}
    xml = tdir / "results.xml"
    log = tdir / "sim.log"
    waves = _waves()
    plusargs, wave_file = [], None
    if waves and simulator == "icarus":
        # cocotb's default dump file sits in the (shared, cached) build folder: every run of the
        # design would overwrite it, two workers at once would collide.
        wave_file = tdir / f"{toplevel}.fst"
        plusargs = [f"+dumpfile_path={wave_file}"]
    elif waves:
        wave_file = tdir / "dump.vcd"  # Verilator writes it into its working folder, test_dir
    added = [str(Path(p).resolve()) for p in python_paths if str(Path(p).resolve()) not in sys.path]
    saved_env = {k: os.environ.get(k) for k in env}
    sys.path[:0] = added
    os.environ.update(env)
    pytest_name = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        runner.test(test_module=test_module, hdl_toplevel=toplevel, hdl_toplevel_lang="verilog",
                    build_dir=bdir, test_dir=tdir,
                    testcase=testcase, results_xml=str(xml), timescale=TIMESCALE, waves=waves,
                    plusargs=plusargs, log_file=log, seed=seed, parameters=parameters or {})
    except SystemExit:
        pass
    finally:
        for p in added:
            sys.path.remove(p)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if pytest_name is not None:
            os.environ["PYTEST_CURRENT_TEST"] = pytest_name
    from cocotb_tools.runner import get_results
    try:
        tests, failed = get_results(xml)
    except (RuntimeError, FileNotFoundError):
        tests, failed = 0, 1
    res = SimResult(tests, failed, xml, tdir, wave_file)
    if check and not res.ok:
        tail = log.read_text()[-6000:] if log.exists() else "(no log)"
        what = (f"{failed} of {tests} tests failed" if tests else
                "no test ran (the module did not import, or no testcase matched)")
        raise AssertionError(f"cocotb {test_module} on {simulator}: {what} (log {log}):\n{tail}")
    return res


def tb_param(name: str, default: Any = None) -> Any:
    """Inside a cocotb test: the value passed as ``params[name]`` to :func:`run`."""
    raw = os.environ.get(f"HWGEN_TB_{name.upper()}")
    return default if raw is None else json.loads(raw)
