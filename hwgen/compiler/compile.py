"""``compile_network``: a quantized network -> a :class:`~hwgen.runtime.network.CompiledNetwork`
for one accelerator configuration.

Steps: fit the requantization to the accumulators (:func:`hwgen.compiler.quant.fit_accumulator`),
lower to jobs (:mod:`hwgen.compiler.lower`), tile and emit each job (:mod:`hwgen.compiler.schedule`)
into an arena laid out at address 0 (feature maps first, then each job's weights, constants and
micro-ops), checking every instruction as fetch will.

Feature maps: each buffer (a map, or a concat with the slices its inputs write in place) lives
from the job that first writes it to the last job that reads it (:func:`map_lifetimes`; the
network input from before the run, the output to after it). With ``keep_maps`` every buffer has
its own space; otherwise buffers whose lifetimes do not overlap share space (:func:`reuse_layout`,
first fit, largest first): jobs run in order with a store -> compute -> load barrier between
them, so a job may overwrite what only earlier jobs read. Weights, constants and micro-ops are
never shared.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..accel.config import AccelConfig
from ..accel.isa import Opcode
from ..errors import ModelError
from ..nn.quantize import QuantNetwork
from ..runtime.device import Device
from ..runtime.network import INT_DTYPE, CompiledNetwork, Segment
from ..runtime.program import Program
from .lower import Job, MapLayout, lower
from .quant import check_accumulator, fit_accumulator
from .schedule import consts_array, emit, packed_weights, plan_job

class ArenaDevice(Device):
    """Compile-time memory: a window at address 0 that grows as buffers are placed; never runs."""

    name = "arena"

    def __init__(self, config: AccelConfig):
        super().__init__(config, 0, (1 << config.dram_addr_width) - 4096)
        # offsets inside the arena only need element alignment: the runner places the arena itself
        # at a 4 KiB boundary
        self.align = max(config.element_bytes.values())
        self.mem = bytearray()

    def _mem_write(self, addr: int, data: np.ndarray) -> None:
        end = addr + data.size
        if end > len(self.mem):
            self.mem.extend(bytes(end - len(self.mem)))
        self.mem[addr:end] = data.tobytes()

    def _mem_read(self, addr: int, nbytes: int) -> np.ndarray:
        return np.frombuffer(bytes(self.mem[addr:addr + nbytes]), dtype=np.uint8).copy()

    def _execute(self, insn_offset, insn_count, timeout_s):
        raise ModelError("the compile-time arena cannot run programs")

    def place(self, data) -> int:
        """A new buffer holding ``data`` (bytes, an array's raw bytes, or an int: that many zero
        bytes); its byte offset in the arena."""
        raw = bytes(data) if isinstance(data, int) else \
            np.ascontiguousarray(data).view(np.uint8).reshape(-1).tobytes()
        buf = self.alloc(max(len(raw), 1))
        self.write(buf, raw or b"\0")
        return buf.offset


def compile_network(qnet: QuantNetwork, config: AccelConfig, *, fit: bool = True,
                    keep_maps: bool = True) -> tuple[CompiledNetwork, QuantNetwork]:
    """Compile ``qnet`` for ``config``; returns the compiled network and the quantized network it
    computes bit-exactly (``qnet`` fitted to the accumulators when ``fit``, else ``qnet`` after
    :func:`~hwgen.compiler.quant.check_accumulator`).

    ``keep_maps``: every feature map in its own space (all of them can be read back after a run);
    False: maps whose lifetimes do not overlap share space (:func:`reuse_layout`), and a map can be
    read back right after the job that completes it (``ready``) or, when it is ``kept``, after the
    run. The Python default keeps every map (callers that compare every map after one fused run);
    ``hwgen accel compile`` reuses unless given ``--keep-maps``."""
    if not isinstance(config, AccelConfig):
        raise TypeError(f"compile_network needs an AccelConfig, not {type(config).__name__}")
    given = qnet
    if fit:
        qnet = fit_accumulator(qnet, config.acc_width)
    else:
        check_accumulator(qnet, config.acc_width)
    net = qnet.net
    maps, jobs = lower(qnet, config)
    dev = ArenaDevice(config)
    eb = config.out_elem_bytes
    out_layer = net.output
    output = net.inputs_of(out_layer)[0] if out_layer.kind == "head" else out_layer.name
    lives, ready = map_lifetimes(maps, jobs, output, eb)
    if keep_maps:
        base = {}
        for root in lives:
            base[root] = dev.place(lives[root].nbytes)
    else:
        region, base = reuse_layout(lives, dev.align)
        at = dev.place(region)
        base = {root: at + off for root, off in base.items()}
    offset = {name: base[root_of(maps, name)] + plane_offset(maps, name, eb) for name in maps}

    segments = []
    wdt = INT_DTYPE[config.weight_width]
    for job in jobs:
        plan = plan_job(job, config)
        wgt_elem = {}
        for key, blocks in packed_weights(plan).items():
            wgt_elem[key] = dev.place(blocks.astype(wdt)) // config.wgt_elem_bytes
        const_elem = None
        if any(a.imm is None for a in plan.alu_ops):
            const_elem = dev.place(consts_array(job, config).astype(INT_DTYPE[config.acc_width])) \
                // config.acc_elem_bytes
        p = Program(dev)
        ie = config.inp_elem_bytes
        plane_elem = [offset[m] // ie + pl * job.h * job.w * (eb // ie) for m, pl in job.inputs] \
            if job.inputs else None
        emit(plan, p, config, src_elem=offset[job.src] // ie, dst_elem=offset[job.dst] // eb,
             wgt_elem=wgt_elem, const_elem=const_elem, plane_elem=plane_elem)
        insns = p.finalize()
        fin = insns[-1]
        if fin.opcode != Opcode.FINISH or any(getattr(fin, f) for f in ("pop_prev", "pop_next",
                                                                         "push_prev", "push_next")):
            raise ModelError(f"internal: job {job.name} does not end in a plain FINISH")
        segments.append(Segment(job.name, job.kind, job.layers, job.dst, insns[:-1], job.macs,
                                plan.est_cycles,
                                {"groups": len(plan.groups), "planes_per_group": plan.g,
                                 "planes_per_chunk": plan.q, "rows_per_tile": plan.th,
                                 "cols_per_tile": plan.tw}))
    head = {"name": out_layer.name, "anchors": out_layer.anchors} if out_layer.kind == "head" else None
    kept = kept_roots(lives, base)
    mapinfo = {name: {"offset": offset[name], "planes": m.planes, "h": m.h, "w": m.w,
                      "channels": list(m.channels), "pack": m.pack, "ready": ready[name],
                      "kept": root_of(maps, name) in kept} for name, m in maps.items()}
    refitted = sorted(n for n, qc in qnet.convs.items()
                      if not np.array_equal(qc.multiplier, given.convs[n].multiplier))
    change = max((float(np.max(np.abs(_scale(qnet.convs[n]) / _scale(given.convs[n]) - 1)))
                  for n in refitted), default=0.0)
    info = {"acc_width": config.acc_width, "layers": len(net.layers), "jobs": len(jobs),
            "refitted_layers": refitted, "max_scale_change": change,
            "output": output_info(qnet), "keep_maps": keep_maps,
            "maps_bytes": _span(lives, base, dev.align),
            "maps_bytes_kept": sum(_up(lv.nbytes, dev.align) for lv in lives.values())}
    cn = CompiledNetwork(config, net.to_dict(), mapinfo, segments, bytes(dev.mem), output, head, info)
    return cn, qnet


@dataclass
class Lifetime:
    """A feature-map buffer of its own (a map without a parent, with its concat slices) and the jobs
    that use it: ``first`` writes into it first (-1: the network input, written before the run),
    ``ready`` completes it, ``last`` reads it last (the job count: the network's output, read after
    the run). Two buffers may share bytes when ``[first, last]`` do not overlap: jobs run in order
    with a store -> compute -> load barrier between them."""
    nbytes: int
    first: int
    ready: int
    last: int

    def overlaps(self, other: "Lifetime") -> bool:
        return self.first <= other.last and other.first <= self.last


def root_of(maps: dict[str, MapLayout], name: str) -> str:
    """The buffer a map lives in: itself, or the outermost concat holding its slice."""
    while maps[name].parent is not None:
        name = maps[name].parent
    return name


def plane_offset(maps: dict[str, MapLayout], name: str, elem_bytes: int) -> int:
    """Byte offset of map ``name`` inside its buffer (nested concat slices add up)."""
    off = 0
    while maps[name].parent is not None:
        m = maps[name]
        off += m.plane0 * m.h * m.w * elem_bytes
        name = m.parent
    return off


def map_lifetimes(maps: dict[str, MapLayout], jobs: list[Job], output: str,
                  elem_bytes: int) -> tuple[dict[str, Lifetime], dict[str, int]]:
    """Each buffer's :class:`Lifetime` (in ``maps`` order) and each map's ``ready``: the job after
    which its values are all written (-1 for the network input; a concat is ready when its last
    slice is)."""
    ready = {name: -1 for name in maps}
    first: dict[str, int] = {"input": -1}
    last: dict[str, int] = {}
    for j, job in enumerate(jobs):
        name = job.dst
        while name is not None:                  # the map, and every concat holding it
            ready[name] = j
            name = maps[name].parent
        first.setdefault(root_of(maps, job.dst), j)
        for src in {job.src, *(m for m, _p in job.inputs)}:
            last[root_of(maps, src)] = j
    last[root_of(maps, output)] = len(jobs)
    lives = {}
    for name in maps:                  # buffers in the order their first map appears
        r = root_of(maps, name)
        if r not in lives:
            m, f = maps[r], first.get(r, -1)
            lives[r] = Lifetime(m.planes * m.h * m.w * elem_bytes, f, ready[r], max(last.get(r, f), ready[r]))
    return lives, ready


def reuse_layout(lives: dict[str, Lifetime], align: int) -> tuple[int, dict[str, int]]:
    """Offsets (multiples of ``align``) for the buffers such that two whose lifetimes overlap never
    share a byte: largest first, each at the lowest offset clear of the placed ones it overlaps
    in time (deterministic: ties by first use, then name). Returns the region's size and offsets."""
    order = sorted(lives, key=lambda n: (-lives[n].nbytes, lives[n].first, n))
    at: dict[str, int] = {}
    for name in order:
        size = _up(lives[name].nbytes, align)
        busy = sorted((at[o], at[o] + _up(lives[o].nbytes, align)) for o in at
                      if lives[o].overlaps(lives[name]))
        off = 0
        for lo, hi in busy:
            if off + size <= lo:
                break
            off = max(off, hi)
        at[name] = off
    region = max((at[n] + _up(lives[n].nbytes, align) for n in at), default=0)
    return region, {n: at[n] for n in lives}


def kept_roots(lives: dict[str, Lifetime], base: dict[str, int]) -> set[str]:
    """The buffers whose bytes no later buffer overwrites: still readable after a run."""
    def clash(a: str, b: str) -> bool:
        return base[a] < base[b] + lives[b].nbytes and base[b] < base[a] + lives[a].nbytes
    return {r for r in lives if not any(o != r and lives[o].first > lives[r].last and clash(r, o)
                                        for o in lives)}


def _up(n: int, align: int) -> int:
    return -(-n // align) * align


def _span(lives: dict[str, Lifetime], base: dict[str, int], align: int) -> int:
    if not lives:
        return 0
    return max(base[r] + _up(lv.nbytes, align) for r, lv in lives.items()) - min(base.values())


def output_info(qnet: QuantNetwork) -> dict:
    """What the network's result is: ``kind`` ``"head"`` (a decoded detection record),
    ``"classifier"`` (a ``1 x 1 x classes`` map of logits, e.g. a 1x1 conv after a global pool:
    the top-1 class is its argmax) or ``"map"`` (a feature map); ``name`` and ``shape`` of the
    layer whose output that is."""
    out = qnet.net.output
    shape = list(qnet.net.shape(out.name))
    if out.kind == "head":
        kind = "head"
    elif shape[:2] == [1, 1] and shape[2] >= 2:
        kind = "classifier"
    else:
        kind = "map"
    return {"name": out.name, "kind": kind, "shape": shape}


def _scale(qc) -> np.ndarray:
    """Each output channel's requantization scale ``multiplier / 2**shift``."""
    return np.asarray(qc.multiplier, np.float64) / np.exp2(np.asarray(qc.shift, np.float64))
