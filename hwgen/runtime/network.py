"""A compiled network (:class:`CompiledNetwork`) and its execution on any device
(:class:`NetworkRunner`): the functional simulator, the RTL in simulation or a PYNQ board.

A compiled network is position-independent: one DRAM *arena* image (weights, requantization
constants, micro-ops, room for every feature map) and one instruction segment per job whose DRAM
addresses are relative to the arena. The runner puts the arena in the device's window, relocates
the instructions, writes the input map and runs either every segment in one program (``fused``:
one START per frame, a barrier between segments) or one run per segment (``per_layer``: cycles per
layer). A network compiled with ``keep_maps`` keeps every feature map in its own space, so all of
them can be read back after a run; otherwise maps whose lifetimes do not overlap share space (a
smaller arena) and the runner reads back what is still there: after a fused run the maps marked
``kept`` (the output among them), in a per-layer run every map right after the segment that
completes it (its ``ready``).

On disk (``hwgen accel compile --out DIR``): ``network.json`` (manifest), ``program.bin`` (the
segments' 128-bit instructions, back to back) and ``arena.bin``. Never imports amaranth or jinja2.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..accel import isa
from ..accel.config import AccelConfig
from ..accel.isa import Gemm, Load, MemType, Opcode, Store
from ..accel.model import RunResult
from ..configbase import config_from_dict, config_to_dict
from ..errors import DeviceError, ModelError

FORMAT = "hwgen-compiled-network"
FORMAT_VERSION = 2
#: format 1 (every map kept, no ``ready``/``kept`` per map) is still read
READ_VERSIONS = (1, 2)
#: numpy type of a signed integer of each element width
INT_DTYPE = {8: np.int8, 16: np.int16, 32: np.int32}


@dataclass
class Segment:
    """One job's instructions (arena-relative, no FINISH) and what it computes."""
    name: str
    kind: str
    layers: tuple[str, ...]
    dst: str
    insns: list
    macs: int
    est_cycles: int
    tiling: dict[str, Any] = field(default_factory=dict)


@dataclass
class CompiledNetwork:
    """See module doc. ``maps[name]`` = ``{"offset", "planes", "h", "w", "channels", "pack",
    "ready", "kept"}`` (byte offset in the arena; ``ready``: the index of the segment after which
    the map is complete, -1 for the network input; ``kept``: still in the arena after a run);
    ``head`` = the head layer's name and anchors when the network ends in one."""
    config: AccelConfig
    network: dict[str, Any]
    maps: dict[str, dict[str, Any]]
    segments: list[Segment]
    arena: bytes
    output: str
    head: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def insn_count(self) -> int:
        return sum(len(s.insns) for s in self.segments)

    @property
    def macs(self) -> int:
        return sum(s.macs for s in self.segments)

    # ------------------------------------------------------------------ files
    def manifest(self) -> dict[str, Any]:
        segs, off = [], 0
        for s in self.segments:
            segs.append({"name": s.name, "kind": s.kind, "layers": list(s.layers), "dst": s.dst,
                         "insn_offset": off, "insn_count": len(s.insns), "macs": s.macs,
                         "est_cycles": s.est_cycles, "tiling": s.tiling})
            off += len(s.insns)
        return {"format": FORMAT, "version": FORMAT_VERSION, "isa_version": isa.ISA_VERSION,
                "config": config_to_dict(self.config), "config_slug": self.config.slug,
                "network": self.network, "arena_bytes": len(self.arena), "maps": self.maps,
                "output": self.output, "head": self.head, "segments": segs, "info": self.info}

    def files(self) -> dict[str, bytes]:
        """File name -> bytes, as :meth:`load` reads them."""
        program = isa.to_bytes([i for s in self.segments for i in s.insns])
        text = json.dumps(self.manifest(), indent=1, sort_keys=True) + "\n"
        return {"network.json": text.encode(), "program.bin": program, "arena.bin": bytes(self.arena)}

    @classmethod
    def load(cls, folder: str | Path) -> "CompiledNetwork":
        folder = Path(folder)
        man_path = folder / "network.json"
        if not man_path.is_file():
            raise ModelError(f"{folder} holds no compiled network (no network.json); write one with "
                             f"hwgen accel compile")
        try:
            man = json.loads(man_path.read_text())
        except json.JSONDecodeError as e:
            raise ModelError(f"{man_path} is not valid JSON: {e.msg} at line {e.lineno}") from None
        if not isinstance(man, dict) or man.get("format") != FORMAT:
            raise ModelError(f"{man_path} is not a compiled network (format {FORMAT!r})")
        if man.get("version") not in READ_VERSIONS or man.get("isa_version") != isa.ISA_VERSION:
            raise ModelError(f"{man_path} is format {man.get('version')} for ISA {man.get('isa_version')}; "
                             f"this hwgen reads format {FORMAT_VERSION} for ISA {isa.ISA_VERSION}: compile again")
        config = config_from_dict(AccelConfig, man["config"])
        arena = (folder / "arena.bin").read_bytes()
        if len(arena) != man["arena_bytes"]:
            raise ModelError(f"{folder / 'arena.bin'} has {len(arena)} bytes, the manifest says "
                             f"{man['arena_bytes']}")
        raw = (folder / "program.bin").read_bytes()
        if len(raw) % isa.INSN_BYTES:
            raise ModelError(f"{folder / 'program.bin'} is {len(raw)} bytes, not a whole number of "
                             f"{isa.INSN_BYTES}-byte instructions")
        insns = isa.from_bytes(raw)
        segs = []
        for s in man["segments"]:
            body = insns[s["insn_offset"]: s["insn_offset"] + s["insn_count"]]
            if len(body) != s["insn_count"]:
                raise ModelError(f"{folder / 'program.bin'} ends inside segment {s['name']}")
            segs.append(Segment(s["name"], s["kind"], tuple(s["layers"]), s["dst"], body, s["macs"],
                                s["est_cycles"], s.get("tiling", {})))
        return cls(config, man["network"], man["maps"], segs, arena, man["output"], man.get("head"),
                   man.get("info", {}))

    # ------------------------------------------------------------------ maps
    def shape(self, name: str) -> tuple[int, int, int]:
        """The logical ``(H, W, C)`` of map ``name`` (a packed map holds ``pack`` pixels per
        element, see :mod:`hwgen.compiler.lower`)."""
        m = self.maps[name]
        pk = m.get("pack", 1)
        return (m["h"], m["w"] * pk, len(m["channels"]) // pk)

    def pack(self, name: str, x: np.ndarray) -> bytes:
        """``x [H, W, C]`` as the bytes of map ``name`` (see :mod:`hwgen.compiler.lower`)."""
        m = self.maps[name]
        bo = self.config.block_out
        x = np.asarray(x)
        want = self.shape(name)
        if x.shape != want:
            raise ModelError(f"map {name} must have shape {want}, not {x.shape}")
        x = x.reshape(m["h"], m["w"], len(m["channels"]))      # a packed map's elements
        lo, hi = -(1 << (self.config.output_width - 1)), (1 << (self.config.output_width - 1)) - 1
        if not np.issubdtype(x.dtype, np.integer) or (x.size and (x.min() < lo or x.max() > hi)):
            raise ModelError(f"map {name} must hold {self.config.output_width}-bit integers in {lo}..{hi}, "
                             f"not {x.dtype} values {x.min() if x.size else ''}..{x.max() if x.size else ''}")
        phys = np.zeros((m["h"], m["w"], m["planes"] * bo), dtype=np.int64)
        phys[:, :, m["channels"]] = x
        planes = phys.reshape(m["h"], m["w"], m["planes"], bo).transpose(2, 0, 1, 3)
        return np.ascontiguousarray(planes).astype(INT_DTYPE[self.config.output_width]).tobytes()

    def unpack(self, name: str, raw: np.ndarray) -> np.ndarray:
        m = self.maps[name]
        bo = self.config.block_out
        v = np.asarray(raw).view(INT_DTYPE[self.config.output_width]).astype(np.int64)
        planes = v.reshape(m["planes"], m["h"], m["w"], bo).transpose(1, 2, 0, 3)
        return planes.reshape(m["h"], m["w"], -1)[:, :, m["channels"]].reshape(self.shape(name))

    def kept(self, name: str) -> bool:
        """Whether map ``name`` can still be read back after a whole run."""
        return bool(self.maps[name].get("kept", True))

    def ready(self, name: str) -> int | None:
        """Index of the segment after which map ``name`` is complete (-1: the network input;
        None: not recorded, format 1)."""
        return self.maps[name].get("ready")

    def map_bytes(self, name: str) -> int:
        m = self.maps[name]
        return m["planes"] * m["h"] * m["w"] * self.config.out_elem_bytes


def relocate(insns: list, config: AccelConfig, arena_offset: int) -> list:
    """Instructions with their DRAM element addresses moved by ``arena_offset`` bytes."""
    eb = {MemType.UOP: isa.UOP_BYTES, MemType.INP: config.inp_elem_bytes,
          MemType.WGT: config.wgt_elem_bytes, MemType.ACC: config.acc_elem_bytes,
          MemType.OUT: config.out_elem_bytes}
    out = []
    for insn in insns:
        if insn.opcode in (Opcode.LOAD, Opcode.STORE):
            size = eb[MemType(insn.mem_type)]
            if arena_offset % size:
                raise DeviceError(f"arena offset {arena_offset:#x} is not aligned to {size}-byte elements")
            insn = dataclasses.replace(insn, dram_base=insn.dram_base + arena_offset // size)
        out.append(insn)
    return out


def barrier() -> list:
    """Three no-ops that let nothing after them start before everything before them is done:
    store -> compute -> load tokens."""
    return [Store(y_size=0, x_size=0, x_stride=0, push_prev=True),
            Gemm(uop_begin=0, uop_end=0, pop_next=True, push_prev=True),
            Load(mem_type=MemType.INP, y_size=0, x_size=0, x_stride=0, pop_next=True)]


@dataclass
class NetworkResult:
    """``maps``: the maps read back (int64 ``[H, W, C]``; the head's decoded record): every map
    of a network compiled with ``keep_maps`` or run per layer, else the ``kept`` ones (the
    output among them); ``runs``: ``(segment names, RunResult)`` per run (one when fused)."""
    maps: dict[str, np.ndarray]
    runs: list[tuple[tuple[str, ...], RunResult]]

    @property
    def cycles(self) -> int:
        return sum(r.cycles for _n, r in self.runs)

    @property
    def exact_cycles(self) -> bool:
        return all(r.exact_cycles for _n, r in self.runs)


class NetworkRunner:
    """Runs a :class:`CompiledNetwork` on ``device`` (its arena stays allocated until :meth:`close`)."""

    def __init__(self, device, compiled: CompiledNetwork):
        if device.config != compiled.config:
            raise DeviceError(f"the network was compiled for {compiled.config.slug}, the device is "
                              f"{device.config.slug}")
        self.device = device
        self.compiled = compiled
        self.arena = device.alloc(max(len(compiled.arena), 1))
        device.write(self.arena, compiled.arena)
        self.segments = [relocate(s.insns, device.config, self.arena.offset) for s in compiled.segments]

    def program(self) -> list:
        """Every segment in one program, barriers between them, FINISH at the end."""
        insns: list = []
        for i, seg in enumerate(self.segments):
            if i:
                insns += barrier()
            insns += seg
        return insns + [isa.Finish()]

    def run(self, image: np.ndarray, *, per_layer: bool = False,
            timeout_s: float | None = None) -> NetworkResult:
        """Run one frame (``image``: the integer network input ``[H, W, C]``)."""
        cn, dev = self.compiled, self.device
        dev.write(self.arena, cn.pack("input", image), cn.maps["input"]["offset"])
        runs = []
        maps: dict[str, np.ndarray] = {}

        def read(names):
            for name in names:
                raw = dev.read(self.arena, cn.map_bytes(name), cn.maps[name]["offset"])
                maps[name] = cn.unpack(name, raw)
        if per_layer:
            # each map right after the segment that completes it: later ones may reuse its space
            after: dict[int, list[str]] = {}
            for name in cn.maps:
                r = cn.ready(name)
                after.setdefault(len(cn.segments) - 1 if r is None else r, []).append(name)
            read(after.get(-1, ()))
            for i, (seg, insns) in enumerate(zip(cn.segments, self.segments)):
                runs.append(((seg.name,), dev.run(insns + [isa.Finish()], timeout_s=timeout_s)))
                read(after.get(i, ()))
            maps = {name: maps[name] for name in cn.maps if name in maps}
        else:
            runs.append((tuple(s.name for s in cn.segments), dev.run(self.program(), timeout_s=timeout_s)))
            read(name for name in cn.maps if cn.kept(name))
        if cn.head:
            from ..nn.model import decode
            maps[cn.head["name"]] = decode(maps[cn.output], cn.head["anchors"])
        return NetworkResult(maps, runs)

    def close(self) -> None:
        if self.arena is not None:
            self.device.free(self.arena)
            self.arena = None
