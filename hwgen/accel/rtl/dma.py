"""AXI4 DMA building blocks: a read arbiter shared by several read clients, per-client burst
readers with credit-based flow control, and a burst writer.

All transfers are in whole beats at beat-aligned byte addresses; bursts are at most
:data:`MAX_BURST` beats (AXI3-compatible, so Zynq HP ports take them) and, as they start on a
``MAX_BURST``-beat boundary or end at one, never cross a 4 KiB boundary. A reader issues a burst
only when its receive FIFO has room for all of it, so the shared R channel is never blocked by a
slow client (no head-of-line deadlock). Address-window checks happen before a command reaches
these blocks (in :mod:`.fetch`): nothing here can issue an address that was not checked.
"""
from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

MAX_BURST = 16
LOG2_MAX_BURST = 4


def _burst_len(addr_beats: Signal, left: Signal):
    """Beats in the next burst: up to the next MAX_BURST-aligned beat boundary, at most ``left``."""
    to_boundary = MAX_BURST - addr_beats[:LOG2_MAX_BURST]
    return Mux(left < to_boundary, left, to_boundary)


class BurstReader(wiring.Component):
    """Reads ``beats`` beats from ``addr`` into a FIFO, as bursts through a :class:`ReadArbiter`.

    Attributes
    ----------
    cmd_* : command (valid/ready handshake)
    ar_* : burst requests to the arbiter (valid/ready)
    r_valid, r_data : beats from the arbiter (always accepted: credits guarantee room)
    out_valid, out_ready, out_data : the beat stream to the client
    idle : no command running and nothing in flight
    """

    def __init__(self, *, addr_width: int, data_width: int, beats_width: int = 20,
                 fifo_depth: int = 2 * MAX_BURST):
        self.addr_width, self.data_width, self.fifo_depth = addr_width, data_width, fifo_depth
        self.beat_shift = (data_width // 8).bit_length() - 1
        super().__init__({
            "cmd_valid": In(1), "cmd_ready": Out(1), "cmd_addr": In(addr_width),
            "cmd_beats": In(beats_width),
            "ar_valid": Out(1), "ar_ready": In(1), "ar_addr": Out(addr_width), "ar_len": Out(8),
            "r_valid": In(1), "r_data": In(data_width),
            "out_valid": Out(1), "out_ready": In(1), "out_data": Out(data_width),
            "idle": Out(1), "quiet": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=self.data_width, depth=self.fifo_depth)
        busy = Signal()
        addr_beats = Signal(self.addr_width - self.beat_shift)
        left = Signal.like(self.cmd_beats)
        credit = Signal(range(self.fifo_depth + 1), init=self.fifo_depth)
        inflight = Signal(range(self.fifo_depth + 1))
        # The next burst's length and whether the FIFO has room for it are registered (the
        # request path to the arbiter starts at flip-flops); `fresh` drops for the cycle after
        # the address or length changed. Credit only grows meanwhile, so `room` is never
        # optimistic.
        blen = Signal(LOG2_MAX_BURST + 1)
        fresh = Signal()
        room = Signal()
        m.d.sync += [blen.eq(_burst_len(addr_beats, left)), fresh.eq(1),
                     room.eq(credit >= _burst_len(addr_beats, left))]

        m.d.comb += [
            self.cmd_ready.eq(~busy),
            self.ar_valid.eq(busy & fresh & room),
            self.ar_addr.eq(addr_beats << self.beat_shift),
            self.ar_len.eq(blen - 1),
            fifo.w_en.eq(self.r_valid),
            fifo.w_data.eq(self.r_data),
            self.out_valid.eq(fifo.r_rdy),
            self.out_data.eq(fifo.r_data),
            fifo.r_en.eq(self.out_ready),
            self.idle.eq(~busy & (credit == self.fifo_depth)),
        ]
        with m.If(self.cmd_valid & self.cmd_ready):
            m.d.sync += [addr_beats.eq(self.cmd_addr >> self.beat_shift), left.eq(self.cmd_beats),
                         busy.eq(self.cmd_beats != 0), fresh.eq(0)]
        with m.Elif(self.ar_valid & self.ar_ready):
            m.d.sync += [addr_beats.eq(addr_beats + blen), left.eq(left - blen),
                         busy.eq(left != blen), fresh.eq(0)]
        popped = fifo.r_rdy & fifo.r_en
        took = self.ar_valid & self.ar_ready
        m.d.sync += credit.eq(credit - Mux(took, blen, 0) + popped)
        # Beats requested but not yet received: `quiet` means nothing is on the bus for us.
        m.d.sync += inflight.eq(inflight + Mux(took, blen, 0) - self.r_valid)
        m.d.comb += self.quiet.eq((inflight == 0) & ~self.ar_valid)
        return m


class ReadArbiter(wiring.Component):
    """Round-robin arbiter of ``n`` burst readers onto one AXI4 read channel.

    R beats are routed in request order (one ID, so the subordinate returns them in order).
    ``rresp`` errors raise ``bus_error`` (sticky until reset).
    """

    def __init__(self, n: int, *, addr_width: int, data_width: int, depth: int = 8):
        self.n, self.depth = n, depth
        self.addr_width, self.data_width = addr_width, data_width
        ports = {"bus_error": Out(1)}
        for i in range(n):
            ports |= {f"ar{i}_valid": In(1), f"ar{i}_ready": Out(1), f"ar{i}_addr": In(addr_width),
                      f"ar{i}_len": In(8), f"r{i}_valid": Out(1), f"r{i}_data": Out(data_width)}
        ports |= {"araddr": Out(addr_width), "arlen": Out(8), "arvalid": Out(1), "arready": In(1),
                  "rdata": In(data_width), "rresp": In(2), "rlast": In(1), "rvalid": In(1),
                  "rready": Out(1)}
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        n = self.n
        idw = max(1, (n - 1).bit_length())
        m.submodules.route = route = SyncFIFOBuffered(width=idw, depth=self.depth)
        last = Signal(idw)       # last client granted (round robin)
        grant = Signal(idw)
        any_req = Signal()
        reqs = [getattr(self, f"ar{i}_valid") for i in range(n)]
        # Priority starting after `last`.
        with m.Switch(last):
            for l in range(n):
                with m.Case(l):
                    order = [(l + 1 + k) % n for k in range(n)]
                    for i in reversed(order):
                        with m.If(reqs[i]):
                            m.d.comb += grant.eq(i)
        m.d.comb += any_req.eq(Cat(*reqs).any())
        # Registered AR output (an AXI valid must hold until ready).
        arvalid = Signal()
        m.d.comb += self.arvalid.eq(arvalid)
        can_take = ~arvalid | self.arready
        with m.If(self.arvalid & self.arready):
            m.d.sync += arvalid.eq(0)
        with m.If(can_take & any_req & route.w_rdy):
            m.d.sync += [arvalid.eq(1), last.eq(grant)]
            with m.Switch(grant):
                for i in range(n):
                    with m.Case(i):
                        m.d.sync += [self.araddr.eq(getattr(self, f"ar{i}_addr")),
                                     self.arlen.eq(getattr(self, f"ar{i}_len"))]
                        m.d.comb += getattr(self, f"ar{i}_ready").eq(1)
            m.d.comb += [route.w_en.eq(1), route.w_data.eq(grant)]
        # R routing.
        m.d.comb += self.rready.eq(route.r_rdy)
        beat = self.rvalid & self.rready
        for i in range(n):
            m.d.comb += [getattr(self, f"r{i}_valid").eq(beat & (route.r_data == i)),
                         getattr(self, f"r{i}_data").eq(self.rdata)]
        m.d.comb += route.r_en.eq(beat & self.rlast)
        with m.If(beat & (self.rresp != 0)):
            m.d.sync += self.bus_error.eq(1)
        return m


class BurstWriter(wiring.Component):
    """Writes ``beats`` beats (data and strobes from a stream) to ``addr`` as AXI4 bursts.

    The address channel runs ahead of the data; a FIFO of burst lengths gives ``wlast``.
    ``idle`` is high when no command runs and every write response has come back.
    """

    def __init__(self, *, addr_width: int, data_width: int, beats_width: int = 20):
        self.addr_width, self.data_width = addr_width, data_width
        self.beat_shift = (data_width // 8).bit_length() - 1
        super().__init__({
            "cmd_valid": In(1), "cmd_ready": Out(1), "cmd_addr": In(addr_width),
            "cmd_beats": In(beats_width),
            "in_valid": In(1), "in_ready": Out(1), "in_data": In(data_width),
            "in_strb": In(data_width // 8),
            "awaddr": Out(addr_width), "awlen": Out(8), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wlast": Out(1),
            "wvalid": Out(1), "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "idle": Out(1), "bus_error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.lens = lens = SyncFIFOBuffered(width=LOG2_MAX_BURST + 1, depth=8)
        busy = Signal()
        addr_beats = Signal(self.addr_width - self.beat_shift)
        left = Signal.like(self.cmd_beats)
        blen = Signal(LOG2_MAX_BURST + 1)
        m.d.comb += blen.eq(_burst_len(addr_beats, left))
        owed = Signal(8)          # bursts whose response has not come back
        awvalid = Signal()
        m.d.comb += [self.awvalid.eq(awvalid), self.cmd_ready.eq(~busy & ~awvalid)]
        with m.If(self.cmd_valid & self.cmd_ready):
            m.d.sync += [addr_beats.eq(self.cmd_addr >> self.beat_shift), left.eq(self.cmd_beats),
                         busy.eq(self.cmd_beats != 0)]
        aw_take = self.awvalid & self.awready
        with m.If(aw_take):
            m.d.sync += awvalid.eq(0)
        issue = busy & (~awvalid | self.awready) & lens.w_rdy & (owed < 128)
        with m.If(issue):
            m.d.sync += [awvalid.eq(1), self.awaddr.eq(addr_beats << self.beat_shift),
                         self.awlen.eq(blen - 1), addr_beats.eq(addr_beats + blen),
                         left.eq(left - blen), busy.eq(left != blen)]
            m.d.comb += [lens.w_en.eq(1), lens.w_data.eq(blen)]
        # W channel: beats counted against the head burst length.
        cnt = Signal(LOG2_MAX_BURST + 1)
        m.d.comb += [
            self.wvalid.eq(self.in_valid & lens.r_rdy),
            self.in_ready.eq(self.wready & lens.r_rdy),
            self.wdata.eq(self.in_data), self.wstrb.eq(self.in_strb),
            self.wlast.eq(cnt + 1 == lens.r_data),
        ]
        w_take = self.wvalid & self.wready
        with m.If(w_take):
            with m.If(self.wlast):
                m.d.sync += cnt.eq(0)
                m.d.comb += lens.r_en.eq(1)
            with m.Else():
                m.d.sync += cnt.eq(cnt + 1)
        m.d.comb += self.bready.eq(1)
        b_take = self.bvalid & self.bready
        m.d.sync += owed.eq(owed + issue - b_take)
        with m.If(b_take & (self.bresp != 0)):
            m.d.sync += self.bus_error.eq(1)
        m.d.comb += self.idle.eq(~busy & ~awvalid & (owed == 0) & (lens.level == 0))
        return m
