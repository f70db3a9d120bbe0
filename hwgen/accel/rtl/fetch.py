"""The accelerator's fetch unit: reads the program, checks every instruction, dispatches it."""
from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import isa
from ..config import AccelConfig
from ..isa import AluOp, ErrorCode, MemType, Opcode
from .decode import fields
from .dma import BurstReader
from .stage import BEATS_WIDTH, connect_reader, log2, read_request_signature

FETCH_CHUNK = 8          # instructions per fetch read command


class Fetch(wiring.Component):
    """Reads ``count`` instructions from ``addr`` in chunks of :data:`FETCH_CHUNK`, checks each
    one (the static errors of :class:`~hwgen.accel.isa.ErrorCode`) and writes it into the queue
    of its stage; stops at FINISH, after the last instruction or at the first error.

    Attributes
    ----------
    go : start fetching (``count``, ``addr`` = DRAM_BASE + INSN_ADDR are read then)
    insn_count, window : INSN_COUNT and DRAM_LIMIT - DRAM_BASE of the run (stable)
    rd : to the read arbiter
    q_data, q_en, q_rdy : the stage queues (``q_en`` / ``q_rdy``: one bit per
        :class:`~hwgen.accel.isa.Stage`)
    error, index : the error code (0: none) and the index of the instruction being checked
    finish_seen, blocked, quiet : FINISH dispatched; a full queue stops dispatch; nothing moves
    fetched, stall : counter strobes
    """

    def __init__(self, config: AccelConfig):
        self.config = config
        c = config
        ns = len(isa.Stage)
        super().__init__({
            "go": In(1), "count": In(32), "addr": In(c.dram_addr_width),
            "insn_count": In(32), "window": In(33),
            "rd": Out(read_request_signature(c.dram_addr_width, c.axi_data_width)),
            "q_data": Out(isa.INSN_BITS), "q_en": Out(ns), "q_rdy": In(ns),
            "error": Out(4), "index": Out(32), "finish_seen": Out(1), "blocked": Out(1),
            "quiet": Out(1), "fetched": Out(1), "stall": Out(1),
        })

    def elaborate(self, platform):
        c = self.config
        m = Module()
        aw = c.dram_addr_width
        BW = c.axi_data_width
        eb_log2 = {mt: log2(c.element_bytes[mt.name.lower()]) for mt in MemType}
        m.submodules.reader = rd_fetch = BurstReader(addr_width=aw, data_width=BW,
                                                     beats_width=BEATS_WIDTH)
        connect_reader(m, rd_fetch, self.rd)
        window = self.window
        beats_per_insn = isa.INSN_BYTES // c.axi_bytes
        f_word = Signal(isa.INSN_BITS)
        f_beat = Signal(range(beats_per_insn + 1))
        f_index = self.index           # index of the instruction being checked / dispatched
        f_req_left = Signal(32)        # instructions not yet requested
        f_req_addr = Signal(aw)
        f_stopped = Signal()
        f_active = Signal()
        f_error = self.error
        f_code = Signal(4)
        f_target = Signal(2)
        with m.If(self.go):
            m.d.sync += [f_active.eq(1), f_req_left.eq(self.count), f_req_addr.eq(self.addr)]
        # read commands, one chunk at a time
        chunk = Signal(32)
        m.d.comb += chunk.eq(Mux(f_req_left > FETCH_CHUNK, FETCH_CHUNK, f_req_left))
        m.d.comb += [rd_fetch.cmd_valid.eq(f_active & ~f_stopped & (f_req_left != 0)),
                     rd_fetch.cmd_addr.eq(f_req_addr),
                     rd_fetch.cmd_beats.eq(chunk * beats_per_insn)]
        with m.If(rd_fetch.cmd_valid & rd_fetch.cmd_ready):
            m.d.sync += [f_req_left.eq(f_req_left - chunk),
                         f_req_addr.eq(f_req_addr + (chunk << 4))]
        f_blocked = self.blocked

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
            with m.If((op == Opcode.ALU) & (ins["ALU"]["alu_op"] > AluOp.MULSHR)):
                m.d.comb += f_code.eq(ErrorCode.ILLEGAL_INSN)
            with m.Elif((G["uop_begin"] > G["uop_end"]) | (G["uop_end"] > c.uop_depth)):
                m.d.comb += f_code.eq(ErrorCode.UOP_RANGE)
        m.d.comb += f_target.eq(Mux(to_load_stage, isa.Stage.LOAD,
                                    Mux(to_store_stage, isa.Stage.STORE, isa.Stage.COMPUTE)))
        f_room = Signal()
        m.d.comb += [f_room.eq(self.q_rdy.bit_select(f_target, 1)), self.q_data.eq(f_word)]
        m.d.comb += rd_fetch.out_ready.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.go):
                    m.next = "READ"
            with m.State("READ"):
                with m.If(f_stopped):
                    m.next = "DRAIN"
                with m.Else():
                    m.d.comb += rd_fetch.out_ready.eq(1)
                    with m.If(rd_fetch.out_valid):
                        m.d.sync += [f_word.eq(Cat(f_word[BW:], rd_fetch.out_data)),
                                f_beat.eq(f_beat + 1)]
                        with m.If(f_beat == beats_per_insn - 1):
                            m.d.sync += f_beat.eq(0)
                            m.next = "PRE"
            with m.State("PRE"):
                m.d.sync += [rows.eq(L["y_pad0"] + L["y_size"] + L["y_pad1"]),
                             cols.eq(L["x_pad0"] + L["x_size"] + L["x_pad1"]),
                             ym1.eq(L["y_size"] - 1)]
                m.next = "MUL"
            with m.State("MUL"):
                m.d.sync += [prod_y.eq(ym1 * L["x_stride"]), prod_e.eq(rows * cols)]
                m.next = "SUM"
            with m.State("SUM"):
                m.d.sync += [end_bytes.eq(end_elems << elog), sram_end.eq(L["sram_base"] + prod_e)]
                m.next = "CHECK"
            with m.State("CHECK"):
                with m.If(f_stopped):
                    m.next = "DRAIN"
                with m.Elif(f_code != 0):
                    m.d.sync += [f_stopped.eq(1), f_error.eq(f_code)]
                    m.next = "DRAIN"
                with m.Else():
                    m.next = "DISPATCH"
            with m.State("DISPATCH"):
                with m.If(f_stopped):
                    m.next = "DRAIN"
                with m.Elif(f_room):
                    m.d.comb += [self.q_en.eq(1 << f_target), self.fetched.eq(1)]
                    m.d.sync += f_index.eq(f_index + 1)
                    with m.If(op == Opcode.FINISH):
                        m.d.sync += [f_stopped.eq(1), self.finish_seen.eq(1)]
                        m.next = "DRAIN"
                    with m.Elif(f_index + 1 == self.insn_count):
                        m.d.sync += f_stopped.eq(1)
                        m.next = "DRAIN"
                    with m.Else():
                        m.next = "READ"
                with m.Else():
                    m.d.comb += [f_blocked.eq(1), self.stall.eq(1)]
            with m.State("DRAIN"):
                m.d.comb += rd_fetch.out_ready.eq(1)
        m.d.comb += self.quiet.eq(~f_active | (f_stopped & rd_fetch.idle)
                                   | (f_blocked & rd_fetch.quiet))
        return m
