"""The accelerator's load stage: LOAD of inputs and weights from DRAM into their buffers."""
from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out

from .. import isa
from ..config import AccelConfig
from ..isa import MemType
from .stage import LoadEngine, lane_en, read_request_signature


def buffer_write_signature(width: int, depth: int, lanes: int) -> wiring.Signature:
    """A buffer's write port as seen by the unit that writes it (``lanes`` write-enable bits)."""
    return WritePort.Signature(addr_width=(depth - 1).bit_length(), shape=width,
                               granularity=width // lanes if lanes > 1 else None).flip()


class LoadStage(wiring.Component):
    """Executes LOAD INP / LOAD WGT (2D strided, zero padding) into the input and weight buffers.

    Attributes
    ----------
    insn, start, done : from / to its :class:`~hwgen.accel.rtl.stage.StageControl`
    base : DRAM_BASE of the run
    rd, quiet : to the read arbiter; nothing in flight
    inp_w, wgt_w : the buffers' write ports
    """

    def __init__(self, config: AccelConfig):
        self.config = c = config
        lanes = {t: c.element_bytes[t.name.lower()] // c.axi_bytes for t in MemType}
        self.lanes = lanes
        super().__init__({
            "insn": In(isa.INSN_BITS), "start": In(1), "done": Out(1), "base": In(32),
            "rd": Out(read_request_signature(c.dram_addr_width, c.axi_data_width)),
            "quiet": Out(1),
            "inp_w": Out(buffer_write_signature(c.batch * c.block_in * c.input_width,
                                                c.inp_depth, lanes[MemType.INP])),
            "wgt_w": Out(buffer_write_signature(c.block_out * c.block_in * c.weight_width,
                                                c.wgt_depth, lanes[MemType.WGT])),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = eng = LoadEngine(self.config)
        wiring.connect(m, wiring.flipped(self.rd), eng.rd)
        m.d.comb += [eng.insn.eq(self.insn), eng.start.eq(self.start), eng.base.eq(self.base),
                     self.quiet.eq(eng.quiet)]
        for t, wp in ((MemType.INP, self.inp_w), (MemType.WGT, self.wgt_w)):
            nl = self.lanes[t]
            m.d.comb += [wp.addr.eq(eng.w_addr),
                         wp.data.eq(eng.w_data.replicate(nl) if nl > 1 else eng.w_data)]
            with m.If(eng.w_en & (eng.w_mem_type == t)):
                m.d.comb += wp.en.eq(lane_en(eng.w_lane, nl, eng.w_pad))
        m.d.comb += self.done.eq(~self.start & ~eng.busy)
        return m
