"""C simulation without vendor tools: compile a generated project with g++ against the real Xilinx
``ap_int`` headers and hwgen's ``hls::stream`` model, run images through it, and compare every
layer's stream with the golden model (:mod:`hwgen.hls.model`)."""
from __future__ import annotations

import json
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ToolError
from ..nn.quantize import load_quant
from ..toolchain import require
from . import model as golden
from .emit import write_images

CXXFLAGS = ("-std=c++14", "-O2", "-Wall", "-Wextra", "-Werror")


def ap_types_dir() -> Path:
    """Folder holding the Xilinx ``ap_int.h`` (:func:`hwgen.toolchain.ap_types_dir`: Vitis HLS's
    when ``XILINX_HLS`` is set, else the hls4ml wheel's); ToolError naming the install if none."""
    return Path(require("ap_types")[0])


def compile_project(project: Path, exe: Path) -> float:
    """Compile the project's testbench and top into ``exe``; returns seconds taken.

    Raises ToolError with the compiler's own lines on failure."""
    man = _manifest(project)
    top = man["top"]
    cmd = [*require("g++"), *CXXFLAGS, f"-I{project / 'csim'}", f"-I{project}", "-isystem", str(ap_types_dir()),
           str(project / f"tb_{top}.cpp"), str(project / f"{top}.cpp"), "-o", str(exe)]
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        lines = [l for l in (r.stderr or r.stdout).splitlines() if l.strip()]
        raise ToolError("C++ compilation failed:\n" + "\n".join(lines[:40]))
    return time.monotonic() - t0


@dataclass
class CsimResult:
    """Outcome of one C simulation."""
    images: int
    mismatches: int                          # values that differ, over all layers and images
    layers: dict[str, int] = field(default_factory=dict)   # mismatching values per layer
    compile_s: float = 0.0
    run_s: float = 0.0
    records: list[list[int]] = field(default_factory=list)
    cycles: dict[str, int] = field(default_factory=dict)    # counted loop cycles per layer and frame

    @property
    def seconds_per_frame(self) -> float:
        return self.run_s / max(self.images, 1)

    def to_dict(self) -> dict:
        return {"images": self.images, "mismatches": self.mismatches, "layers": self.layers,
                "compile_s": round(self.compile_s, 3), "run_s": round(self.run_s, 3),
                "seconds_per_frame": round(self.seconds_per_frame, 4), "records": self.records,
                "cycles": self.cycles}


def _manifest(project: Path) -> dict:
    path = Path(project) / "manifest.json"
    if not path.exists():
        raise ConfigError(f"{project} is not a generated HLS project (no manifest.json); run `hwgen hls generate`")
    if path.is_dir():
        raise ConfigError(f"{path} is a directory, not a file; regenerate the project with `hwgen hls generate`")
    try:
        man = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f" ({e.msg} at line {e.lineno})" if isinstance(e, json.JSONDecodeError) else ""
        raise ConfigError(f"{path} is not valid JSON{where}; regenerate the project") from None
    if not isinstance(man, dict):
        raise ConfigError(f"{path} must hold a JSON object, not {type(man).__name__}; regenerate the project")
    if man.get("kind") != "hls":
        raise ConfigError(f"{project} holds a {man.get('kind')!r} design, not an HLS project")
    return man


def run_csim(project: str | Path, images: int = 2, seed: int = 1, work: str | Path | None = None,
             image_list: list[np.ndarray] | None = None) -> CsimResult:
    """Compile and run the C simulation of ``project`` on ``images`` test images (random and
    structured, see :func:`hwgen.hls.model.test_images`) and compare every layer."""
    project = Path(project)
    _manifest(project)
    if not isinstance(images, int) or images < 1:
        raise ConfigError(f"--images must be a positive integer, not {images}")
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"--seed must be a non-negative integer, not {seed}")
    qnet = load_quant(project / "quant.npz")
    imgs = image_list if image_list is not None else golden.test_images(qnet, images, seed)
    with tempfile.TemporaryDirectory(prefix="hwgen-csim-", dir=work) as tmp:
        tmp = Path(tmp)
        exe = tmp / "tb"
        compile_s = compile_project(project, exe)
        write_images(tmp / "images.bin", imgs)
        t0 = time.monotonic()
        r = subprocess.run([str(exe), str(tmp / "images.bin"), str(len(imgs)), str(tmp)],
                           capture_output=True, text=True)
        run_s = time.monotonic() - t0
        if r.returncode != 0:
            raise ToolError(f"C simulation failed (exit {r.returncode}): {(r.stderr or r.stdout).strip()[-2000:]}")
        return _compare(qnet, imgs, tmp, compile_s, run_s)


def _compare(qnet, imgs, tmp: Path, compile_s: float, run_s: float) -> CsimResult:
    refs = [golden.forward(qnet, im) for im in imgs]
    names = ["input"] + [l.name for l in qnet.net.layers]
    per_layer: dict[str, int] = {}
    for name in names:
        got = np.fromfile(tmp / f"tap_{name}.bin", dtype="<i4").astype(np.int64)
        want = np.concatenate([r[name].reshape(-1) for r in refs])
        if got.size != want.size:
            per_layer[name] = max(got.size, want.size)
        else:
            per_layer[name] = int(np.count_nonzero(got != want))
    out = np.fromfile(tmp / "output.bin", dtype="<i4").astype(np.int64)
    want = np.concatenate([r[qnet.net.output.name].reshape(-1) for r in refs])
    per_layer["axis_out"] = int(np.count_nonzero(out != want)) if out.size == want.size else max(out.size, want.size)
    records = out.reshape(len(imgs), -1).tolist() if out.size == want.size else []
    cycles: dict[str, int] = {}
    for line in (tmp / "ticks.txt").read_text().splitlines():
        key, count = line.rsplit(" ", 1)
        name = key.split("#")[0]            # steps of a multi-input concat run side by side
        cycles[name] = max(cycles.get(name, 0), int(count) // len(imgs))
    return CsimResult(images=len(imgs), mismatches=sum(per_layer.values()), layers=per_layer,
                      compile_s=compile_s, run_s=run_s, records=records, cycles=cycles)
