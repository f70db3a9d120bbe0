"""Amaranth generators: the streaming :class:`LineBuffer` and the :class:`DepthwiseConv` engine.

How the line buffer streams (one input pixel per cycle, padding included)
------------------------------------------------------------------------
The buffer keeps the last K-1 rows in one block RAM word per column (``(K-1) x C x data_width``
bits wide, ``max_width`` deep): each step reads the word of its column, emits the vertical
K-pixel column (those K-1 rows plus the new pixel) into a K-column window register, and writes the
word back shifted by one row. A window ``(oy, ox)`` of the padded image is complete at the step of
stream position ``(oy*s - top + K-1, ox*s - left + K-1)``; columns past the right edge fall into
the next row and rows past the bottom into the next frame, so padding costs no input cycle: pad
pixels are substituted by position masks when the window leaves. Because top+bottom and
left+right are at most K-1, no two windows fall on the same step, and the next frame's first
window always comes after the last window of the previous frame.

The steps after a frame's last pixel are taken by the next frame's pixels when it follows at once
(same width; frames stream back to back without a bubble), or by internal dummy steps while the
input is idle, so the last windows of a frame never wait for the next frame.

Each input beat first enters a register slice (two entries, so tready comes from a register and
the rate stays one beat per cycle) together with the run-time size sampled with it and that
size's frame geometry (output rows and columns, padding, first emission step), so no port and no
geometry arithmetic sits on the control paths.

A pixel split into beats (``channels_per_beat``) makes each step ``beats_per_pixel`` beats long,
one beat per cycle: the memory is that many times deeper and narrower (the same bits), the
control decides at a step's first beat and holds its decisions for the others, and the window's
older columns come out of a delay line of (K-1) x beats_per_pixel beats.
"""
from __future__ import annotations

from types import SimpleNamespace

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from ..adders.rtl import balanced_sum
from .config import SHIFT_WIDTH, DepthwiseConfig, LineBufferConfig
from .model import DEPTHWISE_LATENCY, LINEBUF_LATENCY  # re-exported: the cycle constants

#: Output beats the depthwise engine's FIFO holds (the pipeline never stalls; see DepthwiseConv).
OUT_FIFO_DEPTH = 16


def axis_signature(width: int, user: bool = False) -> wiring.Signature:
    """An AXI4-Stream source: ``tdata``, ``tvalid``, ``tready`` (in), ``tlast`` and optionally a
    one-bit ``tuser``. In Verilog the members are named ``<port>__tdata`` and so on."""
    members = {"tdata": Out(width), "tvalid": Out(1), "tready": In(1), "tlast": Out(1)}
    if user:
        members["tuser"] = Out(1)
    return wiring.Signature(members)


def _cmul(value, const: int):
    """``value * const`` for a small non-negative constant, as shifts and adds (no multiplier)."""
    terms = [value << i for i in range(const.bit_length()) if const >> i & 1]
    if not terms:
        return Const(0, 1)
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return out


class _Geometry:
    """Frame geometry as expressions of run-time height ``h`` and width ``w`` (see the model)."""

    def __init__(self, cfg: LineBufferConfig, h, w):
        k, s = cfg.kernel, cfg.stride
        self.h, self.w = h, w
        t, b = self._pads(cfg, h, 0)
        l, r = self._pads(cfg, w, 2)
        self.t, self.l = t, l
        self.oh = self._out(k, s, h, t, b)
        self.ow = self._out(k, s, w, l, r)
        # First emission step: (K-1-t) rows and (K-1-l) columns into the frame.
        self.first = self._sel(cfg, h, lambda tv: _cmul(w, k - 1 - tv), 0) + (k - 1 - l)
        # Steps from a row's last window to the next row's first one.
        self.row_delta = (w - self.ow + 1) << (s - 1)

    @staticmethod
    def _pad_consts(cfg, odd: bool, side: int) -> tuple[int, int]:
        k, s, pad = cfg.kernel, cfg.stride, cfg.padding
        if pad == "none":
            return 0, 0
        if pad == "same":
            total = k - 1 if (s == 1 or odd) else max(k - 2, 0)
            return total // 2, total - total // 2
        return pad[side], pad[side + 1]

    @classmethod
    def _pads(cls, cfg, size, side):
        even, odd = cls._pad_consts(cfg, False, side), cls._pad_consts(cfg, True, side)
        if even == odd:
            return Const(even[0], 3), Const(even[1], 3)
        return Mux(size[0], odd[0], even[0]), Mux(size[0], odd[1], even[1])

    @classmethod
    def _sel(cls, cfg, size, fn, side):
        even, odd = cls._pad_consts(cfg, False, side)[0], cls._pad_consts(cfg, True, side)[0]
        if even == odd:
            return fn(even)
        return Mux(size[0], fn(odd), fn(even))

    @staticmethod
    def _out(k, s, size, before, after):
        padded = size + before + after
        return Mux(padded >= k, ((padded - k) >> (s - 1)) + 1, 0)


class LineBuffer(wiring.Component):
    """Turns a pixel stream into a stream of KxK windows, padding and stride included.

    Ports
    -----
    s_axis : AXI4-Stream sink of pixels, each in ``beats_per_pixel`` beats of ``channels_per_beat``
        channels (one beat of all channels by default); beat ``j`` holds channel
        ``j*channels_per_beat + c`` at bit ``c * data_width``. ``tlast`` on the last beat of every
        row. One beat per cycle at full rate.
    m_axis : AXI4-Stream source of windows, split into beats the same way: beat ``j`` holds
        element ``[ky][kx][j*channels_per_beat + c]`` at bit
        ``((ky*K + kx)*channels_per_beat + c) * data_width``; ``tlast`` on the last beat of an
        output row, ``tuser`` on the first beat of a frame.
    width, height : run-time image size (1..max), sampled with a frame's first pixel.
    err_short_row, err_long_row : sticky; set when ``tlast`` comes before the row's last pixel, or
        does not come on it. ``err_size``: sticky; a frame started with a size out of range (it is
        then clamped into range). All clear only on reset.

    Attributes
    ----------
    config : LineBufferConfig
    """

    def __init__(self, config: LineBufferConfig):
        if not isinstance(config, LineBufferConfig):
            self._MustUse__silence = True    # never elaborated: no "created but never used" warning
            raise TypeError(f"LineBuffer needs a LineBufferConfig, not {type(config).__name__}")
        self.config = config
        super().__init__({
            "s_axis": In(axis_signature(config.beat_width)),
            "m_axis": Out(axis_signature(config.window_width, user=True)),
            "width": In(range(config.max_width + 1)),
            "height": In(range(config.max_height + 1)),
            "err_short_row": Out(1),
            "err_long_row": Out(1),
            "err_size": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        k, s, dw = cfg.kernel, cfg.stride, cfg.data_width
        bc, bw = cfg.beat_channels, cfg.beat_width
        mw, mh = cfg.max_width, cfg.max_height
        sa, ma = self.s_axis, self.m_axis

        advance = Signal()
        m.d.comb += advance.eq(~ma.tvalid | ma.tready)

        dbits = bits_for((k - 1) * mw + k + 2 * mw + 2)

        # --- input register slice ----------------------------------------------------------
        # Each beat is registered together with the run-time size sent with it (clamped into
        # range) and that size's frame geometry, so neither the ports nor the geometry arithmetic
        # sit on the control paths. A second (skid) entry keeps the full rate with tready
        # coming from a register.
        size_h, size_w = Signal(range(mh + 1)), Signal(range(mw + 1))
        m.d.comb += [
            size_h.eq(Mux(self.height == 0, 1, Mux(self.height > mh, mh, self.height))),
            size_w.eq(Mux(self.width == 0, 1, Mux(self.width > mw, mw, self.width))),
        ]
        g_in = _Geometry(cfg, size_h, size_w)
        fields = [("data", bw, sa.tdata), ("last", 1, sa.tlast), ("h", range(mh + 1), size_h),
                  ("w", range(mw + 1), size_w), ("h1", range(mh), size_h - 1),
                  ("w1", range(mw), size_w - 1),
                  ("bad", 1, (self.height == 0) | (self.height > mh) | (self.width == 0)
                   | (self.width > mw)),
                  ("t", 3, g_in.t), ("l", 3, g_in.l), ("has", 1, (g_in.oh != 0) & (g_in.ow != 0)),
                  # Output rows and columns minus one (last-window compares without a subtractor).
                  ("oh", range(mh + 1), g_in.oh - 1), ("ow", range(mw + 1), g_in.ow - 1),
                  ("first", dbits, g_in.first),
                  ("rd", dbits, g_in.row_delta)]
        head = {n: Signal(shape, name=f"in_{n}") for n, shape, _ in fields}
        skid = {n: Signal(shape, name=f"skid_{n}") for n, shape, _ in fields}
        head_valid, skid_valid, take_beat = Signal(), Signal(), Signal()
        in_fire = sa.tvalid & ~skid_valid
        m.d.comb += sa.tready.eq(~skid_valid)
        with m.If(take_beat | ~head_valid):
            with m.If(skid_valid):
                m.d.sync += [head_valid.eq(1), skid_valid.eq(0)]
                m.d.sync += [head[n].eq(skid[n]) for n, _, _ in fields]
            with m.Else():
                m.d.sync += head_valid.eq(in_fire)
                m.d.sync += [head[n].eq(v) for n, _, v in fields]
        with m.Elif(in_fire):
            m.d.sync += skid_valid.eq(1)
            m.d.sync += [skid[n].eq(v) for n, _, v in fields]
        hc, wc = head["h"], head["w"]

        # The geometry of a frame starting with the head beat.
        gp = SimpleNamespace(t=head["t"], l=head["l"], oh=head["oh"], ow=head["ow"],
                             first=head["first"], row_delta=head["rd"])
        in_busy = Signal()
        iy = Signal(range(max(mh, 2)))
        col = Signal(range(max(mw, 2)))
        i_h, i_w = Signal(range(mh + 1), init=1), Signal(range(mw + 1), init=1)
        i_h1, i_w1 = Signal(range(mh)), Signal(range(mw))      # minus one: compares, no subtractor
        out_busy = Signal()
        o_h, o_w = Signal(range(mh + 1), init=1), Signal(range(mw + 1), init=1)
        o_w1 = Signal(range(mw))
        oy, ox = Signal(range(mh + 1)), Signal(range(mw + 1))
        ry = Signal(signed(bits_for(mh + 2 * k) + 1))
        cx = Signal(signed(bits_for(mw + 2 * k) + 1))
        d = Signal(dbits)
        pend = Signal()
        d2 = Signal(dbits)
        # Geometry of the emitting frame, kept in registers (no adders on the control paths;
        # o_oh and o_ow hold the output rows and columns minus one).
        o_oh, o_ow = Signal(range(mh + 1)), Signal(range(mw + 1))
        o_rd, o_l = Signal(dbits), Signal(3)
        # Geometry of the frame being received.
        i_t, i_l = Signal(3), Signal(3)
        i_oh, i_ow = Signal(range(mh + 1)), Signal(range(mw + 1))
        i_rd = Signal(dbits)

        # --- which step (if any) this cycle -------------------------------------------------
        # A step is one pixel position; with nb beats per pixel it lasts nb beats. The control
        # below decides at a step's first beat; the step's other beats follow it (from the input
        # for a real step, internally for a dummy one) and reuse its decisions.
        nb = cfg.beats_per_pixel
        bi = Signal(range(max(nb, 2)))          # beat of the current step
        mid, mid_real = Signal(), Signal()
        m.d.comb += mid.eq(bi != 0)
        last_beat = (bi == nb - 1) if nb > 1 else Const(1, 1)

        start_ok = ~pend & (~out_busy | (~in_busy & (col == 0) & (wc == o_w)))
        take_real, take_dummy, step, start, beat = Signal(), Signal(), Signal(), Signal(), Signal()
        m.d.comb += [
            take_beat.eq(head_valid & advance & Mux(mid, mid_real, in_busy | start_ok)),
            take_real.eq(take_beat & ~mid),
            start.eq(take_real & ~in_busy),
            take_dummy.eq(advance & out_busy & ~in_busy & ~take_beat & ~mid),
            step.eq(take_real | take_dummy),
            beat.eq(Mux(mid, Mux(mid_real, take_beat, advance), step)),
        ]
        if nb > 1:
            with m.If(beat):
                m.d.sync += bi.eq(Mux(last_beat, 0, bi + 1))
            with m.If(step):
                m.d.sync += mid_real.eq(take_real)

        cur_h1 = Mux(in_busy, i_h1, head["h1"])
        cur_y = Mux(in_busy, iy, 0)
        # A step's row width: the frame being received, else the one still emitting (dummy steps,
        # or a next frame starting with the same width), else the new frame's. Not a function of
        # take_real, which keeps the handshake off this path.
        step_w1 = Mux(in_busy, i_w1, Mux(out_busy, o_w1, head["w1"]))
        col_end = col == step_w1
        frame_end = col_end & (cur_y == cur_h1)
        in_busy_next = Mux(take_real, ~frame_end, in_busy)

        # TLAST belongs on the last beat of a row's last pixel.
        row_end = Signal()
        if nb > 1:
            row_end_l = Signal()
            with m.If(step):
                m.d.sync += row_end_l.eq(col_end)
            m.d.comb += row_end.eq(Mux(mid, row_end_l, col_end) & last_beat)
        else:
            m.d.comb += row_end.eq(col_end)
        with m.If(take_beat):
            with m.If(head["last"] & ~row_end):
                m.d.sync += self.err_short_row.eq(1)
            with m.If(~head["last"] & row_end):
                m.d.sync += self.err_long_row.eq(1)
        with m.If(take_real):
            m.d.sync += [in_busy.eq(~frame_end), iy.eq(Mux(col_end, cur_y + 1, cur_y))]
        with m.If(start):
            m.d.sync += [i_h.eq(hc), i_w.eq(wc), i_h1.eq(head["h1"]), i_w1.eq(head["w1"]),
                         i_t.eq(gp.t), i_l.eq(gp.l), i_oh.eq(gp.oh),
                         i_ow.eq(gp.ow), i_rd.eq(gp.row_delta)]
            with m.If(head["bad"]):
                m.d.sync += self.err_size.eq(1)

        # --- the frame whose windows are emitted (the effective values for this step) ------------
        has_out_p = head["has"]
        new_out = start & ~out_busy & has_out_p
        active = out_busy | new_out

        def pick(a, b):
            return Mux(out_busy, a, b)
        e_d = pick(d, gp.first)
        e_oy, e_ox = pick(oy, 0), pick(ox, 0)
        e_ry, e_cx = pick(ry, -gp.t), pick(cx, -gp.l)
        e_h, e_w, e_w1 = pick(o_h, hc), pick(o_w, wc), pick(o_w1, head["w1"])
        e_oh, e_ow = pick(o_oh, gp.oh), pick(o_ow, gp.ow)
        e_rd, e_l = pick(o_rd, gp.row_delta), pick(o_l, gp.l)

        emit, last_col, last_row, done = Signal(), Signal(), Signal(), Signal()
        m.d.comb += [
            emit.eq(step & active & (e_d == 0)),
            last_col.eq(e_ox == e_ow),
            last_row.eq(e_oy == e_oh),
            done.eq(emit & last_col & last_row),
        ]

        # A frame that started while the previous one still emits: its countdown runs alongside.
        pend_start = start & out_busy & has_out_p
        pend_eff = pend | pend_start
        e_d2 = Mux(pend, d2, gp.first)
        p_h, p_w, p_w1 = Mux(pend, i_h, hc), Mux(pend, i_w, wc), Mux(pend, i_w1, head["w1"])
        p_t, p_l = Mux(pend, i_t, gp.t), Mux(pend, i_l, gp.l)
        p_oh, p_ow = Mux(pend, i_oh, gp.oh), Mux(pend, i_ow, gp.ow)
        p_rd = Mux(pend, i_rd, gp.row_delta)

        with m.If(step & active):
            m.d.sync += [out_busy.eq(1), o_h.eq(e_h), o_w.eq(e_w), o_w1.eq(e_w1), oy.eq(e_oy), ox.eq(e_ox),
                         ry.eq(e_ry), cx.eq(e_cx), d.eq(e_d - 1),
                         o_oh.eq(e_oh), o_ow.eq(e_ow), o_rd.eq(e_rd), o_l.eq(e_l)]
            with m.If(emit):
                with m.If(done):
                    with m.If(pend_eff):
                        m.d.sync += [o_h.eq(p_h), o_w.eq(p_w), o_w1.eq(p_w1), oy.eq(0), ox.eq(0),
                                     ry.eq(-p_t), cx.eq(-p_l), d.eq(e_d2 - 1),
                                     o_oh.eq(p_oh), o_ow.eq(p_ow), o_rd.eq(p_rd), o_l.eq(p_l)]
                    with m.Else():
                        m.d.sync += out_busy.eq(0)
                with m.Elif(last_col):
                    m.d.sync += [d.eq(e_rd - 1), oy.eq(e_oy + 1), ox.eq(0),
                                 ry.eq(e_ry + s), cx.eq(-e_l)]
                with m.Else():
                    m.d.sync += [d.eq(s - 1), ox.eq(e_ox + 1), cx.eq(e_cx + s)]
        with m.If(step & pend_eff):
            m.d.sync += [pend.eq(~done), d2.eq(e_d2 - 1)]

        # The next step's column: 0 after a row's last pixel, and after a frame's last window
        # when nothing follows (realign: the next frame starts at column 0).
        wrap = Signal()
        m.d.comb += wrap.eq(col_end | (done & ~pend_eff & ~in_busy_next))
        with m.If(step):
            m.d.sync += col.eq(Mux(wrap, 0, col + 1))

        # Line-memory address of the beat: column x nb + beat, counted along.
        addr = Signal(range(max(mw * nb, 2)))
        if nb > 1:
            wrap_l = Signal()
            with m.If(step):
                m.d.sync += wrap_l.eq(wrap)
            with m.If(beat):
                m.d.sync += addr.eq(Mux(last_beat & wrap_l, 0, addr + 1))
        else:
            m.d.comb += addr.eq(col)

        # Position masks of the emitted window (padding), and stream flags.
        row_ok = Signal(k)
        col_ok = Signal(k)
        for i in range(k):
            m.d.comb += [
                row_ok[i].eq((e_ry + i >= 0) & (e_ry + i < e_h)),
                col_ok[i].eq((e_cx + i >= 0) & (e_cx + i < e_w)),
            ]

        # --- data path: stage B (line memory read data valid), then the output register --------
        # A step's decisions (emit, flags, masks) are taken at its first beat and held for the
        # others; the pixel data, the address and the beat number move with every beat.
        b_valid, b_emit, b_last, b_user = Signal(), Signal(), Signal(), Signal()
        b_pix = Signal(bw)
        b_addr = Signal.like(addr)
        b_bi = Signal.like(bi)
        b_row_ok, b_col_ok = Signal(k), Signal(k)
        with m.If(advance):
            m.d.sync += b_valid.eq(beat)
            with m.If(beat):
                m.d.sync += [b_pix.eq(Mux(take_beat, head["data"], 0)), b_addr.eq(addr), b_bi.eq(bi)]
            with m.If(step):
                m.d.sync += [b_emit.eq(emit), b_last.eq(last_col), b_user.eq((e_oy == 0) & (e_ox == 0)),
                             b_row_ok.eq(row_ok), b_col_ok.eq(col_ok)]

        if k > 1:
            mem = memory.Memory(shape=unsigned((k - 1) * bw), depth=max(mw * nb, 2), init=[])
            m.submodules.lines = mem
            wp = mem.write_port()
            rp = mem.read_port(transparent_for=(wp,))
            rows = [rp.data[i * bw:(i + 1) * bw] for i in range(k - 1)]
            m.d.comb += [
                rp.addr.eq(addr), rp.en.eq(advance),
                wp.addr.eq(b_addr), wp.en.eq(advance & b_valid),
                wp.data.eq(Cat(*rows[1:], b_pix)),
            ]
            column = Cat(*rows, b_pix)
        else:
            column = b_pix
        colw = k * bw

        # The K-1 previous columns of the window, per beat: a delay line of (K-1) x nb beats
        # whose every nb-th entry is a column; the newest column comes straight from memory.
        line = [Signal(colw, name=f"win_beat{j}") for j in range((k - 1) * nb)]
        with m.If(advance & b_valid):
            for j, reg in enumerate(line):
                m.d.sync += reg.eq(line[j - 1] if j else column)
        cols = [line[(k - 1 - kx) * nb - 1] for kx in range(k - 1)] + [column]

        pad = Const(cfg.pad_bits, dw)
        pad_pixel = Cat(*[pad] * bc)
        elems = []
        for ky in range(k):
            for kx in range(k):
                pix = cols[kx][ky * bw:(ky + 1) * bw]
                elems.append(Mux(b_row_ok[ky] & b_col_ok[kx], pix, pad_pixel))
        first_beat = (b_bi == 0) if nb > 1 else Const(1, 1)
        final_beat = (b_bi == nb - 1) if nb > 1 else Const(1, 1)
        with m.If(advance):
            m.d.sync += ma.tvalid.eq(b_valid & b_emit)
            with m.If(b_valid & b_emit):
                m.d.sync += [ma.tdata.eq(Cat(*elems)), ma.tlast.eq(b_last & final_beat),
                             ma.tuser.eq(b_user & first_beat)]
        return m


class DepthwiseConv(wiring.Component):
    """KxK depthwise convolution with per-channel bias and requantization, on a pixel stream.

    Computes, per output pixel and channel ``c`` (see :func:`hwgen.linebuf.model.depthwise_reference`)::

        acc = sum_{ky,kx} window[ky][kx][c] * weight[ky][kx][c]
        y   = clamp(((acc + bias[c]) * multiplier[c] + round) >> shift[c], lo, hi)

    Ports
    -----
    s_axis, width, height, err_* : as for :class:`LineBuffer` (signed ``data_width`` activations).
    m_axis : output pixels of the same kind, in the same beats (``channels_per_beat`` channels
        each; ``tlast`` on the last beat of an output row, ``tuser`` on a frame's first beat).
    param_wr_en, param_wr_addr, param_wr_data : the parameter write port. A write with address
        ``c < channels`` sets channel ``c``'s record: from bit 0, K*K weights in ``[ky][kx]`` order
        (``weight_width`` bits each), then bias (``bias_width``), multiplier (``multiplier_width``)
        and shift (6 bits). Address ``channels`` sets the clamp: ``lo`` in bits ``0..data_width-1``
        and ``hi`` above it (reset: the full signed range). Write while no frame is streaming.
    """

    def __init__(self, config: DepthwiseConfig):
        if not isinstance(config, DepthwiseConfig):
            self._MustUse__silence = True    # never elaborated: no "created but never used" warning
            raise TypeError(f"DepthwiseConv needs a DepthwiseConfig, not {type(config).__name__}")
        self.config = config
        super().__init__({
            "s_axis": In(axis_signature(config.beat_width)),
            "m_axis": Out(axis_signature(config.beat_width, user=True)),
            "width": In(range(config.max_width + 1)),
            "height": In(range(config.max_height + 1)),
            "param_wr_en": In(1),
            "param_wr_addr": In(range(config.channels + 1)),
            "param_wr_data": In(config.param_width),
            "err_short_row": Out(1),
            "err_long_row": Out(1),
            "err_size": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        k, c, dw, ww = cfg.kernel, cfg.channels, cfg.data_width, cfg.weight_width
        p, g_n, gpb = cfg.channels_per_cycle, cfg.groups, cfg.groups_per_beat
        bc = cfg.beat_channels
        bw, mlw = cfg.bias_width, cfg.multiplier_width
        taps = k * k
        ma = self.m_axis

        m.submodules.linebuf = lb = LineBuffer(cfg.linebuf)
        wiring.connect(m, wiring.flipped(self.s_axis), lb.s_axis)
        m.d.comb += [lb.width.eq(self.width), lb.height.eq(self.height),
                     self.err_short_row.eq(lb.err_short_row), self.err_long_row.eq(lb.err_long_row),
                     self.err_size.eq(lb.err_size)]
        win = lb.m_axis

        # The pipeline never stalls: every stage moves each cycle, and finished beats enter an
        # output FIFO. A window group is issued only while the groups in flight (issued, not yet
        # read out of the FIFO as beats) fit in the FIFO, so it can never overflow. The issue
        # permission is a register, so the output's TREADY reaches no pipeline enable.
        fifo_depth = OUT_FIFO_DEPTH
        limit = fifo_depth * gpb
        m.submodules.out_fifo = fifo = SyncFIFOBuffered(width=cfg.beat_width + 2, depth=fifo_depth)
        m.d.comb += [ma.tvalid.eq(fifo.r_rdy), fifo.r_en.eq(ma.tready),
                     Cat(ma.tdata, ma.tlast, ma.tuser).eq(fifo.r_data)]
        occ = Signal(range(limit + 1))
        may_issue = Signal(init=1)       # may issue: occ < limit

        # --- parameters: one small memory per lane, word = group -------------------------------
        rec_w = taps * ww + bw + mlw + SHIFT_WIDTH
        lo = Signal(signed(dw), init=-(1 << (dw - 1)))
        hi = Signal(signed(dw), init=(1 << (dw - 1)) - 1)
        addr = self.param_wr_addr
        with m.If(self.param_wr_en & (addr == c)):
            m.d.sync += [lo.eq(self.param_wr_data[:dw]), hi.eq(self.param_wr_data[dw:2 * dw])]

        # g: the group within the window beat; pg: the group within the pixel (parameter word).
        g = Signal(range(max(gpb, 2)))
        pg = Signal(range(max(g_n, 2)))
        # g_last (g == gpb - 1) is a register: the window handshake back into the line buffer's
        # control is then one gate from registers.
        g_last = Signal(init=int(gpb == 1))
        issue = Signal()
        m.d.comb += [issue.eq(win.tvalid & may_issue), win.tready.eq(may_issue & g_last)]
        pop = ma.tvalid & ma.tready
        occ_next = occ + issue - Mux(pop, gpb, 0)
        m.d.sync += [occ.eq(occ_next), may_issue.eq(occ_next < limit)]
        with m.If(issue):
            m.d.sync += [g.eq(Mux(g_last, 0, g + 1)), pg.eq(Mux(pg == g_n - 1, 0, pg + 1)),
                         g_last.eq(Mux(g_last, gpb == 1, g == gpb - 2))]

        lane_bits = (p - 1).bit_length() if p != c else 0
        recs = []
        for lane in range(p):
            mem = memory.Memory(shape=unsigned(rec_w), depth=max(g_n, 2), init=[])
            m.submodules[f"params{lane}"] = mem
            wp = mem.write_port()
            rp = mem.read_port()
            if p == c:
                sel, grp = addr == lane, 0
            else:
                sel, grp = (addr[:lane_bits] == lane) if lane_bits else Const(1, 1), addr >> lane_bits
            m.d.comb += [wp.en.eq(self.param_wr_en & (addr < c) & sel), wp.addr.eq(grp),
                         wp.data.eq(self.param_wr_data[:rec_w]), rp.addr.eq(pg)]
            recs.append(rp.data)

        # --- stage 1: the group's activations (parameters arrive from the memories) ------------
        s1_valid, s1_last, s1_user, s1_final = Signal(), Signal(), Signal(), Signal()
        s1_act = [Signal(p * dw, name=f"s1_tap{t}") for t in range(taps)]
        m.d.sync += s1_valid.eq(issue)
        with m.If(issue):
            m.d.sync += [s1_last.eq(win.tlast), s1_user.eq(win.tuser), s1_final.eq(g_last)]
            for t in range(taps):
                pix = win.tdata[t * bc * dw:(t + 1) * bc * dw]
                m.d.sync += s1_act[t].eq(pix.word_select(g, p * dw) if gpb > 1 else pix)

        # --- stages 2..8: products, their sum, requantization -----------------------------------
        # One register stage per step, so no path holds more than one multiplier, one adder
        # tree, one carry chain or one barrel shifter. Everything moves every cycle.
        def stage(name, shape, values):
            """One register ``name<lane>`` per lane, loaded with ``values[lane]``."""
            regs = [Signal(shape, name=f"{name}{i}") for i in range(len(values))]
            m.d.sync += [r.eq(v) for r, v in zip(regs, values)]
            return regs

        def flags(n, prev):
            """Stage ``n``'s valid, last, user and final flags, from stage ``n - 1``'s."""
            nxt = [Signal(name=f"s{n}_{f}") for f in ("valid", "last", "user", "final")]
            m.d.sync += [a.eq(b) for a, b in zip(nxt, prev)]
            return nxt

        f1 = [s1_valid, s1_last, s1_user, s1_final]
        o = taps * ww
        # Stage 2: the K x K products of each lane; the lane's constants from its record.
        prod_tw = dw + ww
        s2_prod = [[Signal(signed(prod_tw), name=f"s2_prod{i}_{t}") for t in range(taps)]
                   for i in range(p)]
        s2_bias = stage("s2_bias", signed(bw), [recs[i][o:o + bw].as_signed() for i in range(p)])
        s2_mult = stage("s2_mult", signed(mlw),
                        [recs[i][o + bw:o + bw + mlw].as_signed() for i in range(p)])
        shifts = [recs[i][o + bw + mlw:o + bw + mlw + SHIFT_WIDTH] for i in range(p)]
        # round half up: (x + 2**(s-1)) >> s == ((x >> (s-1)) + 1) >> 1 for s >= 1.
        s2_sm1 = stage("s2_sm1", SHIFT_WIDTH, [Mux(sh == 0, 0, sh - 1) for sh in shifts])
        s2_rnd = stage("s2_rnd", 1, [sh != 0 for sh in shifts])
        for i in range(p):
            for t in range(taps):
                a = s1_act[t][i * dw:(i + 1) * dw].as_signed()
                m.d.sync += s2_prod[i][t].eq(a * recs[i][t * ww:(t + 1) * ww].as_signed())
        f2 = flags(2, f1)

        # Stage 3: the sum of the K x K products (a balanced adder tree).
        acc_w = cfg.acc_width
        s3_acc = stage("s3_acc", signed(acc_w), [balanced_sum(s2_prod[i]) for i in range(p)])
        s3_bias = stage("s3_bias", signed(bw), s2_bias)
        s3_mult = stage("s3_mult", signed(mlw), s2_mult)
        s3_sm1 = stage("s3_sm1", SHIFT_WIDTH, s2_sm1)
        s3_rnd = stage("s3_rnd", 1, s2_rnd)
        f3 = flags(3, f2)

        # Stage 4: acc + bias.
        sum_w = max(acc_w, bw) + 1
        s4_sum = stage("s4_sum", signed(sum_w), [a + b for a, b in zip(s3_acc, s3_bias)])
        s4_mult = stage("s4_mult", signed(mlw), s3_mult)
        s4_sm1 = stage("s4_sm1", SHIFT_WIDTH, s3_sm1)
        s4_rnd = stage("s4_rnd", 1, s3_rnd)
        f4 = flags(4, f3)

        # Stage 5: (acc + bias) * multiplier as partial products of 17-bit slices of the sum
        # (unsigned, the top one signed), each fitting one 18x18 hardware multiplier.
        prod_w = sum_w + mlw
        part = 17
        slices = [(j, min(j + part, sum_w)) for j in range(0, sum_w, part)]
        s5_parts = []
        for lo_bit, hi_bit in slices:
            top = hi_bit == sum_w
            values = [(a[lo_bit:hi_bit].as_signed() if top else a[lo_bit:hi_bit]) * b
                      for a, b in zip(s4_sum, s4_mult)]
            s5_parts.append(stage(f"s5_part{lo_bit}_", signed(hi_bit - lo_bit + mlw + 1), values))
        s5_sm1 = stage("s5_sm1", SHIFT_WIDTH, s4_sm1)
        s5_rnd = stage("s5_rnd", 1, s4_rnd)
        f5 = flags(5, f4)

        # Stage 6: the partial products summed.
        s6_prod = stage("s6_prod", signed(prod_w),
                        [balanced_sum([parts[i] << lo_bit
                                       for parts, (lo_bit, _) in zip(s5_parts, slices)])
                         for i in range(p)])
        s6_sm1 = stage("s6_sm1", SHIFT_WIDTH, s5_sm1)
        s6_rnd = stage("s6_rnd", 1, s5_rnd)
        f6 = flags(6, f5)

        # Stage 7: arithmetic shift right by shift - 1.
        s7_sh = stage("s7_sh", signed(prod_w), [a >> b for a, b in zip(s6_prod, s6_sm1)])
        s7_rnd = stage("s7_rnd", 1, s6_rnd)
        f7 = flags(7, f6)

        # Stage 8: the last bit, rounded half up.
        s8_q = stage("s8_q", signed(prod_w),
                     [Mux(r, (a + 1) >> 1, a) for a, r in zip(s7_sh, s7_rnd)])
        s8_valid, s8_last, s8_user, s8_final = flags(8, f7)

        # --- output: clamp, collect the groups of a beat into one output beat ---------------------
        ys = [Mux(q < lo, lo, Mux(q > hi, hi, q))[:dw] for q in s8_q]
        y = Cat(*ys)
        collect = Signal(max((gpb - 1) * p * dw, 1))
        data = Cat(collect[:(gpb - 1) * p * dw], y) if gpb > 1 else y
        m.d.comb += [fifo.w_en.eq(s8_valid & s8_final),
                     fifo.w_data.eq(Cat(data, s8_last, s8_user))]
        if gpb > 1:
            with m.If(s8_valid & ~s8_final):
                m.d.sync += collect.eq(Cat(collect[p * dw:], y) if gpb > 2 else y)
        return m


def generate(config: LineBufferConfig, out_dir):
    """Write the Verilog of a :class:`LineBuffer` (or, for a :class:`DepthwiseConfig`, a
    :class:`DepthwiseConv`) and its ``manifest.json`` into ``out_dir`` (staged: all or nothing).

    The top is ``hwgen_linebuf_<slug>`` or ``hwgen_dwconv_<slug>``; the manifest adds the line
    memory size, the window layout, the latency and (for the engine) the parameter port layout.
    """
    from ..export import export_verilog
    if isinstance(config, DepthwiseConfig):
        kind, comp = "dwconv", DepthwiseConv(config)
        t = config.kernel * config.kernel
        extra = {"param_port": {
            "channel_record": {"weights": [0, t * config.weight_width],
                               "bias": [t * config.weight_width, config.bias_width],
                               "multiplier": [t * config.weight_width + config.bias_width,
                                              config.multiplier_width],
                               "shift": [t * config.weight_width + config.bias_width
                                         + config.multiplier_width, SHIFT_WIDTH]},
            "clamp_address": config.channels,
            "clamp_record": {"lo": [0, config.data_width], "hi": [config.data_width, config.data_width]}},
            "latency_cycles": LINEBUF_LATENCY + DEPTHWISE_LATENCY,
            "cycles_per_window": config.groups}
    elif isinstance(config, LineBufferConfig):
        kind, comp = "linebuf", LineBuffer(config)
        extra = {"latency_cycles": LINEBUF_LATENCY,
                 "window_layout": ("a window is beats_per_pixel beats; beat j holds element "
                                   "[ky][kx][j*channels_per_beat + c] at bit "
                                   "((ky*K + kx)*channels_per_beat + c) * data_width")}
    else:
        raise TypeError(f"generate needs a LineBufferConfig or DepthwiseConfig, not {type(config).__name__}")
    extra["memory_bits"] = config.memory_bits
    extra["channels_per_beat"] = config.beat_channels
    extra["beats_per_pixel"] = config.beats_per_pixel
    extra["beat_layout"] = ("a pixel is beats_per_pixel beats; beat j holds channel "
                            "j*channels_per_beat + c at bit c * data_width")
    return export_verilog(comp, out_dir, kind=kind, slug=config.slug, config=config, extra=extra)
