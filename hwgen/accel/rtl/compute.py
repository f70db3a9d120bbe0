"""The accelerator's compute stage: LOAD UOP / LOAD ACC, and GEMM and ALU micro-op loops over the
input, weight and accumulator buffers."""
from __future__ import annotations

from typing import NamedTuple

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out

from .. import isa
from ...adders import make_adder
from ..config import AccelConfig
from ..isa import AluOp, MemType, Opcode
from .decode import fields
from .gemm import DotArray
from .load import buffer_write_signature
from .stage import LoadEngine, lane_en, log2, read_request_signature, saturate


#: Width of the micro-op loop's index offsets.
OFFSET_WIDTH = 28


class LoadWrite(NamedTuple):
    """A registered buffer write of the load engine (see :meth:`ComputeStage._load_writes`)."""
    en: Signal
    lane: Signal
    pad: Signal
    data: Signal
    addr: Signal
    mt: Signal


def one_hot(hits: list, kill) -> list:
    """Selects for ``hits`` (newest first) plus a last one for none of them: the first hit
    wins; ``kill`` clears them all."""
    sel, older = [], Const(0)
    for h in hits:
        sel.append(h & ~older & ~kill)
        older = older | h
    return sel + [~older & ~kill]


def forward(values: list, sel: list):
    """The OR of ``values`` each masked by its one-hot select (0 when none is set)."""
    out = 0
    for v, s_ in zip(values, sel):
        out = out | (v & s_.replicate(len(v)))
    return out


def buffer_read_signature(width: int, depth: int) -> wiring.Signature:
    """A buffer's read port as seen by the unit that reads it."""
    return ReadPort.Signature(addr_width=(depth - 1).bit_length(), shape=width).flip()


class ComputeStage(wiring.Component):
    """Executes LOAD UOP / LOAD ACC (through its own load engine), GEMM and ALU.

    A GEMM or ALU instruction runs its two-level micro-op loop through the pipeline described in
    :mod:`hwgen.accel.rtl.top`; every accumulator write also writes the output buffer (saturated
    to ``output_width``).

    Parameters
    ----------
    config : AccelConfig
    dsp_packing, hard_mults : see :class:`~hwgen.accel.rtl.gemm.DotArray`
    adder_arch, adder_style : the accumulator adders (:func:`hwgen.adders.make_adder`)

    Attributes
    ----------
    insn, start, done, halt : from / to its :class:`~hwgen.accel.rtl.stage.StageControl`
        (``halt``: a micro-op index out of range, INDEX_RANGE)
    next_insn, next_valid : the next instruction in its queue (a GEMM may retire early when a
        GEMM or FINISH follows)
    base : DRAM_BASE of the run
    rd, quiet : to the read arbiter; nothing in flight
    uop_w, uop_r, inp_r, wgt_r, acc0_w, acc0_r, acc1_w, acc1_r, out_w : buffer ports (the
        accumulator in two banks by index parity)
    gemm_uops, alu_uops : counter strobes
    """

    def __init__(self, config: AccelConfig, *, dsp_packing: bool | None = None,
                 hard_mults: int | None = None, adder_arch: str = "kogge-stone",
                 adder_style: str = "fpga"):
        self.config = c = config
        self.dsp_packing, self.hard_mults = dsp_packing, hard_mults
        self.adder_arch, self.adder_style = adder_arch, adder_style
        lanes = {t: c.element_bytes[t.name.lower()] // c.axi_bytes for t in MemType}
        self.lanes = lanes
        acc_w = c.batch * c.block_out * c.acc_width
        ports = {
            "insn": In(isa.INSN_BITS), "start": In(1), "done": Out(1), "halt": Out(1),
            "next_insn": In(isa.INSN_BITS), "next_valid": In(1), "base": In(32),
            "rd": Out(read_request_signature(c.dram_addr_width, c.axi_data_width)),
            "quiet": Out(1),
            "uop_w": Out(buffer_write_signature(isa.UOP_BITS, c.uop_depth, lanes[MemType.UOP])),
            "uop_r": Out(buffer_read_signature(isa.UOP_BITS, c.uop_depth)),
            "inp_r": Out(buffer_read_signature(c.batch * c.block_in * c.input_width,
                                               c.inp_depth)),
            "wgt_r": Out(buffer_read_signature(c.block_out * c.block_in * c.weight_width,
                                               c.wgt_depth)),
            "out_w": Out(buffer_write_signature(c.batch * c.block_out * c.output_width,
                                                c.acc_depth, lanes[MemType.ACC])),
            "gemm_uops": Out(1), "alu_uops": Out(1), "index_error": Out(1),
        }
        for k in (0, 1):
            ports[f"acc{k}_w"] = Out(buffer_write_signature(acc_w, c.acc_depth // 2,
                                                            lanes[MemType.ACC]))
            ports[f"acc{k}_r"] = Out(buffer_read_signature(acc_w, c.acc_depth // 2))
        super().__init__(ports)

    def _loop(self, m, G, go, is_gemm, hold, err_now) -> tuple:
        """The micro-op loop generator: from ``go`` (a GEMM or ALU starts), micro-op ``u`` of
        inner iteration ``i_in`` of outer iteration ``i_out`` issues each cycle that does not
        ``hold``, with the instruction's index offsets ``offs``; ``err_now`` stops it.

        Returns ``(active, u, i_in, offs, issue)``."""
        active = Signal()
        u = Signal(14)
        i_in = Signal(14)
        i_out = Signal(14)
        offs = {k: Signal(OFFSET_WIDTH, name=f"off_{k}") for k in
                ("dst_out", "dst_in", "src_out", "src_in", "wgt_out", "wgt_in")}
        empty = ((G["iter_out"] == 0) | (G["iter_in"] == 0) | (G["uop_begin"] == G["uop_end"]))
        issue = Signal()
        m.d.comb += issue.eq(active & ~hold)     # on err_now ``active`` clears (below)
        wfo = G["wgt_factor_out"]
        wfi = G["wgt_factor_in"]
        # loop ends, registered while the instruction waits in POP (cur is stable in EXEC)
        u_last, in_last, out_last = Signal(14), Signal(14), Signal(14)
        m.d.sync += [u_last.eq(G["uop_end"] - 1), in_last.eq(G["iter_in"] - 1),
                     out_last.eq(G["iter_out"] - 1)]
        with m.If(go):
            m.d.sync += [active.eq(~empty), u.eq(G["uop_begin"]), i_in.eq(0), i_out.eq(0)]
            m.d.sync += [o.eq(0) for o in offs.values()]
        with m.If(issue):
            m.d.sync += u.eq(u + 1)
            with m.If(u == u_last):
                m.d.sync += [u.eq(G["uop_begin"]), i_in.eq(i_in + 1),
                             offs["dst_in"].eq(offs["dst_in"] + G["dst_factor_in"]),
                             offs["src_in"].eq(offs["src_in"] + G["src_factor_in"]),
                             offs["wgt_in"].eq(offs["wgt_in"] + Mux(is_gemm, wfi, 0))]
                with m.If(i_in == in_last):
                    m.d.sync += [i_in.eq(0), i_out.eq(i_out + 1),
                                 offs["dst_in"].eq(0), offs["src_in"].eq(0), offs["wgt_in"].eq(0),
                                 offs["dst_out"].eq(offs["dst_out"] + G["dst_factor_out"]),
                                 offs["src_out"].eq(offs["src_out"] + G["src_factor_out"]),
                                 offs["wgt_out"].eq(offs["wgt_out"] + Mux(is_gemm, wfo, 0))]
                    with m.If(i_out == out_last):
                        m.d.sync += active.eq(0)
        with m.If(err_now):
            m.d.sync += active.eq(0)
        return active, u, i_in, offs, issue

    def _load_writes(self, m, eng) -> "LoadWrite":
        """The load engine's buffer writes, registered (the buffer writes and the output
        saturation start at flip-flops); drives the micro-op buffer's write port. The
        accumulator and output ports take them in :meth:`_write_ports`."""
        ld = LoadWrite(Signal(name="ld_en"), Signal(13, name="ld_lane"), Signal(name="ld_pad"),
                       Signal(self.config.axi_data_width, name="ld_data"),
                       Signal(16, name="ld_addr"), Signal(3, name="ld_mt"))
        m.d.sync += [ld.en.eq(eng.w_en), ld.lane.eq(eng.w_lane), ld.pad.eq(eng.w_pad),
                     ld.data.eq(eng.w_data), ld.addr.eq(eng.w_addr), ld.mt.eq(eng.w_mem_type)]
        nlu = self.lanes[MemType.UOP]
        m.d.comb += [self.uop_w.addr.eq(ld.addr),
                     self.uop_w.data.eq(ld.data.replicate(nlu) if nlu > 1 else ld.data)]
        with m.If(ld.en & (ld.mt == MemType.UOP)):
            m.d.comb += self.uop_w.en.eq(lane_en(ld.lane, nlu, ld.pad))
        return ld

    def _alu(self, m, A, x_op, y_op) -> list:
        """Stages Y1, Y2 and Y3 of the ALU on every lane of the registered operands ``x_op`` and
        ``y_op``; returns each lane's result (after Y3's logic, before WB's register).

        Y1 computes and Y2 finishes each operation, one shallow step each: MIN, MAX and CLIP
        compare in Y1 and pick x, y or ~y in Y2 (one select per lane, then one gate per bit);
        ADD adds in Y1; MUL and MULSHR multiply in Y1 (two partial products) and Y2 adds them
        with one adder (as wide as MULSHR's exact product). Y3 holds the one rounding shifter,
        shared by SHR (of x) and MULSHR (of the product, ISA 3), or passes Y2's result;
        ``relu`` then zeroes a negative result."""
        c = self.config
        aw_ = c.acc_width
        nsh = log2(aw_)
        alu_lanes = []
        aop = A["alu_op"]
        ops = {"min": aop == AluOp.MIN, "max": aop == AluOp.MAX, "clip": aop == AluOp.CLIP,
               "add": aop == AluOp.ADD, "shr": aop == AluOp.SHR, "mul": aop == AluOp.MUL,
               "ms": aop == AluOp.MULSHR}
        ops["cmp"] = ops["min"] | ops["max"] | ops["clip"]
        ops["prod"] = ops["mul"] | ops["ms"]
        ops["relu"] = A["relu"]
        ctl = {k: Signal(name=f"alu_is_{k}", reset_less=True) for k in ops}
        m.d.sync += [ctl[k].eq(v) for k, v in ops.items()]
        is_min, is_max, is_clip, is_cmp = ctl["min"], ctl["max"], ctl["clip"], ctl["cmp"]
        is_add, is_shr, is_prod, relu = ctl["add"], ctl["shr"], ctl["prod"], ctl["relu"]
        # Y3's controls, a cycle later
        is_sh3 = Signal(name="alu_is_sh3", reset_less=True)
        relu3 = Signal(name="alu_relu3", reset_less=True)
        m.d.sync += [is_sh3.eq(ctl["ms"] | is_shr), relu3.eq(relu)]
        pw = 48 if aw_ > 16 else 32        # the exact product x * y[:16]
        for k in range(c.batch * c.block_out):
            x = x_op[k * aw_:(k + 1) * aw_].as_signed()
            y = y_op[k * aw_:(k + 1) * aw_].as_signed()
            add_a = make_adder(aw_, self.adder_arch, self.adder_style)
            m.submodules[f"alu_add{k}"] = add_a
            m.d.comb += [add_a.a.eq(x), add_a.b.eq(y)]
            # CLIP is min(max(x, ~y), y): the three compares side by side
            lo_ = ~y
            lt, gt, lo_lt_x, lo_lt_y = x < y, x > y, lo_ < x, lo_ < y
            pick_x = Signal(name=f"alu_px{k}", reset_less=True)
            pick_lo = Signal(name=f"alu_pl{k}", reset_less=True)
            m.d.sync += [pick_x.eq((is_min & lt) | (is_max & gt) | (is_clip & lo_lt_x & lt)),
                         pick_lo.eq(is_clip & ~lo_lt_x & lo_lt_y)]
            r1 = Signal(aw_, name=f"alu_r1_{k}", reset_less=True)      # x + y or x
            r2 = Signal(aw_, name=f"alu_r2_{k}", reset_less=True)      # y
            m.d.sync += [r1.eq(Mux(is_add, add_a.s, x)), r2.eq(y)]
            # MUL and MULSHR: the exact x * y[:16] from two registered partial products
            # (halves of x), each exact in 32 bits; the shift: SHR's y mod acc_width,
            # MULSHR's y's bits 16..21 (sign bits on a 16-bit accumulator)
            p_lo = Signal(signed(32), name=f"alu_plo{k}", reset_less=True)
            p_hi = Signal(signed(32), name=f"alu_phi{k}", reset_less=True)
            n_ms = Signal(6, name=f"alu_n{k}", reset_less=True)
            y16 = y[:16].as_signed()
            if aw_ > 16:
                m.d.sync += [p_lo.eq(x[:16].as_unsigned() * y16),
                             p_hi.eq(x[16:].as_signed() * y16),
                             n_ms.eq(Mux(is_shr, y[:nsh], y[16:22]))]
            else:
                m.d.sync += [p_lo.eq(x * y16), p_hi.eq(0),
                             n_ms.eq(Mux(is_shr, y[:nsh], y[aw_ - 1].replicate(6)))]
            hi_part = (p_hi << 16).as_signed() if aw_ > 16 else Const(0, signed(pw))
            total = Signal(signed(pw), name=f"alu_sum{k}")
            # x (ADD, SHR), x + y (ADD) or the product (MUL, MULSHR), exact in pw bits
            m.d.comb += total.eq(Mux(is_prod, p_lo, r1.as_signed()) + Mux(is_prod, hi_part, 0))
            picked = Mux(pick_x, r1, Mux(pick_lo, ~r2, r2))
            v2 = Signal(signed(pw), name=f"alu_v2_{k}", reset_less=True)
            n2 = Signal(6, name=f"alu_n2_{k}", reset_less=True)
            m.d.sync += [v2.eq(Cat(Mux(is_cmp, picked, total[:aw_]), total[aw_:])), n2.eq(n_ms)]
            # Y3: the rounding shift: floor((v + 2**(n-1)) / 2**n) = (v >> n) + bit n-1 of v;
            # one shift of v with a 0 appended below gives both (bit 0 is the rounding bit);
            # wrapped to acc_width (SHR's never wraps: n < acc_width)
            ps = Signal(signed(pw + 1), name=f"alu_ps{k}")
            m.d.comb += ps.eq(Cat(Const(0, 1), v2).as_signed() >> n2)
            rounded = (ps[1:aw_ + 1] + ps[0])[:aw_]
            res = Mux(is_sh3, rounded, v2[:aw_])
            # relu: a negative result (sign bit set) becomes 0, one gate per bit
            alu_lanes.append(res & ~(relu3 & res[aw_ - 1]).replicate(aw_))
        return alu_lanes

    def _write_ports(self, m, ld: LoadWrite, wv, w_addr, w_data) -> None:
        """WB: the accumulator banks' and the output buffer's write ports take the write-back
        (``wv``: accumulator ``w_addr`` becomes ``w_data``, saturated into the output buffer) or
        else the load engine's registered write."""
        c = self.config
        aw_ = c.acc_width
        nla = self.lanes[MemType.ACC]
        acc_banks = [self.acc0_w, self.acc1_w]
        out_wp = self.out_w
        ld_en, ld_lane, ld_pad, ld_data, ld_addr, ld_mt = ld
        vpb = c.axi_data_width // aw_            # accumulators per beat
        ld_sat = Cat(*[saturate(ld_data[j * aw_:(j + 1) * aw_].as_signed(), c.output_width)
                       for j in range(vpb)])
        wb_sat = Cat(*[saturate(w_data[k * aw_:(k + 1) * aw_].as_signed(), c.output_width)
                       for k in range(c.batch * c.block_out)])
        ld_acc = ld_en & (ld_mt == MemType.ACC)
        for k, wp_ in enumerate(acc_banks):
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

    def elaborate(self, platform):
        c = self.config
        m = Module()
        uop_w = isa.UOP_BITS
        inp_w = c.batch * c.block_in * c.input_width
        wgt_w = c.block_out * c.block_in * c.weight_width
        acc_lanes_n = c.batch * c.block_out
        acc_w = acc_lanes_n * c.acc_width
        uop_rp, inp_rp, wgt_rp = self.uop_r, self.inp_r, self.wgt_r
        acc_banks = [(self.acc0_w, self.acc0_r), (self.acc1_w, self.acc1_r)]
        inc = {"gemm_uops": self.gemm_uops, "alu_uops": self.alu_uops}
        cur, start = self.insn, self.start
        m.submodules.dot = dot = DotArray(
            batch=c.batch, block_in=c.block_in, block_out=c.block_out,
            input_width=c.input_width, weight_width=c.weight_width,
            pack=self.dsp_packing, hard_mults=self.hard_mults)
        LAT = dot.latency
        # the load engine (LOAD UOP, LOAD ACC)
        m.submodules.engine = eng = LoadEngine(c)
        wiring.connect(m, wiring.flipped(self.rd), eng.rd)
        m.d.comb += [eng.insn.eq(cur), eng.base.eq(self.base), self.quiet.eq(eng.quiet)]
        op_ = cur[:3]
        is_load = op_ == Opcode.LOAD
        is_gemm = op_ == Opcode.GEMM
        is_alu = op_ == Opcode.ALU
        G = fields(cur, "GEMM")
        A = fields(cur, "ALU")

        m.d.comb += eng.start.eq(start & is_load)
        ld = self._load_writes(m, eng)
        ld_en, ld_lane, ld_pad, ld_data, ld_addr, ld_mt = ld
        ld_busy = eng.busy | ld_en

        W = OFFSET_WIDTH
        hold = Signal()
        halt_ = Signal()
        err_now = Signal()
        active, u, i_in, offs, issue = self._loop(m, G, start & (is_gemm | is_alu), is_gemm,
                                                  hold, err_now)
        m.d.comb += [uop_rp.addr.eq(u), uop_rp.en.eq(~hold)]
        # Micro-op pipeline: U (micro-op word leaves its block RAM), I (word registered),
        # A (indices registered: range check, buffer reads, ALU bank conflict). Each block-RAM
        # output goes straight into a register, and each stage has one adder or compare.
        v_u = Signal()
        off_d, off_s, off_w = Signal(W), Signal(W), Signal(W)
        first_u = Signal()
        with m.If(~hold):
            m.d.sync += [v_u.eq(issue), first_u.eq(i_in == 0),
                         off_d.eq(offs["dst_out"] + offs["dst_in"]),
                         off_s.eq(offs["src_out"] + offs["src_in"]),
                         off_w.eq(offs["wgt_out"] + offs["wgt_in"])]
        v_i = Signal()
        i_word = Signal(uop_w)
        i_off_d, i_off_s, i_off_w = Signal(W), Signal(W), Signal(W)
        first_i = Signal()
        with m.If(~hold):
            m.d.sync += [v_i.eq(v_u), i_word.eq(uop_rp.data), first_i.eq(first_u),
                         i_off_d.eq(off_d), i_off_s.eq(off_s), i_off_w.eq(off_w)]
        U = fields(i_word, "UOP")
        v_a = Signal()
        ia = Signal(W + 1)
        ii = Signal(W + 1)
        iw = Signal(W + 1)
        ia_n, ii_n, iw_n = Signal(W + 1), Signal(W + 1), Signal(W + 1)   # what A loads next
        m.d.comb += [ia_n.eq(U["acc_idx"] + i_off_d), ii_n.eq(U["inp_idx"] + i_off_s),
                     iw_n.eq(U["wgt_idx"] + i_off_w)]
        first_a = Signal()
        # ALU with a tensor operand: acc[dst] and acc[src] in one cycle when they sit in
        # different banks (index parity); same bank: src in a first cycle (phase 0), dst next.
        tensor = is_alu & ~A["use_imm"]

        def out_of_range(ia_, ii_, iw_):
            return Mux(is_gemm,
                       (ia_ >= c.acc_depth) | (~G["reset"] & ((ii_ >= c.inp_depth)
                                                              | (iw_ >= c.wgt_depth))),
                       (ia_ >= c.acc_depth) | (~A["use_imm"] & (ii_ >= c.acc_depth)))
        # The range check and the bank conflict of a micro-op are decided as it enters A
        # (registered with its indices; ``cur`` does not change while a micro-op is in
        # flight), so ``hold`` is one gate from flip-flops.
        bad, conflict = Signal(), Signal()
        with m.If(~hold):
            m.d.sync += [v_a.eq(v_i), first_a.eq(first_i), ia.eq(ia_n), ii.eq(ii_n),
                         iw.eq(iw_n), bad.eq(out_of_range(ia_n, ii_n, iw_n)),
                         conflict.eq(tensor & (ia_n[0] == ii_n[0]))]
        m.d.comb += err_now.eq(v_a & bad)
        with m.If(err_now):
            # the faulting micro-op and the ones behind it never execute
            m.d.sync += [halt_.eq(1), v_a.eq(0), v_i.eq(0), v_u.eq(0)]
        phase = Signal()
        # an ALU result is ready three cycles later than a GEMM one (stages Y1, Y2, Y3): a
        # micro-op that reads an entry one of the three ALU micro-ops just ahead of it writes
        # waits
        mv, mg, m_dst = Signal(), Signal(), Signal(16)
        xv, xg, x_dst = Signal(), Signal(), Signal(16)
        # ``haz``: the micro-op in A reads what an ALU micro-op in M, X or Y1 writes. It is
        # registered, computed a cycle ahead for the micro-op A holds next (see below).
        haz = Signal()
        # a faulting micro-op (``bad``) halts the stage whether or not it holds
        m.d.comb += hold.eq(v_a & (haz | (conflict & ~phase)))
        with m.If(v_a & ~bad & conflict & ~haz):
            m.d.sync += phase.eq(~phase)
        go_a = Signal()
        m.d.comb += go_a.eq(v_a & ~bad & ~hold)
        with m.If(go_a):
            with m.If(is_gemm):
                m.d.comb += inc["gemm_uops"].eq(1)
            with m.Else():
                m.d.comb += inc["alu_uops"].eq(1)
        m.d.comb += [inp_rp.addr.eq(ii), wgt_rp.addr.eq(iw)]
        dot_inp, dot_wgt = Signal(inp_w, reset_less=True), Signal(wgt_w, reset_less=True)
        m.d.sync += [dot_inp.eq(inp_rp.data), dot_wgt.eq(wgt_rp.data)]
        m.d.comb += [dot.inp.eq(dot_inp), dot.wgt.eq(dot_wgt)]
        # GEMM delay line from A: entry k is A + 1 + k; inputs reach the array at k = 1, sums
        # leave it at XG = 1 + LAT, where the accumulator value read at XG - 2 meets them.
        XG = 1 + LAT
        dl_v = [Signal(name=f"g_v{k}") for k in range(XG - 1)]
        dl_a = [Signal(16, name=f"g_a{k}") for k in range(XG - 1)]
        dl_r = [Signal(name=f"g_r{k}") for k in range(XG - 1)]
        dl_i = [Signal(name=f"g_i{k}") for k in range(XG - 1)]
        m.d.sync += [dl_v[0].eq(go_a & is_gemm), dl_a[0].eq(ia), dl_r[0].eq(G["reset"]),
                     dl_i[0].eq(G["init"] & first_a)]
        for k in range(1, XG - 1):
            m.d.sync += [dl_v[k].eq(dl_v[k - 1]), dl_a[k].eq(dl_a[k - 1]), dl_r[k].eq(dl_r[k - 1]),
                         dl_i[k].eq(dl_i[k - 1])]
        # ---- accumulator read (R), data registered (M), compute (X), write (WB) ----
        g_rd = dl_v[XG - 2]
        # haz one cycle ahead: if A holds, its micro-op stays and the M and X micro-ops move
        # to X and Y1 (nothing enters M from A); otherwise the I micro-op enters A, the A
        # micro-op goes to M, the M micro-op to X and the X micro-op to Y1.
        def hits(dst_, ia_, ii_):
            return (dst_ == ia_[:16]) | (tensor & (dst_ == ii_[:16]))
        m_alu = mv & ~mg
        x_alu = xv & ~xg
        haz_stay = (m_alu & hits(m_dst, ia, ii)) | (x_alu & hits(x_dst, ia, ii))
        haz_move = ((~g_rd & v_a & ~bad & hits(ia[:16], ia_n, ii_n))
                    | (m_alu & hits(m_dst, ia_n, ii_n)) | (x_alu & hits(x_dst, ia_n, ii_n)))
        m.d.sync += haz.eq(is_alu & Mux(hold, haz_stay, haz_move))
        rq_v = Signal()
        rq_gemm = Signal()
        rq_dst = Signal(16)
        rq_src = Signal(16)
        rq_conf = Signal()
        m.d.comb += [rq_v.eq(g_rd | (go_a & is_alu)), rq_gemm.eq(g_rd),
                     rq_dst.eq(Mux(g_rd, dl_a[XG - 2], ia)), rq_src.eq(ii),
                     rq_conf.eq(~g_rd & conflict)]
        for k, (wp_, rp_) in enumerate(acc_banks):
            # bank k reads src when src is in bank k and dst is not, or in phase 0 of a conflict
            src_here = ~g_rd & tensor & Mux(conflict, ~phase, ii[0] == k)
            m.d.comb += rp_.addr.eq(Mux(src_here, ii[1:], rq_dst[1:]))
        bank_data = [rp_.data for _wp, rp_ in acc_banks]
        src_hold = Signal(acc_w, reset_less=True)
        with m.If(v_a & conflict & phase):
            m.d.sync += src_hold.eq(Mux(ii[0], bank_data[1], bank_data[0]))
        # M: both operands registered straight from the banks
        m_src = Signal(16)
        m_conf, m_r, m_i = Signal(), Signal(), Signal()
        m.d.sync += [mv.eq(rq_v), mg.eq(rq_gemm), m_dst.eq(rq_dst), m_src.eq(rq_src),
                     m_conf.eq(rq_conf), m_r.eq(dl_r[XG - 2]), m_i.eq(dl_i[XG - 2])]
        # X (operands: forwarded; GEMM adds), Y (ALU computes), WB and the write history
        # P1..P3 (written 1..3 cycles ago): the banks are read without write-through, so an
        # operand read at cycle t misses the writes of cycles >= t; those come from these
        # registers (selects compared in M against what WB will hold when the op is in X).
        x_r = Signal()
        x_raw, s_raw = Signal(acc_w, reset_less=True), Signal(acc_w, reset_less=True)
        yv, y_dst = Signal(), Signal(16)          # Y1
        y2v, y2_dst = Signal(), Signal(16)        # Y2
        y3v, y3_dst = Signal(), Signal(16)        # Y3
        x_op, y_op = Signal(acc_w, reset_less=True), Signal(acc_w, reset_less=True)
        wv, w_addr, w_data = Signal(), Signal(16), Signal(acc_w, reset_less=True)
        wn_v, wn_a = Signal(), Signal(16)       # what WB holds next cycle
        m.d.comb += [wn_v.eq((xv & xg) | y3v), wn_a.eq(Mux(xv & xg, x_dst, y3_dst))]
        hist = [(Signal(name=f"p{k}_v"), Signal(16, name=f"p{k}_a"),
                 Signal(acc_w, name=f"p{k}_d", reset_less=True)) for k in (1, 2, 3)]
        chain = [(wn_v, wn_a, None), (wv, w_addr, w_data)] + hist
        m.d.sync += [xv.eq(mv), xg.eq(mg), x_dst.eq(m_dst), x_r.eq(m_r),
                     x_raw.eq(Mux(m_dst[0], bank_data[1], bank_data[0])),
                     s_raw.eq(Mux(m_conf, src_hold, Mux(m_src[0], bank_data[1], bank_data[0])))]
        # forwarding selects, one-hot (the newest matching write wins) and registered in M; a
        # GEMM's own reset / init (its accumulator value ignored) clears them all, so X only ORs
        # the selected values into the GEMM adder
        kill = mg & (m_r | m_i)
        fx = [Signal(name=f"fx{k}") for k in range(5)]      # fx[4]: the bank value
        fs = [Signal(name=f"fs{k}") for k in range(5)]
        xg_now = xv & xg

        def hits(idx):
            # what WB holds next is X's GEMM result or Y3's ALU result: both compared, one
            # picked (the address mux is not in front of the compare)
            nxt = wn_v & Mux(xg_now, x_dst == idx, y3_dst == idx)
            return [mv & h for h in [nxt] + [v_ & (a_ == idx) for v_, a_, _d in chain[1:4]]]
        hit_x, hit_s = hits(m_dst), hits(m_src)
        m.d.sync += [f.eq(v) for f, v in zip(fx, one_hot(hit_x, kill))]
        m.d.sync += [f.eq(v) for f, v in zip(fs, one_hot(hit_s, Const(0)))]
        written = [chain[k + 1][2] for k in range(4)]
        x_all = Signal(acc_w)
        src_val = Signal(acc_w)
        m.d.comb += [x_all.eq(forward(written + [x_raw], fx)),
                     src_val.eq(forward(written + [s_raw], fs))]
        aw_ = c.acc_width
        dw = dot.dot_width
        gemm_lanes = []
        # The ALU's controls reach all lanes' bits (hundreds of loads each), so they leave
        # flip-flops: decoded from ``cur`` a cycle after it loads (its first micro-op reaches X
        # several cycles later, and ``cur`` holds while ALU micro-ops are in flight).
        use_imm = Signal(name="alu_use_imm", reset_less=True)
        imm = Signal(A["imm"].shape(), name="alu_imm", reset_less=True)
        m.d.sync += [use_imm.eq(A["use_imm"]), imm.eq(A["imm"])]
        y_in = []
        for k in range(acc_lanes_n):
            x = x_all[k * aw_:(k + 1) * aw_].as_signed()      # 0 for a GEMM reset or init
            d = dot.dot[k * dw:(k + 1) * dw].as_signed()
            add_g = make_adder(aw_, self.adder_arch, self.adder_style)
            m.submodules[f"acc_add{k}"] = add_g
            m.d.comb += [add_g.a.eq(x), add_g.b.eq(Mux(x_r, 0, d))]     # d sign-extended
            gemm_lanes.append(add_g.s[:aw_])
            y_in.append(Mux(use_imm, imm, src_val[k * aw_:(k + 1) * aw_].as_signed())[:aw_])
        m.d.sync += [yv.eq(xv & ~xg), y_dst.eq(x_dst), x_op.eq(x_all), y_op.eq(Cat(*y_in))]
        alu_lanes = self._alu(m, A, x_op, y_op)
        m.d.sync += [y2v.eq(yv), y2_dst.eq(y_dst), y3v.eq(y2v), y3_dst.eq(y2_dst)]
        m.d.sync += [wv.eq(wn_v), w_addr.eq(wn_a),
                     w_data.eq(Mux(xv & xg, Cat(*gemm_lanes), Cat(*alu_lanes)))]
        for k in range(3):
            src_ = (wv, w_addr, w_data) if k == 0 else hist[k - 1]
            m.d.sync += [hist[k][0].eq(src_[0]), hist[k][1].eq(src_[1]), hist[k][2].eq(src_[2])]
        self._write_ports(m, ld, wv, w_addr, w_data)
        pipe_busy = Cat(active, v_u, v_i, v_a, mv, xv, yv, y2v, y3v, wv, *dl_v).any()
        # A GEMM may retire while its last micro-ops are still in the pipeline when the next
        # instruction is a GEMM (or FINISH): they share the in-order pipeline, so the next
        # one sees every result (FINISH waits for the drain). Its input and weight reads are
        # all done by then, so a token to the load stage (which writes only those buffers)
        # may go; a token to the store stage (which reads accumulators) waits for the drain.
        head_op = self.next_insn[:3]
        Fc = fields(cur, "GEMM")
        overlap = (is_gemm & ~active & ~v_u & ~v_i & ~v_a & ~Fc["push_next"] & self.next_valid
                   & ((head_op == Opcode.GEMM) | (head_op == Opcode.FINISH)))
        done_ = ~start & ~ld_busy & (~pipe_busy | overlap) & ~halt_
        halt_now = halt_ & ~pipe_busy
        m.d.comb += [self.done.eq(done_), self.halt.eq(halt_now), self.index_error.eq(halt_)]
        return m
