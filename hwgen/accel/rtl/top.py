"""The accelerator top: register file, run control, token counts, buffers, AXI plumbing, and
one component per unit: :class:`~.fetch.Fetch`, a :class:`~.stage.StageControl` per stage
(its instruction queue, token pops and pushes), :class:`~.load.LoadStage`,
:class:`~.compute.ComputeStage` and :class:`~.store.StoreStage`.

Semantics are those of :mod:`hwgen.accel.isa` (the functional simulator :mod:`hwgen.accel.model`
is the reference). Structure:

- ``sync`` domain: the AXI4-Lite register file and the run control (START checks, DONE).
- ``run`` domain: same clock, reset by ``rst`` *and* by START, so every per-run state (fetch,
  stage machines, token counts, instruction queues, DMA engines, counters, error code) starts
  clean, while the on-chip buffers (memories are never reset) keep their contents between runs.
- One AXI4 read channel shared by three burst readers (fetch, load stage, compute stage) and one
  write channel used by the store stage.
- Buffers: uop, inp, wgt, acc as inferred block RAM, read without write-through (every block-RAM
  output goes straight into a register); the store stage reads an *output shadow* of the
  accumulator buffer (every accumulator write also writes its values saturated to
  ``output_width``), so STORE never competes with GEMM/ALU for accumulator reads.
- The accumulator is two banks by index parity, each with one read and one write port (one
  block-RAM copy in all): a GEMM micro-op reads one entry per cycle, an ALU micro-op with a tensor
  operand reads ``acc[dst]`` and ``acc[src]`` in one cycle when their parities differ (one stall
  cycle when they are equal). Every block-RAM output and every arithmetic result is registered:
  a GEMM result is written three cycles after its accumulator read, an ALU result six (operands,
  compute, finish: pick or partial-product sum, then the rounding shift of SHR and MULSHR); the
  pipeline forwards its last four writes to younger reads of the same entry, and an ALU micro-op
  whose operand one of the three ALU micro-ops just ahead still computes waits.
"""
from __future__ import annotations

from amaranth import (Cat, ClockDomain, ClockSignal, DomainRenamer, Module, Mux, ResetSignal,
                      Signal, unsigned)
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import Out

from .. import isa
from ...adders import AdderConfig
from ...errors import ConfigError
from ..config import AccelConfig
from ..isa import ErrorCode, MemType
from .axi import axi4_signature, axil_signature
from .axil import AxiLiteSlave
from .compute import ComputeStage
from .dma import ReadArbiter
from .fetch import Fetch
from .load import LoadStage
from .stage import StageControl
from .store import StoreStage

AXIL_ADDR_WIDTH = (isa.REGMAP_BYTES - 1).bit_length()
QUIET_CYCLES = 4         # cycles of quiescence before a run is declared over


def _log2(x: int) -> int:
    return x.bit_length() - 1


class Accelerator(wiring.Component):
    """The GEMM accelerator for one :class:`~hwgen.accel.config.AccelConfig`.

    Ports: ``s_axil`` (AXI4-Lite control, :data:`hwgen.accel.isa.REGISTERS`), ``m_axi`` (AXI4
    master to DRAM), ``irq`` (high while DONE is set).

    Parameters
    ----------
    config : AccelConfig
    dsp_packing : bool, optional
        Two int8 products per multiplier (one DSP48 on Xilinx parts; see :class:`DotArray`).
        Default: on whenever inputs and weights are 8-bit. Off suits FPGAs whose multipliers are
        18 x 18 (ECP5), where a packed 8 x 25 product needs two of them.
    hard_mults : int, optional
        Budget of GEMM multipliers written as ``*`` (which synthesis maps to DSP blocks; a packed
        pair counts once); the other products are shift-and-add LUT logic, one cycle more GEMM
        latency (see :class:`DotArray`). For FPGAs with fewer multipliers than MACs, e.g.
        ``default`` (256 MACs) on an LFE5U-85F (156 MULT18X18D). The ALU's ``batch * block_out``
        MUL lanes (``acc_width x 16``) are not counted. Default: no limit.
    adder_arch, adder_style : str
        The accumulator adders (GEMM accumulate and ALU ADD, one per lane) come from
        :func:`hwgen.adders.make_adder`: a prefix-graph architecture and ``fpga`` (``a + b``, the
        carry chain; the default) or ``asic`` (explicit prefix logic).
    """

    @staticmethod
    def check_options(config, hard_mults=None, adder_arch="kogge-stone", adder_style="fpga"):
        """Refuse bad generation options (one-line errors) before anything is built; bad adder
        names fail here, not at elaboration."""
        if not isinstance(config, AccelConfig):
            raise TypeError(f"Accelerator needs an AccelConfig, not {type(config).__name__}")
        if hard_mults is not None:
            if not isinstance(hard_mults, int) or isinstance(hard_mults, bool):
                raise TypeError(f"Accelerator hard_mults must be an int or None, not "
                                f"{type(hard_mults).__name__}")
            if hard_mults < 0:
                raise ConfigError(f"Accelerator hard_mults must be at least 0, not {hard_mults}")
        AdderConfig(width=config.acc_width, arch=adder_arch, style=adder_style)

    def __init__(self, config: AccelConfig, *, dsp_packing: bool | None = None,
                 hard_mults: int | None = None, adder_arch: str = "kogge-stone",
                 adder_style: str = "fpga"):
        self.check_options(config, hard_mults, adder_arch, adder_style)
        self.config = config
        self.dsp_packing = dsp_packing
        self.hard_mults = hard_mults
        self.adder_arch, self.adder_style = adder_arch, adder_style
        super().__init__({
            "s_axil": Out(axil_signature(addr_width=AXIL_ADDR_WIDTH)),
            "m_axi": Out(axi4_signature(addr_width=config.dram_addr_width,
                                        data_width=config.axi_data_width)),
            "irq": Out(1),
        })

    # ------------------------------------------------------------------------------------------
    def elaborate(self, platform):
        c = self.config
        m = Module()
        aw = c.dram_addr_width
        B = c.axi_bytes
        LB = _log2(B)
        BW = c.axi_data_width

        # ---- clock domains -------------------------------------------------------------------
        clear = Signal()
        m.domains.run = cd_run = ClockDomain("run", local=True)
        m.d.comb += [cd_run.clk.eq(ClockSignal("sync")), cd_run.rst.eq(ResetSignal("sync") | clear)]

        # ---- register file (sync) ------------------------------------------------------------
        m.submodules.axil = sl = AxiLiteSlave(addr_width=AXIL_ADDR_WIDTH)
        wiring.connect(m, wiring.flipped(self.s_axil), sl.bus)
        reg_insn_addr, reg_insn_count = Signal(32), Signal(32)
        reg_base, reg_limit = Signal(32), Signal(32)
        busy, done = Signal(), Signal()
        starting = Signal()
        R = isa.REG
        with m.If(sl.wr_en):
            with m.Switch(sl.wr_addr):
                with m.Case(R["INSN_ADDR"]):
                    m.d.sync += reg_insn_addr.eq(sl.wr_data)
                with m.Case(R["INSN_COUNT"]):
                    m.d.sync += reg_insn_count.eq(sl.wr_data)
                with m.Case(R["DRAM_BASE"]):
                    m.d.sync += reg_base.eq(sl.wr_data)
                with m.Case(R["DRAM_LIMIT"]):
                    m.d.sync += reg_limit.eq(sl.wr_data)
                with m.Case(R["CTRL"]):
                    with m.If(sl.wr_data[0] & ~busy & ~starting):
                        m.d.comb += clear.eq(1)
                        m.d.sync += [starting.eq(1), done.eq(0)]

        # run copies of the window and program registers
        base = Signal(32)
        limit = Signal(32)
        insn_addr = Signal(32)
        insn_count = Signal(32)
        window = Signal(33)       # DRAM_LIMIT - DRAM_BASE (registered: constant during a run)
        m.d.sync += window.eq(limit - base)

        err_code = Signal(4)
        err_insn = Signal(32, init=isa.NO_INSN)
        err_set = Signal()        # an error has been recorded this run
        fetch_go = Signal()
        running = Signal()

        # START checks (one cycle after the START write, in sync, with the run state cleared)
        bad_start = ((reg_insn_count == 0) | (reg_insn_addr[:4] != 0) | (reg_base[:12] != 0)
                     | (reg_limit <= reg_base))
        if aw < 32:
            bad_start = bad_start | (reg_limit > (1 << aw))
        insn_end = Signal(40)
        m.d.comb += insn_end.eq(reg_insn_addr + (reg_insn_count << 4))
        # the checks are registered every cycle: START is written after the registers it checks
        # (one AXI4-Lite write at a time), so they are current one cycle after the START write
        bad_start_r, bad_window_r = Signal(), Signal()
        m.d.sync += [bad_start_r.eq(bad_start),
                     bad_window_r.eq(insn_end > (reg_limit - reg_base)[:33])]
        start_err = Signal(4)
        with m.If(starting):
            m.d.sync += [starting.eq(0), base.eq(reg_base), limit.eq(reg_limit),
                         insn_addr.eq(reg_insn_addr), insn_count.eq(reg_insn_count)]
            with m.If(bad_start_r):
                m.d.comb += start_err.eq(ErrorCode.BAD_START)
                m.d.sync += done.eq(1)
            with m.Elif(bad_window_r):
                m.d.comb += start_err.eq(ErrorCode.DMA_WINDOW)
                m.d.sync += done.eq(1)
            with m.Else():
                m.d.sync += busy.eq(1)
                m.d.comb += fetch_go.eq(1)
        m.d.comb += running.eq(busy)
        m.d.comb += self.irq.eq(done)

        # ---- counters (run) ------------------------------------------------------------------
        cnt = {name: Signal(32, name=f"cnt_{name}") for name, _e, _d in isa.COUNTERS}
        inc = {name: Signal(32, name=f"inc_{name}") for name in cnt}
        for name in cnt:
            m.d.run += cnt[name].eq(cnt[name] + inc[name])
        m.d.comb += inc["cycles"].eq(busy)

        # ---- the units -----------------------------------------------------------------------
        ren = DomainRenamer("run")
        m.submodules.fetch = fetch = ren(Fetch(c))
        m.submodules.load = load = ren(LoadStage(c))
        m.submodules.compute = comp = ren(ComputeStage(
            c, dsp_packing=self.dsp_packing, hard_mults=self.hard_mults,
            adder_arch=self.adder_arch, adder_style=self.adder_style))
        m.submodules.store = store = ren(StoreStage(c))
        units = {isa.Stage.LOAD: load, isa.Stage.COMPUTE: comp, isa.Stage.STORE: store}
        tq = isa.TokenQueue
        # (pop, push) token queues of each stage towards the previous and the next stage
        sides = {isa.Stage.LOAD: {"next": (tq.C2L, tq.L2C)},
                 isa.Stage.COMPUTE: {"prev": (tq.L2C, tq.C2L), "next": (tq.S2C, tq.C2S)},
                 isa.Stage.STORE: {"prev": (tq.C2S, tq.S2C)}}
        ctl = {}
        for st in isa.Stage:
            name = st.name.lower()
            ctl[st] = ren(StageControl(c, prev="prev" in sides[st], next="next" in sides[st]))
            m.submodules[f"{name}_ctl"] = ctl[st]
            m.d.comb += [units[st].insn.eq(ctl[st].insn), units[st].start.eq(ctl[st].start),
                         ctl[st].done.eq(units[st].done),
                         ctl[st].w_data.eq(fetch.q_data), ctl[st].w_en.eq(fetch.q_en[st]),
                         fetch.q_rdy[st].eq(ctl[st].w_rdy),
                         inc[f"{name}_busy"].eq(ctl[st].busy),
                         inc[f"{name}_insns"].eq(ctl[st].retired),
                         inc[f"{name}_stall"].eq(ctl[st].waiting),
                         units[st].base.eq(base)]
        m.d.comb += [ctl[isa.Stage.COMPUTE].halt.eq(comp.halt),
                     comp.next_insn.eq(ctl[isa.Stage.COMPUTE].head),
                     comp.next_valid.eq(ctl[isa.Stage.COMPUTE].head_valid),
                     inc["insns_fetched"].eq(fetch.fetched), inc["fetch_stall"].eq(fetch.stall),
                     inc["gemm_uops"].eq(comp.gemm_uops), inc["alu_uops"].eq(comp.alu_uops)]
        m.d.comb += [fetch.go.eq(fetch_go), fetch.count.eq(reg_insn_count),
                     fetch.addr.eq(reg_base + reg_insn_addr), fetch.insn_count.eq(insn_count),
                     fetch.window.eq(window)]

        # ---- tokens ----------------------------------------------------------------------------
        tok = {q: Signal(range(c.token_depth + 1), name=f"tok_{q.name.lower()}") for q in tq}
        tok_inc = {q: Signal(name=f"tok_inc_{q.name.lower()}") for q in tq}
        tok_dec = {q: Signal(name=f"tok_dec_{q.name.lower()}") for q in tq}
        for q in tq:
            m.d.run += tok[q].eq(tok[q] + tok_inc[q] - tok_dec[q])
        for st in isa.Stage:
            for side, (pop_q, push_q) in sides[st].items():
                m.d.comb += [getattr(ctl[st], f"{side}_avail").eq(tok[pop_q] != 0),
                             getattr(ctl[st], f"{side}_room").eq(tok[push_q] != c.token_depth),
                             tok_dec[pop_q].eq(getattr(ctl[st], f"{side}_pop")),
                             tok_inc[push_q].eq(getattr(ctl[st], f"{side}_push"))]

        # ---- AXI plumbing ----------------------------------------------------------------------
        m.submodules.arb = arb = ren(ReadArbiter(3, addr_width=aw, data_width=BW))
        a = self.m_axi
        for i, unit in enumerate((fetch, load, comp)):
            m.d.comb += [getattr(arb, f"ar{i}_valid").eq(unit.rd.ar_valid),
                         unit.rd.ar_ready.eq(getattr(arb, f"ar{i}_ready")),
                         getattr(arb, f"ar{i}_addr").eq(unit.rd.ar_addr),
                         getattr(arb, f"ar{i}_len").eq(unit.rd.ar_len),
                         unit.rd.r_valid.eq(getattr(arb, f"r{i}_valid")),
                         unit.rd.r_data.eq(getattr(arb, f"r{i}_data"))]
        w = store.axi
        m.d.comb += [
            a.araddr.eq(arb.araddr), a.arlen.eq(arb.arlen), a.arvalid.eq(arb.arvalid),
            arb.arready.eq(a.arready), arb.rdata.eq(a.rdata), arb.rresp.eq(a.rresp),
            arb.rlast.eq(a.rlast), arb.rvalid.eq(a.rvalid), a.rready.eq(arb.rready),
            a.arsize.eq(LB), a.arburst.eq(1), a.arcache.eq(0b0011), a.arid.eq(0),
            a.awsize.eq(LB), a.awburst.eq(1), a.awcache.eq(0b0011), a.awid.eq(0),
            a.awaddr.eq(w.awaddr), a.awlen.eq(w.awlen), a.awvalid.eq(w.awvalid),
            w.awready.eq(a.awready), a.wdata.eq(w.wdata), a.wstrb.eq(w.wstrb),
            a.wlast.eq(w.wlast), a.wvalid.eq(w.wvalid), w.wready.eq(a.wready),
            w.bresp.eq(a.bresp), w.bvalid.eq(a.bvalid), a.bready.eq(w.bready),
        ]
        m.d.comb += [inc["dram_read_bytes"].eq((load.rd.r_valid + comp.rd.r_valid) << LB),
                     inc["dram_write_bytes"].eq(Mux(a.wvalid & a.wready, B, 0))]

        # ---- buffers: block RAM (memories are never reset), ports to the units -----------------
        def buffer(name, width, depth, lanes):
            # no write-through: a read sees writes of earlier cycles only (no bypass logic after
            # the block RAM; the compute pipeline forwards its own recent writes)
            mem = Memory(shape=unsigned(width), depth=depth, init=[])
            m.submodules[f"{name}_mem"] = mem
            wp = mem.write_port(granularity=width // lanes) if lanes > 1 else mem.write_port()
            rp = mem.read_port()
            return wp, rp

        lanes = {mt: (c.element_bytes[mt.name.lower()] // B) for mt in MemType}
        acc_lanes_n = c.batch * c.block_out
        uop_wp, uop_rp = buffer("uop", isa.UOP_BITS, c.uop_depth, lanes[MemType.UOP])
        inp_wp, inp_rp = buffer("inp", c.batch * c.block_in * c.input_width, c.inp_depth,
                                lanes[MemType.INP])
        wgt_wp, wgt_rp = buffer("wgt", c.block_out * c.block_in * c.weight_width, c.wgt_depth,
                                lanes[MemType.WGT])
        # the accumulator in two banks by index parity (even entries in bank 0): an ALU micro-op
        # reads acc[dst] and acc[src] in one cycle when they lie in different banks
        acc_banks = [buffer(f"acc{k}", acc_lanes_n * c.acc_width, c.acc_depth // 2,
                            lanes[MemType.ACC]) for k in (0, 1)]
        out_wp, out_rp = buffer("out", acc_lanes_n * c.output_width, c.acc_depth,
                                lanes[MemType.ACC])
        wiring.connect(m, load.inp_w, inp_wp)
        wiring.connect(m, load.wgt_w, wgt_wp)
        wiring.connect(m, comp.uop_w, uop_wp)
        wiring.connect(m, comp.uop_r, uop_rp)
        wiring.connect(m, comp.inp_r, inp_rp)
        wiring.connect(m, comp.wgt_r, wgt_rp)
        for k, (wp_, rp_) in enumerate(acc_banks):
            wiring.connect(m, getattr(comp, f"acc{k}_w"), wp_)
            wiring.connect(m, getattr(comp, f"acc{k}_r"), rp_)
        wiring.connect(m, comp.out_w, out_wp)
        wiring.connect(m, store.out_r, out_rp)

        # ---- errors, end of run --------------------------------------------------------------
        all_quiet = Signal()
        m.d.comb += all_quiet.eq(fetch.quiet & Cat(*[ctl[st].quiet for st in isa.Stage]).all()
                                 & load.quiet & comp.quiet & store.idle)
        qcnt = Signal(range(QUIET_CYCLES + 1))
        with m.If(busy & all_quiet):
            m.d.run += qcnt.eq(qcnt + 1)
        with m.Else():
            m.d.run += qcnt.eq(0)
        any_blocked = Cat(fetch.blocked, *[ctl[st].blocked for st in isa.Stage]).any()
        with m.If(~err_set & (fetch.error != 0)):
            m.d.run += [err_set.eq(1), err_code.eq(fetch.error), err_insn.eq(fetch.index)]
        comp_halted = Signal()
        m.d.comb += comp_halted.eq(comp.index_error)
        with m.If(~err_set & (fetch.error == 0) & comp_halted):
            m.d.run += [err_set.eq(1), err_code.eq(ErrorCode.INDEX_RANGE)]
        # A dynamic error (INDEX_RANGE) stops compute only: fetch and the load/store stages go on
        # until quiescent, so how far fetch got does not depend on timing (ISA_CHANGES 06:50).
        with m.If(start_err != 0):
            m.d.run += [err_code.eq(start_err), err_set.eq(1)]
        with m.If(busy & (qcnt == QUIET_CYCLES)):
            m.d.sync += [busy.eq(0), done.eq(1)]
            with m.If(~err_set):
                with m.If(any_blocked):
                    m.d.run += err_code.eq(ErrorCode.DEADLOCK)
                with m.Elif(~fetch.finish_seen):
                    m.d.run += err_code.eq(ErrorCode.NO_FINISH)

        # ---- register reads ------------------------------------------------------------------
        status = Signal(32)
        sb = {f.name: f.lsb for f in isa.STATUS_BITS}
        m.d.comb += [
            status[sb["busy"]].eq(busy | starting), status[sb["done"]].eq(done),
            status[sb["error"]].eq(done & (err_code != 0)),
            status[sb["fetch_blocked"]].eq(fetch.blocked),
            status[sb["load_wait"]].eq(ctl[isa.Stage.LOAD].waiting),
            status[sb["compute_wait"]].eq(ctl[isa.Stage.COMPUTE].waiting),
            status[sb["store_wait"]].eq(ctl[isa.Stage.STORE].waiting),
            status[sb["load_active"]].eq(ctl[isa.Stage.LOAD].active),
            status[sb["compute_active"]].eq(ctl[isa.Stage.COMPUTE].active),
            status[sb["store_active"]].eq(ctl[isa.Stage.STORE].active),
        ]
        tokens_reg = Cat(*[Mux(tok[q] > 255, 255, tok[q])[:8] for q in tq])
        with m.Switch(sl.rd_addr):
            with m.Case(R["STATUS"]):
                m.d.comb += sl.rd_data.eq(status)
            with m.Case(R["ERR_CODE"]):
                m.d.comb += sl.rd_data.eq(err_code)
            with m.Case(R["ERR_INSN"]):
                m.d.comb += sl.rd_data.eq(err_insn)
            with m.Case(R["INSN_ADDR"]):
                m.d.comb += sl.rd_data.eq(reg_insn_addr)
            with m.Case(R["INSN_COUNT"]):
                m.d.comb += sl.rd_data.eq(reg_insn_count)
            with m.Case(R["DRAM_BASE"]):
                m.d.comb += sl.rd_data.eq(reg_base)
            with m.Case(R["DRAM_LIMIT"]):
                m.d.comb += sl.rd_data.eq(reg_limit)
            with m.Case(R["HW_ID"]):
                m.d.comb += sl.rd_data.eq(isa.HW_ID)
            with m.Case(R["CFG_ID"]):
                m.d.comb += sl.rd_data.eq(isa.cfg_id(c))
            with m.Case(R["TOKENS"]):
                m.d.comb += sl.rd_data.eq(tokens_reg)
            for name, _e, _d in isa.COUNTERS:
                with m.Case(R[name.upper()]):
                    m.d.comb += sl.rd_data.eq(cnt[name])
        return m
