"""``compile_network``: a quantized network -> a :class:`~hwgen.runtime.network.CompiledNetwork`
for one accelerator configuration.

Steps: fit the requantization to the accumulators (:func:`hwgen.compiler.quant.fit_accumulator`),
lower to jobs (:mod:`hwgen.compiler.lower`), tile and emit each job (:mod:`hwgen.compiler.schedule`)
into an arena laid out at address 0 (feature maps first, then each job's weights, constants and
micro-ops), checking every instruction as fetch will.
"""
from __future__ import annotations

import numpy as np

from ..accel.config import AccelConfig
from ..accel.isa import Opcode
from ..errors import ModelError
from ..nn.quantize import QuantNetwork
from ..runtime.device import Device
from ..runtime.network import INT_DTYPE, CompiledNetwork, Segment
from ..runtime.program import Program
from .lower import lower
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


def compile_network(qnet: QuantNetwork, config: AccelConfig, *, fit: bool = True) -> tuple[CompiledNetwork, QuantNetwork]:
    """Compile ``qnet`` for ``config``; returns the compiled network and the quantized network it
    computes bit-exactly (``qnet`` fitted to the accumulators when ``fit``, else ``qnet`` after
    :func:`~hwgen.compiler.quant.check_accumulator`)."""
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
    offset: dict[str, int] = {}

    def map_offset(name: str) -> int:
        if name not in offset:
            m = maps[name]
            if m.parent is None:
                offset[name] = dev.place(m.planes * m.h * m.w * eb)
            else:
                offset[name] = map_offset(m.parent) + m.plane0 * m.h * m.w * eb
        return offset[name]
    for name in maps:
        map_offset(name)

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
    head = None
    out_layer = net.output
    if out_layer.kind == "head":
        head = {"name": out_layer.name, "anchors": out_layer.anchors}
        output = net.inputs_of(out_layer)[0]
    else:
        output = out_layer.name
    mapinfo = {name: {"offset": offset[name], "planes": m.planes, "h": m.h, "w": m.w,
                      "channels": list(m.channels), "pack": m.pack} for name, m in maps.items()}
    refitted = sorted(n for n, qc in qnet.convs.items()
                      if not np.array_equal(qc.multiplier, given.convs[n].multiplier))
    change = max((float(np.max(np.abs(_scale(qnet.convs[n]) / _scale(given.convs[n]) - 1)))
                  for n in refitted), default=0.0)
    info = {"acc_width": config.acc_width, "layers": len(net.layers), "jobs": len(jobs),
            "refitted_layers": refitted, "max_scale_change": change,
            "output": output_info(qnet)}
    cn = CompiledNetwork(config, net.to_dict(), mapinfo, segments, bytes(dev.mem), output, head, info)
    return cn, qnet


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
