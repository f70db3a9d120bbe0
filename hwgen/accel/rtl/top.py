"""The accelerator top: register file, fetch, load / compute / store stages, token queues.

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
  a GEMM result is written three cycles after its accumulator read, an ALU result five (operands,
  compute, MUL partial-product sum); the pipeline forwards its last four writes to younger reads
  of the same entry, and an ALU micro-op whose operand one of the two ALU micro-ops just ahead
  still computes waits.
"""
from __future__ import annotations

from amaranth import (Cat, ClockDomain, ClockSignal, Const, DomainRenamer, Module, Mux,
                      ResetSignal, Signal, signed, unsigned)
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import Out

from .. import isa
from ...adders import AdderConfig, make_adder
from ...errors import ConfigError
from ..config import AccelConfig
from ..isa import AluOp, ErrorCode, MemType, Opcode
from .axi import axi4_signature, axil_signature
from .axil import AxiLiteSlave
from .decode import fields
from .dma import BurstReader, BurstWriter, ReadArbiter
from .gemm import DotArray

AXIL_ADDR_WIDTH = (isa.REGMAP_BYTES - 1).bit_length()
FETCH_CHUNK = 8          # instructions per fetch read command
QUIET_CYCLES = 4         # cycles of quiescence before a run is declared over


def _log2(x: int) -> int:
    return x.bit_length() - 1


def _sat(m: Module, value, width: int):
    """Clamp a signed value to ``width`` signed bits."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    return Mux(value > hi, hi, Mux(value < lo, lo, value))[:width]


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

    def __init__(self, config: AccelConfig, *, dsp_packing: bool | None = None,
                 hard_mults: int | None = None, adder_arch: str = "kogge-stone",
                 adder_style: str = "fpga"):
        if not isinstance(config, AccelConfig):
            raise TypeError(f"Accelerator needs an AccelConfig, not {type(config).__name__}")
        if hard_mults is not None:
            if not isinstance(hard_mults, int) or isinstance(hard_mults, bool):
                raise TypeError(f"Accelerator hard_mults must be an int or None, not "
                                f"{type(hard_mults).__name__}")
            if hard_mults < 0:
                raise ConfigError(f"Accelerator hard_mults must be at least 0, not {hard_mults}")
        self.config = config
        self.dsp_packing = dsp_packing
        self.hard_mults = hard_mults
        # checked here (a bad name fails at construction, not at elaboration)
        AdderConfig(width=config.acc_width, arch=adder_arch, style=adder_style)
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
        eb_log2 = {mt: _log2(c.element_bytes[mt.name.lower()]) for mt in MemType}

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

        # ---- AXI plumbing --------------------------------------------------------------------
        rd_fetch = BurstReader(addr_width=aw, data_width=BW, beats_width=28)
        rd_load = BurstReader(addr_width=aw, data_width=BW, beats_width=28)
        rd_comp = BurstReader(addr_width=aw, data_width=BW, beats_width=28)
        arb = ReadArbiter(3, addr_width=aw, data_width=BW)
        wr = BurstWriter(addr_width=aw, data_width=BW, beats_width=28)
        ren = DomainRenamer("run")
        m.submodules.rd_fetch = ren(rd_fetch)
        m.submodules.rd_load = ren(rd_load)
        m.submodules.rd_comp = ren(rd_comp)
        m.submodules.arb = ren(arb)
        m.submodules.wr = ren(wr)
        a = self.m_axi
        for i, rd in enumerate((rd_fetch, rd_load, rd_comp)):
            m.d.comb += [getattr(arb, f"ar{i}_valid").eq(rd.ar_valid),
                         rd.ar_ready.eq(getattr(arb, f"ar{i}_ready")),
                         getattr(arb, f"ar{i}_addr").eq(rd.ar_addr),
                         getattr(arb, f"ar{i}_len").eq(rd.ar_len),
                         rd.r_valid.eq(getattr(arb, f"r{i}_valid")),
                         rd.r_data.eq(getattr(arb, f"r{i}_data"))]
        m.d.comb += [
            a.araddr.eq(arb.araddr), a.arlen.eq(arb.arlen), a.arvalid.eq(arb.arvalid),
            arb.arready.eq(a.arready), arb.rdata.eq(a.rdata), arb.rresp.eq(a.rresp),
            arb.rlast.eq(a.rlast), arb.rvalid.eq(a.rvalid), a.rready.eq(arb.rready),
            a.arsize.eq(LB), a.arburst.eq(1), a.arcache.eq(0b0011), a.arid.eq(0),
            a.awsize.eq(LB), a.awburst.eq(1), a.awcache.eq(0b0011), a.awid.eq(0),
            a.awaddr.eq(wr.awaddr), a.awlen.eq(wr.awlen), a.awvalid.eq(wr.awvalid),
            wr.awready.eq(a.awready), a.wdata.eq(wr.wdata), a.wstrb.eq(wr.wstrb),
            a.wlast.eq(wr.wlast), a.wvalid.eq(wr.wvalid), wr.wready.eq(a.wready),
            wr.bresp.eq(a.bresp), wr.bvalid.eq(a.bvalid), a.bready.eq(wr.bready),
        ]
        m.d.comb += [inc["dram_read_bytes"].eq((rd_load.r_valid + rd_comp.r_valid) << LB),
                     inc["dram_write_bytes"].eq(Mux(a.wvalid & a.wready, B, 0))]

        # ---- buffers -------------------------------------------------------------------------
        def buffer(name, width, depth, lanes):
            # no write-through: a read sees writes of earlier cycles only (no bypass logic after
            # the block RAM; the compute pipeline forwards its own recent writes)
            mem = Memory(shape=unsigned(width), depth=depth, init=[])
            m.submodules[f"{name}_mem"] = mem
            wp = mem.write_port(granularity=width // lanes) if lanes > 1 else mem.write_port()
            rp = mem.read_port()
            return wp, rp

        lanes = {mt: (c.element_bytes[mt.name.lower()] // B) for mt in MemType}
        uop_w = isa.UOP_BITS
        inp_w = c.batch * c.block_in * c.input_width
        wgt_w = c.block_out * c.block_in * c.weight_width
        acc_lanes_n = c.batch * c.block_out
        acc_w = acc_lanes_n * c.acc_width
        out_w = acc_lanes_n * c.output_width
        uop_wp, uop_rp = buffer("uop", uop_w, c.uop_depth, lanes[MemType.UOP])
        inp_wp, inp_rp = buffer("inp", inp_w, c.inp_depth, lanes[MemType.INP])
        wgt_wp, wgt_rp = buffer("wgt", wgt_w, c.wgt_depth, lanes[MemType.WGT])
        # the accumulator in two banks by index parity (even entries in bank 0): an ALU micro-op
        # reads acc[dst] and acc[src] in one cycle when they lie in different banks
        acc_banks = [buffer(f"acc{k}", acc_w, c.acc_depth // 2, lanes[MemType.ACC]) for k in (0, 1)]
        out_wp, out_rp = buffer("out", out_w, c.acc_depth, lanes[MemType.ACC])

        def lane_en(lane, n, all_lanes):
            if n == 1:
                return Const(1, 1)
            return Mux(all_lanes, (1 << n) - 1, (Const(1, n) << lane[:_log2(n)])[:n])

        # ---- instruction queues and tokens ---------------------------------------------------
        qd = c.insn_queue_depth
        queues = {}
        for st in isa.Stage:
            q = SyncFIFO(width=isa.INSN_BITS, depth=qd)
            m.submodules[f"q_{st.name.lower()}"] = ren(q)
            queues[st] = q
        tq = isa.TokenQueue
        tok = {q: Signal(range(c.token_depth + 1), name=f"tok_{q.name.lower()}") for q in tq}
        tok_inc = {q: Signal(name=f"tok_inc_{q.name.lower()}") for q in tq}
        tok_dec = {q: Signal(name=f"tok_dec_{q.name.lower()}") for q in tq}
        for q in tq:
            m.d.run += tok[q].eq(tok[q] + tok_inc[q] - tok_dec[q])

        # ---- fetch ---------------------------------------------------------------------------
        beats_per_insn = isa.INSN_BYTES // B
        f_word = Signal(isa.INSN_BITS)
        f_beat = Signal(range(beats_per_insn + 1))
        f_index = Signal(32)           # index of the instruction being checked / dispatched
        f_req_left = Signal(32)        # instructions not yet requested
        f_req_addr = Signal(aw)
        f_stopped = Signal()
        f_active = Signal()
        finish_seen = Signal()
        f_blocked = Signal()
        f_error = Signal(4)
        f_code = Signal(4)
        f_target = Signal(2)
        with m.If(fetch_go):
            m.d.run += [f_active.eq(1), f_req_left.eq(reg_insn_count),
                    f_req_addr.eq(reg_base + reg_insn_addr)]
        # read commands, one chunk at a time
        chunk = Signal(32)
        m.d.comb += chunk.eq(Mux(f_req_left > FETCH_CHUNK, FETCH_CHUNK, f_req_left))
        m.d.comb += [rd_fetch.cmd_valid.eq(f_active & ~f_stopped & (f_req_left != 0)),
                     rd_fetch.cmd_addr.eq(f_req_addr),
                     rd_fetch.cmd_beats.eq(chunk * beats_per_insn)]
        with m.If(rd_fetch.cmd_valid & rd_fetch.cmd_ready):
            m.d.run += [f_req_left.eq(f_req_left - chunk),
                    f_req_addr.eq(f_req_addr + (chunk << 4))]

        # static checks of the assembled word
        ins = {fmt: fields(f_word, fmt) for fmt in ("LOAD", "GEMM", "ALU")}
        L = ins["LOAD"]
        op = f_word[:3]
        is_mem = (op == Opcode.LOAD) | (op == Opcode.STORE)
        mt = L["mem_type"]
        to_load_stage = (op == Opcode.LOAD) & ((mt == MemType.INP) | (mt == MemType.WGT))
        to_store_stage = op == Opcode.STORE
        prod_y = Signal(33)     # (y_size - 1) * x_stride
        prod_e = Signal(42)     # rows * cols
        elog = Signal(4)
        with m.Switch(Mux(op == Opcode.STORE, MemType.OUT, mt)):
            for t in MemType:
                with m.Case(t):
                    m.d.comb += elog.eq(eb_log2[t])
        # the checks take four registered steps (PRE, MUL, SUM, CHECK): one adder, multiplier or
        # compare per cycle
        rows, cols, ym1 = Signal(17), Signal(17), Signal(16)
        depth_sel = Signal(17)
        with m.Switch(mt):
            for t, d in ((MemType.UOP, c.uop_depth), (MemType.INP, c.inp_depth),
                         (MemType.WGT, c.wgt_depth), (MemType.ACC, c.acc_depth),
                         (MemType.OUT, c.acc_depth)):
                with m.Case(t):
                    m.d.comb += depth_sel.eq(d)
        end_elems = Signal(36)
        m.d.comb += end_elems.eq(L["dram_base"] + prod_y + L["x_size"])
        end_bytes = Signal(50)
        sram_end = Signal(43)
        pads_any = Cat(L["y_pad0"], L["y_pad1"], L["x_pad0"], L["x_pad1"]).any()
        with m.If(op >= 5):
            m.d.comb += f_code.eq(ErrorCode.ILLEGAL_OPCODE)
        with m.Elif((op == Opcode.LOAD) & (mt > MemType.ACC)):
            m.d.comb += f_code.eq(ErrorCode.ILLEGAL_INSN)
        with m.Elif((op == Opcode.STORE) & (mt != MemType.OUT)):
            m.d.comb += f_code.eq(ErrorCode.ILLEGAL_INSN)
        with m.Elif(to_load_stage & (L["pop_prev"] | L["push_prev"])):
            m.d.comb += f_code.eq(ErrorCode.ILLEGAL_INSN)
        with m.Elif(to_store_stage & (L["pop_next"] | L["push_next"])):
            m.d.comb += f_code.eq(ErrorCode.ILLEGAL_INSN)
        with m.Elif(is_mem):
            with m.If(pads_any & ((op == Opcode.STORE) | (mt == MemType.UOP))):
                m.d.comb += f_code.eq(ErrorCode.ILLEGAL_INSN)
            with m.Elif((op == Opcode.STORE) & (L["y_size"] > 1) & (L["x_stride"] < L["x_size"])):
                m.d.comb += f_code.eq(ErrorCode.ILLEGAL_INSN)
            with m.Elif((L["y_size"] == 0) | (L["x_size"] == 0)):
                m.d.comb += f_code.eq(ErrorCode.OK)
            with m.Elif(end_bytes > window):
                m.d.comb += f_code.eq(ErrorCode.DMA_WINDOW)
            with m.Elif(sram_end > depth_sel):
                m.d.comb += f_code.eq(ErrorCode.SRAM_RANGE)
        with m.Elif((op == Opcode.GEMM) | (op == Opcode.ALU)):
            G = ins["GEMM"]
            with m.If((op == Opcode.ALU) & (ins["ALU"]["alu_op"] > AluOp.CLIP)):
                m.d.comb += f_code.eq(ErrorCode.ILLEGAL_INSN)
            with m.Elif((G["uop_begin"] > G["uop_end"]) | (G["uop_end"] > c.uop_depth)):
                m.d.comb += f_code.eq(ErrorCode.UOP_RANGE)
        m.d.comb += f_target.eq(Mux(to_load_stage, isa.Stage.LOAD,
                                    Mux(to_store_stage, isa.Stage.STORE, isa.Stage.COMPUTE)))
        f_room = Signal()
        with m.Switch(f_target):
            for st in isa.Stage:
                with m.Case(st):
                    m.d.comb += f_room.eq(queues[st].w_rdy)
                    m.d.comb += queues[st].w_data.eq(f_word)
        m.d.comb += rd_fetch.out_ready.eq(0)
        with m.FSM(domain="run", name="fetch"):
            with m.State("IDLE"):
                with m.If(fetch_go):
                    m.next = "READ"
            with m.State("READ"):
                with m.If(f_stopped):
                    m.next = "DRAIN"
                with m.Else():
                    m.d.comb += rd_fetch.out_ready.eq(1)
                    with m.If(rd_fetch.out_valid):
                        m.d.run += [f_word.eq(Cat(f_word[BW:], rd_fetch.out_data)),
                                f_beat.eq(f_beat + 1)]
                        with m.If(f_beat == beats_per_insn - 1):
                            m.d.run += f_beat.eq(0)
                            m.next = "PRE"
            with m.State("PRE"):
                m.d.run += [rows.eq(L["y_pad0"] + L["y_size"] + L["y_pad1"]),
                            cols.eq(L["x_pad0"] + L["x_size"] + L["x_pad1"]),
                            ym1.eq(L["y_size"] - 1)]
                m.next = "MUL"
            with m.State("MUL"):
                m.d.run += [prod_y.eq(ym1 * L["x_stride"]), prod_e.eq(rows * cols)]
                m.next = "SUM"
            with m.State("SUM"):
                m.d.run += [end_bytes.eq(end_elems << elog), sram_end.eq(L["sram_base"] + prod_e)]
                m.next = "CHECK"
            with m.State("CHECK"):
                with m.If(f_stopped):
                    m.next = "DRAIN"
                with m.Elif(f_code != 0):
                    m.d.run += [f_stopped.eq(1), f_error.eq(f_code)]
                    m.next = "DRAIN"
                with m.Else():
                    m.next = "DISPATCH"
            with m.State("DISPATCH"):
                with m.If(f_stopped):
                    m.next = "DRAIN"
                with m.Elif(f_room):
                    with m.Switch(f_target):
                        for st in isa.Stage:
                            with m.Case(st):
                                m.d.comb += queues[st].w_en.eq(1)
                    m.d.comb += inc["insns_fetched"].eq(1)
                    m.d.run += f_index.eq(f_index + 1)
                    with m.If(op == Opcode.FINISH):
                        m.d.run += [f_stopped.eq(1), finish_seen.eq(1)]
                        m.next = "DRAIN"
                    with m.Elif(f_index + 1 == insn_count):
                        m.d.run += f_stopped.eq(1)
                        m.next = "DRAIN"
                    with m.Else():
                        m.next = "READ"
                with m.Else():
                    m.d.comb += [f_blocked.eq(1), inc["fetch_stall"].eq(1)]
            with m.State("DRAIN"):
                m.d.comb += rd_fetch.out_ready.eq(1)
        fetch_quiet = Signal()
        m.d.comb += fetch_quiet.eq(~f_active | (f_stopped & rd_fetch.idle)
                                   | (f_blocked & rd_fetch.quiet))

        # ---- stage template ------------------------------------------------------------------
        stage_state = {}

        def stage(st: isa.Stage, name: str, prev_q, next_q, execute):
            """Instruction FSM of one stage: take, pop tokens, execute, push tokens, retire.

            ``execute(cur, first)`` adds the EXEC logic and returns ``(done, halt)`` signals."""
            q = queues[st]
            cur = Signal(isa.INSN_BITS, name=f"{name}_cur")
            F = fields(cur, "FINISH")
            pop_ok = Signal(name=f"{name}_pop_ok")
            push_ok = Signal(name=f"{name}_push_ok")
            pop_conds, push_conds = [], []
            if prev_q is not None:
                pop_conds.append(~F["pop_prev"] | (tok[prev_q[0]] != 0))
                push_conds.append(~F["push_prev"] | (tok[prev_q[1]] != c.token_depth))
            if next_q is not None:
                pop_conds.append(~F["pop_next"] | (tok[next_q[0]] != 0))
                push_conds.append(~F["push_next"] | (tok[next_q[1]] != c.token_depth))
            m.d.comb += [pop_ok.eq(Cat(*pop_conds).all()), push_ok.eq(Cat(*push_conds).all())]
            first = Signal(name=f"{name}_first")
            quiet = Signal(name=f"{name}_quiet")
            waiting = Signal(name=f"{name}_waiting")
            holding = Signal(name=f"{name}_holding")
            blocked = Signal(name=f"{name}_blocked")
            done_s = Signal(name=f"{name}_done")
            halt_s = Signal(name=f"{name}_halt")
            with m.FSM(domain="run", name=f"{name}_fsm") as fsm:
                with m.State("IDLE"):
                    m.d.comb += quiet.eq(~q.r_rdy)
                    with m.If(q.r_rdy):
                        m.d.comb += q.r_en.eq(1)
                        m.d.run += cur.eq(q.r_data)
                        m.next = "POP"
                with m.State("POP"):
                    m.d.comb += holding.eq(1)
                    with m.If(pop_ok):
                        if prev_q is not None:
                            m.d.comb += tok_dec[prev_q[0]].eq(F["pop_prev"])
                        if next_q is not None:
                            m.d.comb += tok_dec[next_q[0]].eq(F["pop_next"])
                        m.d.comb += first.eq(1)
                        m.next = "EXEC"
                    with m.Else():
                        m.d.comb += [quiet.eq(1), waiting.eq(1), blocked.eq(1)]
                with m.State("EXEC"):
                    m.d.comb += [holding.eq(1), inc[f"{name}_busy"].eq(1)]
                    with m.If(halt_s):
                        m.next = "HALT"
                    with m.Elif(done_s):
                        m.next = "PUSH"
                with m.State("PUSH"):
                    m.d.comb += holding.eq(1)
                    with m.If(push_ok):
                        if prev_q is not None:
                            m.d.comb += tok_inc[prev_q[1]].eq(F["push_prev"])
                        if next_q is not None:
                            m.d.comb += tok_inc[next_q[1]].eq(F["push_next"])
                        m.d.comb += inc[f"{name}_insns"].eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.comb += [quiet.eq(1), waiting.eq(1), blocked.eq(1)]
                with m.State("HALT"):
                    m.d.comb += [quiet.eq(1), holding.eq(1)]
            m.d.comb += inc[f"{name}_stall"].eq(waiting)
            # EXEC start pulse: the first cycle in EXEC
            was = Signal(name=f"{name}_was_exec")
            m.d.run += was.eq(fsm.ongoing("EXEC"))
            start = Signal(name=f"{name}_start")
            m.d.comb += start.eq(fsm.ongoing("EXEC") & ~was)
            d_, h_ = execute(cur, start)
            m.d.comb += [done_s.eq(d_), halt_s.eq(h_)]
            stage_state[st] = {"quiet": quiet, "waiting": waiting, "blocked": blocked,
                               "active": holding | q.r_rdy}
            return cur

        # ---- load engine (shared by the load and compute stages) ------------------------------
        def load_engine(name, rd, cur, start, write):
            """2D strided DRAM -> buffer transfer with zero padding, one beat per cycle.

            ``write(mt, addr, lane, all_lanes, data, en)`` connects the buffer write ports."""
            Lf = fields(cur, "LOAD")
            busy_ = Signal(name=f"{name}_busy")
            mt_ = Lf["mem_type"]
            elog_ = Signal(4, name=f"{name}_elog")
            with m.Switch(mt_):
                for t in MemType:
                    with m.Case(t):
                        m.d.comb += elog_.eq(eb_log2[t])
            nl_log2 = Signal(4, name=f"{name}_nl")      # log2 lanes per element
            m.d.comb += nl_log2.eq(elog_ - LB)
            row_addr = Signal(aw, name=f"{name}_row_addr")
            ry = Signal(16, name=f"{name}_ry")
            r = Signal(17, name=f"{name}_r")
            col = Signal(17, name=f"{name}_c")
            lane = Signal(13, name=f"{name}_lane")
            n = Signal(17, name=f"{name}_n")
            # loop limits registered from the instruction (stable from POP on; EXEC comes later)
            rows_m1 = Signal(17, name=f"{name}_rows_m1")
            cols_m1 = Signal(17, name=f"{name}_cols_m1")
            y_end = Signal(17, name=f"{name}_y_end")
            x_end = Signal(17, name=f"{name}_x_end")
            m.d.run += [rows_m1.eq(Lf["y_pad0"] + Lf["y_size"] + Lf["y_pad1"] - 1),
                        cols_m1.eq(Lf["x_pad0"] + Lf["x_size"] + Lf["x_pad1"] - 1),
                        y_end.eq(Lf["y_pad0"] + Lf["y_size"]), x_end.eq(Lf["x_pad0"] + Lf["x_size"])]
            empty = (Lf["y_size"] == 0) | (Lf["x_size"] == 0)
            with m.If(start):
                m.d.run += [busy_.eq(~empty), ry.eq(0), r.eq(0), col.eq(0), lane.eq(0), n.eq(0),
                        row_addr.eq(base + (Lf["dram_base"] << elog_))]
            # read side: one command per row
            m.d.comb += [rd.cmd_valid.eq(busy_ & (ry != Lf["y_size"])),
                         rd.cmd_addr.eq(row_addr),
                         rd.cmd_beats.eq(Lf["x_size"] << nl_log2)]
            with m.If(rd.cmd_valid & rd.cmd_ready):
                m.d.run += [ry.eq(ry + 1), row_addr.eq(row_addr + (Lf["x_stride"] << elog_))]
            # write side
            pad = ((r < Lf["y_pad0"]) | (r >= y_end) | (col < Lf["x_pad0"]) | (col >= x_end))
            last_lane = lane == (1 << nl_log2) - 1
            step = Signal(name=f"{name}_step")
            w_en = Signal(name=f"{name}_w_en")
            m.d.comb += rd.out_ready.eq(busy_ & ~pad)
            with m.If(busy_):
                with m.If(pad):
                    m.d.comb += [w_en.eq(1), step.eq(1)]
                with m.Elif(rd.out_valid):
                    m.d.comb += w_en.eq(1)
                    m.d.run += lane.eq(lane + 1)
                    with m.If(last_lane):
                        m.d.run += lane.eq(0)
                        m.d.comb += step.eq(1)
            with m.If(step):
                m.d.run += [n.eq(n + 1), col.eq(col + 1)]
                with m.If(col == cols_m1):
                    m.d.run += [col.eq(0), r.eq(r + 1)]
                    with m.If(r == rows_m1):
                        m.d.run += busy_.eq(0)
            write(mt_, (Lf["sram_base"] + n)[:16], lane, pad,
                  Mux(pad, 0, rd.out_data), w_en)
            return busy_

        # ---- load stage ----------------------------------------------------------------------
        def load_exec(cur, start):
            def write(mt_, addr, lane, pad, data, en):
                for t, wp in ((MemType.INP, inp_wp), (MemType.WGT, wgt_wp)):
                    nl = lanes[t]
                    m.d.comb += [wp.addr.eq(addr), wp.data.eq(data.replicate(nl) if nl > 1 else data)]
                    with m.If(en & (mt_ == t)):
                        m.d.comb += wp.en.eq(lane_en(lane, nl, pad))
            busy_ = load_engine("ld", rd_load, cur, start, write)
            return (~start & ~busy_), Const(0)

        stage(isa.Stage.LOAD, "load", None, (tq.C2L, tq.L2C), load_exec)

        # ---- compute stage -------------------------------------------------------------------
        dot = DotArray(batch=c.batch, block_in=c.block_in, block_out=c.block_out,
                       input_width=c.input_width, weight_width=c.weight_width,
                       pack=self.dsp_packing, hard_mults=self.hard_mults)
        m.submodules.dot = dot
        LAT = dot.latency
        comp_flags = {}

        def comp_exec(cur, start):
            op_ = cur[:3]
            is_load = op_ == Opcode.LOAD
            is_gemm = op_ == Opcode.GEMM
            is_alu = op_ == Opcode.ALU
            G = fields(cur, "GEMM")
            A = fields(cur, "ALU")

            # acc / shadow write port drivers (load engine or GEMM/ALU write-back)
            ld_en = Signal()
            ld_lane = Signal(13)
            ld_pad = Signal()
            ld_data = Signal(BW)
            ld_addr = Signal(16)
            ld_mt = Signal(3)

            def write(mt_, addr, lane, pad, data, en):
                # registered: the buffer writes (and the output saturation) start at flip-flops
                m.d.run += [ld_en.eq(en), ld_lane.eq(lane), ld_pad.eq(pad), ld_data.eq(data),
                            ld_addr.eq(addr), ld_mt.eq(mt_)]
            ld_busy = load_engine("cl", rd_comp, cur, start & is_load, write) | ld_en
            # uop buffer writes
            nlu = lanes[MemType.UOP]
            m.d.comb += [uop_wp.addr.eq(ld_addr),
                         uop_wp.data.eq(ld_data.replicate(nlu) if nlu > 1 else ld_data)]
            with m.If(ld_en & (ld_mt == MemType.UOP)):
                m.d.comb += uop_wp.en.eq(lane_en(ld_lane, nlu, ld_pad))

            # ---- micro-op loop generator ----
            active = Signal()
            u = Signal(14)
            i_in = Signal(14)
            i_out = Signal(14)
            W = 28
            offs = {k: Signal(W, name=f"off_{k}") for k in
                    ("dst_out", "dst_in", "src_out", "src_in", "wgt_out", "wgt_in")}
            empty = ((G["iter_out"] == 0) | (G["iter_in"] == 0) | (G["uop_begin"] == G["uop_end"]))
            hold = Signal()
            halt_ = Signal()
            err_now = Signal()
            issue = Signal()
            m.d.comb += issue.eq(active & ~hold & ~err_now)
            wfo = G["wgt_factor_out"]
            wfi = G["wgt_factor_in"]
            # loop ends, registered while the instruction waits in POP (cur is stable in EXEC)
            u_last, in_last, out_last = Signal(14), Signal(14), Signal(14)
            m.d.run += [u_last.eq(G["uop_end"] - 1), in_last.eq(G["iter_in"] - 1),
                        out_last.eq(G["iter_out"] - 1)]
            with m.If(start & (is_gemm | is_alu)):
                m.d.run += [active.eq(~empty), u.eq(G["uop_begin"]), i_in.eq(0), i_out.eq(0)]
                m.d.run += [o.eq(0) for o in offs.values()]
            with m.If(issue):
                m.d.run += u.eq(u + 1)
                with m.If(u == u_last):
                    m.d.run += [u.eq(G["uop_begin"]), i_in.eq(i_in + 1),
                                offs["dst_in"].eq(offs["dst_in"] + G["dst_factor_in"]),
                                offs["src_in"].eq(offs["src_in"] + G["src_factor_in"]),
                                offs["wgt_in"].eq(offs["wgt_in"] + Mux(is_gemm, wfi, 0))]
                    with m.If(i_in == in_last):
                        m.d.run += [i_in.eq(0), i_out.eq(i_out + 1),
                                    offs["dst_in"].eq(0), offs["src_in"].eq(0), offs["wgt_in"].eq(0),
                                    offs["dst_out"].eq(offs["dst_out"] + G["dst_factor_out"]),
                                    offs["src_out"].eq(offs["src_out"] + G["src_factor_out"]),
                                    offs["wgt_out"].eq(offs["wgt_out"] + Mux(is_gemm, wfo, 0))]
                        with m.If(i_out == out_last):
                            m.d.run += active.eq(0)
            with m.If(err_now):
                m.d.run += active.eq(0)
            m.d.comb += [uop_rp.addr.eq(u), uop_rp.en.eq(~hold)]
            # Micro-op pipeline: U (micro-op word leaves its block RAM), I (word registered),
            # A (indices registered: range check, buffer reads, ALU bank conflict). Each block-RAM
            # output goes straight into a register, and each stage has one adder or compare.
            v_u = Signal()
            off_d, off_s, off_w = Signal(W), Signal(W), Signal(W)
            first_u = Signal()
            with m.If(~hold):
                m.d.run += [v_u.eq(issue), first_u.eq(i_in == 0),
                            off_d.eq(offs["dst_out"] + offs["dst_in"]),
                            off_s.eq(offs["src_out"] + offs["src_in"]),
                            off_w.eq(offs["wgt_out"] + offs["wgt_in"])]
            v_i = Signal()
            i_word = Signal(uop_w)
            i_off_d, i_off_s, i_off_w = Signal(W), Signal(W), Signal(W)
            first_i = Signal()
            with m.If(~hold):
                m.d.run += [v_i.eq(v_u), i_word.eq(uop_rp.data), first_i.eq(first_u),
                            i_off_d.eq(off_d), i_off_s.eq(off_s), i_off_w.eq(off_w)]
            U = fields(i_word, "UOP")
            v_a = Signal()
            ia = Signal(W + 1)
            ii = Signal(W + 1)
            iw = Signal(W + 1)
            first_a = Signal()
            with m.If(~hold):
                m.d.run += [v_a.eq(v_i), first_a.eq(first_i), ia.eq(U["acc_idx"] + i_off_d),
                            ii.eq(U["inp_idx"] + i_off_s), iw.eq(U["wgt_idx"] + i_off_w)]
            bad = Signal()
            with m.If(is_gemm):
                m.d.comb += bad.eq((ia >= c.acc_depth) | (~G["reset"] & ((ii >= c.inp_depth)
                                                                         | (iw >= c.wgt_depth))))
            with m.Else():
                m.d.comb += bad.eq((ia >= c.acc_depth) | (~A["use_imm"] & (ii >= c.acc_depth)))
            m.d.comb += err_now.eq(v_a & bad)
            with m.If(err_now):
                # the faulting micro-op and the ones behind it never execute
                m.d.run += [halt_.eq(1), v_a.eq(0), v_i.eq(0), v_u.eq(0)]
            # ALU with a tensor operand: acc[dst] and acc[src] in one cycle when they sit in
            # different banks (index parity); same bank: src in a first cycle (phase 0), dst next.
            tensor = is_alu & ~A["use_imm"]
            conflict = tensor & (ia[0] == ii[0])
            phase = Signal()
            # an ALU result is ready two cycles later than a GEMM one (stages Y1, Y2): a micro-op
            # that reads an entry one of the two ALU micro-ops just ahead of it writes waits
            mv, mg, m_dst = Signal(), Signal(), Signal(16)
            xv, xg, x_dst = Signal(), Signal(), Signal(16)

            def hits(dst_):
                return (dst_ == ia[:16]) | (tensor & (dst_ == ii[:16]))
            haz = Signal()
            m.d.comb += haz.eq(is_alu & ((mv & ~mg & hits(m_dst)) | (xv & ~xg & hits(x_dst))))
            m.d.comb += hold.eq(v_a & ~bad & (haz | (conflict & ~phase)))
            with m.If(v_a & ~bad & conflict & ~haz):
                m.d.run += phase.eq(~phase)
            go_a = Signal()
            m.d.comb += go_a.eq(v_a & ~bad & ~hold)
            with m.If(go_a):
                with m.If(is_gemm):
                    m.d.comb += inc["gemm_uops"].eq(1)
                with m.Else():
                    m.d.comb += inc["alu_uops"].eq(1)
            m.d.comb += [inp_rp.addr.eq(ii), wgt_rp.addr.eq(iw)]
            dot_inp, dot_wgt = Signal(inp_w), Signal(wgt_w)
            m.d.run += [dot_inp.eq(inp_rp.data), dot_wgt.eq(wgt_rp.data)]
            m.d.comb += [dot.inp.eq(dot_inp), dot.wgt.eq(dot_wgt)]
            # GEMM delay line from A: entry k is A + 1 + k; inputs reach the array at k = 1, sums
            # leave it at XG = 1 + LAT, where the accumulator value read at XG - 2 meets them.
            XG = 1 + LAT
            dl_v = [Signal(name=f"g_v{k}") for k in range(XG - 1)]
            dl_a = [Signal(16, name=f"g_a{k}") for k in range(XG - 1)]
            dl_r = [Signal(name=f"g_r{k}") for k in range(XG - 1)]
            dl_i = [Signal(name=f"g_i{k}") for k in range(XG - 1)]
            m.d.run += [dl_v[0].eq(go_a & is_gemm), dl_a[0].eq(ia), dl_r[0].eq(G["reset"]),
                        dl_i[0].eq(G["init"] & first_a)]
            for k in range(1, XG - 1):
                m.d.run += [dl_v[k].eq(dl_v[k - 1]), dl_a[k].eq(dl_a[k - 1]), dl_r[k].eq(dl_r[k - 1]),
                            dl_i[k].eq(dl_i[k - 1])]
            # ---- accumulator read (R), data registered (M), compute (X), write (WB) ----
            g_rd = dl_v[XG - 2]
            rq_v = Signal()
            rq_gemm = Signal()
            rq_dst = Signal(16)
            rq_src = Signal(16)
            rq_conf = Signal()
            m.d.comb += [rq_v.eq(g_rd | (go_a & is_alu)), rq_gemm.eq(g_rd),
                         rq_dst.eq(Mux(g_rd, dl_a[XG - 2], ia)), rq_src.eq(ii),
                         rq_conf.eq(~g_rd & conflict)]
            nla = lanes[MemType.ACC]
            for k, (wp_, rp_) in enumerate(acc_banks):
                # bank k reads src when src is in bank k and dst is not, or in phase 0 of a conflict
                src_here = ~g_rd & tensor & Mux(conflict, ~phase, ii[0] == k)
                m.d.comb += rp_.addr.eq(Mux(src_here, ii[1:], rq_dst[1:]))
            bank_data = [rp_.data for _wp, rp_ in acc_banks]
            src_hold = Signal(acc_w)
            with m.If(v_a & conflict & phase):
                m.d.run += src_hold.eq(Mux(ii[0], bank_data[1], bank_data[0]))
            # M: both operands registered straight from the banks
            m_src = Signal(16)
            m_conf, m_r, m_i = Signal(), Signal(), Signal()
            m.d.run += [mv.eq(rq_v), mg.eq(rq_gemm), m_dst.eq(rq_dst), m_src.eq(rq_src),
                        m_conf.eq(rq_conf), m_r.eq(dl_r[XG - 2]), m_i.eq(dl_i[XG - 2])]
            # X (operands: forwarded; GEMM adds), Y (ALU computes), WB and the write history
            # P1..P3 (written 1..3 cycles ago): the banks are read without write-through, so an
            # operand read at cycle t misses the writes of cycles >= t; those come from these
            # registers (selects compared in M against what WB will hold when the op is in X).
            x_r, x_i = Signal(), Signal()
            x_raw, s_raw = Signal(acc_w), Signal(acc_w)
            yv, y_dst = Signal(), Signal(16)          # Y1
            y2v, y2_dst = Signal(), Signal(16)        # Y2
            x_op, y_op = Signal(acc_w), Signal(acc_w)
            wv, w_addr, w_data = Signal(), Signal(16), Signal(acc_w)
            wn_v, wn_a = Signal(), Signal(16)       # what WB holds next cycle
            m.d.comb += [wn_v.eq((xv & xg) | y2v), wn_a.eq(Mux(xv & xg, x_dst, y2_dst))]
            hist = [(Signal(name=f"p{k}_v"), Signal(16, name=f"p{k}_a"), Signal(acc_w, name=f"p{k}_d"))
                    for k in (1, 2, 3)]
            chain = [(wn_v, wn_a, None), (wv, w_addr, w_data)] + hist
            m.d.run += [xv.eq(mv), xg.eq(mg), x_dst.eq(m_dst), x_r.eq(m_r), x_i.eq(m_i),
                        x_raw.eq(Mux(m_dst[0], bank_data[1], bank_data[0])),
                        s_raw.eq(Mux(m_conf, src_hold, Mux(m_src[0], bank_data[1], bank_data[0])))]
            fx = [Signal(name=f"fx{k}") for k in range(4)]
            fs = [Signal(name=f"fs{k}") for k in range(4)]
            for k in range(4):
                v_, a_, _d = chain[k]
                m.d.run += [fx[k].eq(mv & v_ & (a_ == m_dst)), fs[k].eq(mv & v_ & (a_ == m_src))]

            def forward(raw, sel):
                val = raw
                for k in (3, 2, 1, 0):      # newest write wins
                    val = Mux(sel[k], chain[k + 1][2], val)
                return val
            x_all = Signal(acc_w)
            src_val = Signal(acc_w)
            m.d.comb += [x_all.eq(forward(x_raw, fx)), src_val.eq(forward(s_raw, fs))]
            aw_ = c.acc_width
            dw = dot.dot_width
            gemm_lanes = []
            alu_lanes = []
            imm = A["imm"]
            nsh = _log2(aw_)
            y_in = []
            for k in range(acc_lanes_n):
                x = x_all[k * aw_:(k + 1) * aw_].as_signed()
                d = dot.dot[k * dw:(k + 1) * dw].as_signed()
                add_g = make_adder(aw_, self.adder_arch, self.adder_style)
                m.submodules[f"acc_add{k}"] = add_g
                m.d.comb += [add_g.a.eq(x), add_g.b.eq(d)]     # d sign-extended
                gemm_lanes.append(Mux(x_r, 0, Mux(x_i, d, add_g.s)[:aw_]))
                y_in.append(Mux(A["use_imm"], imm, src_val[k * aw_:(k + 1) * aw_].as_signed())[:aw_])
            m.d.run += [yv.eq(xv & ~xg), y_dst.eq(x_dst), x_op.eq(x_all), y_op.eq(Cat(*y_in))]
            for k in range(acc_lanes_n):
                x = x_op[k * aw_:(k + 1) * aw_].as_signed()
                y = y_op[k * aw_:(k + 1) * aw_].as_signed()
                add_a = make_adder(aw_, self.adder_arch, self.adder_style)
                m.submodules[f"alu_add{k}"] = add_a
                m.d.comb += [add_a.a.eq(x), add_a.b.eq(y)]
                res = Signal(aw_, name=f"alu_r{k}")
                sh = y[:nsh]
                # rounding shift: floor((x + 2**(sh-1)) / 2**sh) = (x >> sh) + bit sh-1 of x, the
                # shift and the bit select side by side, then one increment
                half = Signal(name=f"alu_h{k}")
                m.d.comb += half.eq(Mux(sh == 0, 0, x.as_unsigned().bit_select((sh - 1)[:nsh], 1)))
                sm = Signal(signed(aw_), name=f"alu_s{k}")
                m.d.comb += sm.eq((x >> sh) + half)
                with m.Switch(A["alu_op"]):
                    with m.Case(AluOp.MIN):
                        m.d.comb += res.eq(Mux(x < y, x, y))
                    with m.Case(AluOp.MAX):
                        m.d.comb += res.eq(Mux(x > y, x, y))
                    with m.Case(AluOp.ADD):
                        m.d.comb += res.eq(add_a.s)
                    with m.Case(AluOp.MUL):
                        m.d.comb += res.eq(0)     # from the partial products in Y2
                    with m.Case(AluOp.SHR):
                        m.d.comb += res.eq(sm)
                    with m.Case(AluOp.CLIP):
                        # min(max(x, ~y), y) with the three compares side by side
                        lo_ = ~y
                        m.d.comb += res.eq(Mux(x > lo_, Mux(x < y, x, y), Mux(lo_ < y, lo_, y)))
                # MUL: x * y[:16] mod 2**acc_width from two registered partial products
                # (halves of x), added in Y2
                r1 = Signal(aw_, name=f"alu_r1_{k}")
                p_lo = Signal(aw_, name=f"alu_plo{k}")
                p_hi = Signal(16, name=f"alu_phi{k}")
                y16 = y[:16].as_signed()
                if aw_ > 16:
                    m.d.run += [p_lo.eq(x[:16].as_unsigned() * y16),
                                p_hi.eq(x[16:].as_signed() * y16)]
                else:
                    m.d.run += [p_lo.eq(x * y16), p_hi.eq(0)]
                m.d.run += r1.eq(res)
                hi_part = (p_hi << 16)[:aw_] if aw_ > 16 else 0
                alu_lanes.append(Mux(A["alu_op"] == AluOp.MUL, (p_lo + hi_part)[:aw_], r1))
            m.d.run += [y2v.eq(yv), y2_dst.eq(y_dst)]
            m.d.run += [wv.eq(wn_v), w_addr.eq(wn_a),
                        w_data.eq(Mux(xv & xg, Cat(*gemm_lanes), Cat(*alu_lanes)))]
            for k in range(3):
                src_ = (wv, w_addr, w_data) if k == 0 else hist[k - 1]
                m.d.run += [hist[k][0].eq(src_[0]), hist[k][1].eq(src_[1]), hist[k][2].eq(src_[2])]
            # WB: accumulator bank and output shadow write ports (write-back or the load engine)
            vpb = BW // aw_            # accumulators per beat
            ld_sat = Cat(*[_sat(m, ld_data[j * aw_:(j + 1) * aw_].as_signed(), c.output_width)
                           for j in range(vpb)])
            wb_sat = Cat(*[_sat(m, w_data[k * aw_:(k + 1) * aw_].as_signed(), c.output_width)
                           for k in range(acc_lanes_n)])
            ld_acc = ld_en & (ld_mt == MemType.ACC)
            for k, (wp_, _rp) in enumerate(acc_banks):
                with m.If(wv):
                    m.d.comb += [wp_.addr.eq(w_addr[1:]), wp_.data.eq(w_data),
                                 wp_.en.eq(Mux(w_addr[0] == k, (1 << nla) - 1, 0))]
                with m.Else():
                    m.d.comb += [wp_.addr.eq(ld_addr[1:]),
                                 wp_.data.eq(ld_data.replicate(nla) if nla > 1 else ld_data)]
                    with m.If(ld_acc & (ld_addr[0] == k)):
                        m.d.comb += wp_.en.eq(lane_en(ld_lane, nla, ld_pad))
            with m.If(wv):
                m.d.comb += [out_wp.addr.eq(w_addr), out_wp.data.eq(wb_sat),
                             out_wp.en.eq((1 << nla) - 1)]
            with m.Else():
                m.d.comb += [out_wp.addr.eq(ld_addr),
                             out_wp.data.eq(ld_sat.replicate(nla) if nla > 1 else ld_sat)]
                with m.If(ld_acc):
                    m.d.comb += out_wp.en.eq(lane_en(ld_lane, nla, ld_pad))
            pipe_busy = Cat(active, v_u, v_i, v_a, mv, xv, yv, y2v, wv, *dl_v).any()
            # A GEMM may retire while its last micro-ops are still in the pipeline when the next
            # instruction is a GEMM (or FINISH): they share the in-order pipeline, so the next
            # one sees every result (FINISH waits for the drain). Its input and weight reads are
            # all done by then, so a token to the load stage (which writes only those buffers)
            # may go; a token to the store stage (which reads accumulators) waits for the drain.
            q_c = queues[isa.Stage.COMPUTE]
            head_op = q_c.r_data[:3]
            Fc = fields(cur, "GEMM")
            overlap = (is_gemm & ~active & ~v_u & ~v_i & ~v_a & ~Fc["push_next"] & q_c.r_rdy
                       & ((head_op == Opcode.GEMM) | (head_op == Opcode.FINISH)))
            done_ = ~start & ~ld_busy & (~pipe_busy | overlap) & ~halt_
            halt_now = halt_ & ~pipe_busy
            comp_flags["halt"] = halt_
            return done_, halt_now

        stage(isa.Stage.COMPUTE, "compute", (tq.L2C, tq.C2L), (tq.S2C, tq.C2S),
                         comp_exec)

        # ---- store stage ---------------------------------------------------------------------
        def store_exec(cur, start):
            S = fields(cur, "STORE")
            elog_o = eb_log2[MemType.OUT]
            nlo = lanes[MemType.OUT]
            busy_ = Signal(name="st_busy")
            row_addr = Signal(aw)
            ry = Signal(16)
            rx = Signal(16)      # entry reader position in its row
            ey = Signal(16)
            n = Signal(17)
            empty = (S["y_size"] == 0) | (S["x_size"] == 0)
            reading = Signal()
            sx_m1, sy_m1 = Signal(16), Signal(16)    # registered (stable from POP on)
            m.d.run += [sx_m1.eq(S["x_size"] - 1), sy_m1.eq(S["y_size"] - 1)]
            with m.If(start):
                m.d.run += [busy_.eq(~empty), reading.eq(~empty), ry.eq(0), rx.eq(0), ey.eq(0),
                        n.eq(0), row_addr.eq(base + (S["dram_base"] << elog_o))]
            m.d.comb += [wr.cmd_valid.eq(busy_ & (ry != S["y_size"])), wr.cmd_addr.eq(row_addr),
                         wr.cmd_beats.eq(S["x_size"] << _log2(nlo))]
            with m.If(wr.cmd_valid & wr.cmd_ready):
                m.d.run += [ry.eq(ry + 1), row_addr.eq(row_addr + (S["x_stride"] << elog_o))]
            # shadow reads into a small FIFO of entries
            m.submodules.st_fifo = fifo = ren(SyncFIFOBuffered(width=out_w, depth=4))
            pend = Signal()
            can = reading & (fifo.level + pend < 3)
            m.d.comb += out_rp.addr.eq((S["sram_base"] + n)[:16])
            m.d.run += pend.eq(can)
            m.d.comb += [fifo.w_en.eq(pend), fifo.w_data.eq(out_rp.data)]
            with m.If(can):
                m.d.run += [n.eq(n + 1), rx.eq(rx + 1)]
                with m.If(rx == sx_m1):
                    m.d.run += [rx.eq(0), ey.eq(ey + 1)]
                    with m.If(ey == sy_m1):
                        m.d.run += reading.eq(0)
            # serializer
            lane = Signal(range(max(2, nlo)))
            beat = Signal(BW)
            if nlo > 1:
                with m.Switch(lane):
                    for k in range(nlo):
                        with m.Case(k):
                            m.d.comb += beat.eq(fifo.r_data[k * BW:(k + 1) * BW])
            else:
                m.d.comb += beat.eq(fifo.r_data)
            m.d.comb += [wr.in_valid.eq(fifo.r_rdy), wr.in_data.eq(beat), wr.in_strb.eq(-1)]
            with m.If(wr.in_valid & wr.in_ready):
                if nlo > 1:
                    m.d.run += lane.eq(lane + 1)
                    with m.If(lane == nlo - 1):
                        m.d.run += lane.eq(0)
                        m.d.comb += fifo.r_en.eq(1)
                else:
                    m.d.comb += fifo.r_en.eq(1)
            with m.If(busy_ & ~reading & ~pend & ~fifo.r_rdy & (ry == S["y_size"]) & wr.idle):
                m.d.run += busy_.eq(0)
            return (~start & ~busy_), Const(0)

        stage(isa.Stage.STORE, "store", (tq.C2S, tq.S2C), None, store_exec)

        # ---- errors, end of run --------------------------------------------------------------
        all_quiet = Signal()
        m.d.comb += all_quiet.eq(fetch_quiet & Cat(*[s["quiet"] for s in stage_state.values()]).all()
                                 & rd_load.quiet & rd_comp.quiet & wr.idle)
        qcnt = Signal(range(QUIET_CYCLES + 1))
        with m.If(busy & all_quiet):
            m.d.run += qcnt.eq(qcnt + 1)
        with m.Else():
            m.d.run += qcnt.eq(0)
        any_blocked = Cat(f_blocked, *[s["blocked"] for s in stage_state.values()]).any()
        with m.If(~err_set & (f_error != 0)):
            m.d.run += [err_set.eq(1), err_code.eq(f_error), err_insn.eq(f_index)]
        comp_halted = Signal()
        m.d.comb += comp_halted.eq(comp_flags["halt"])
        with m.If(~err_set & (f_error == 0) & comp_halted):
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
                with m.Elif(~finish_seen):
                    m.d.run += err_code.eq(ErrorCode.NO_FINISH)

        # ---- register reads ------------------------------------------------------------------
        status = Signal(32)
        sb = {f.name: f.lsb for f in isa.STATUS_BITS}
        m.d.comb += [
            status[sb["busy"]].eq(busy | starting), status[sb["done"]].eq(done),
            status[sb["error"]].eq(done & (err_code != 0)),
            status[sb["fetch_blocked"]].eq(f_blocked),
            status[sb["load_wait"]].eq(stage_state[isa.Stage.LOAD]["waiting"]),
            status[sb["compute_wait"]].eq(stage_state[isa.Stage.COMPUTE]["waiting"]),
            status[sb["store_wait"]].eq(stage_state[isa.Stage.STORE]["waiting"]),
            status[sb["load_active"]].eq(stage_state[isa.Stage.LOAD]["active"]),
            status[sb["compute_active"]].eq(stage_state[isa.Stage.COMPUTE]["active"]),
            status[sb["store_active"]].eq(stage_state[isa.Stage.STORE]["active"]),
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
