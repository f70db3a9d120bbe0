"""Lowering a quantized network to accelerator *jobs*: feature-map layouts and one
:class:`Job` per layer (plus copies where a concat cannot take a map in place).

Feature maps in DRAM
====================
A map of ``C`` channels is stored as ``planes`` planes of ``block_out`` channels, ``[planes][H][W]``
elements of the accelerator's OUT type (``block_out`` values of ``output_width`` bits): exactly what
a STORE writes and, because ``block_out = r * block_in``, ``r`` consecutive INP elements per pixel
for the next layer's LOAD. Logical channel ``c`` lives at *physical* channel ``channels[c]``:

- the network input, a conv and a reorg are compact (``channels = 0..C-1``);
- a depthwise conv, a maxpool and an avgpool keep their input's channels (so depthwise weight
  blocks stay on the diagonal);
- a concat places its inputs' planes one after the other (zero-copy: each input is written straight
  into its slice of the concat; where it cannot be, because it is the network input or feeds two
  concats, a copy job moves it).

Jobs
====
Every job is one convolution-shaped pass ``GEMM -> epilogue -> STORE`` over output planes
(``ob``), output rows and input planes: a list of nonzero ``block_out x block_in`` weight blocks
and, per output plane, its *terms* (tap, input plane, input sub-block, weight block, output region).
A conv uses its weights (groups expanded, all-zero blocks skipped: a depthwise conv has only its
diagonal blocks); a reorg is a conv with 0/1 weights (kernel = stride); a maxpool and a copy use
identity blocks, a maxpool with one accumulator region per window tap and ALU MAX to combine them
(a padded maxpool only on a map whose values are all >= 0: the LOAD pads with zeros, which then
never win a max). An avgpool is a depthwise conv with unit weights (one diagonal block shared by
every tap). An add reads several maps: its input planes are *virtual* (``Job.inputs`` names the
map and plane of each), and input ``i``'s channel ``c`` meets ``weight[0, 0, i, c]`` in a diagonal
block. The epilogue of a conv, an avgpool and an add is the requantization (ADD bias, MUL, SHR,
MAX lo, MIN hi, each left out when it would change nothing).

A thin network input (a few channels, e.g. RGB) is stored several pixels per element when its one
reader allows it: a 3x3 depthwise conv followed by a 1x1 conv (:func:`thin_input`, SkyNet) or a
dense strided conv (:func:`thin_stem`, the ResNet and MobileNetV2 stems); those convs then fill
``pack * C`` lanes of each GEMM instead of ``C``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..accel.config import AccelConfig
from ..errors import ModelError
from ..nn.ir import Layer, Network
from ..nn.quantize import QuantNetwork
from .quant import map_ranges


@dataclass(frozen=True)
class MapLayout:
    """Where a feature map lives: ``planes`` planes of ``block_out`` physical channels,
    ``channels[c]`` the physical channel of logical channel ``c``; ``parent``/``plane0``: a slice
    of a concat's map (planes ``plane0 ..``) instead of a buffer of its own. ``pack > 1``: a thin
    map stored ``pack`` pixels per element (``w`` elements wide, element ``x`` holding pixels
    ``x * pack ..`` one after the other, ``C`` channels each), i.e. the map reshaped to
    ``[H, W / pack, pack * C]``."""
    name: str
    h: int
    w: int
    planes: int
    channels: tuple[int, ...]
    parent: str | None = None
    plane0: int = 0
    pack: int = 1


@dataclass(frozen=True)
class Term:
    """One weight block applied to one input sub-block: ``acc[region][ob] += inp[p, h] (shifted by
    tap ky, kx) x blocks[blk]``, into output column ``+ dx`` (the pixel phase of an unpacking job)."""
    region: int
    ky: int
    kx: int
    p: int
    h: int
    blk: int
    dx: int = 0


@dataclass
class Job:
    """One pass of the accelerator (see module doc).

    ``src``/``dst`` are map names; ``terms[ob]`` lists the terms of output plane ``ob``;
    ``blocks [n, block_out, block_in]`` the distinct weight blocks; ``regions`` the accumulator
    regions combined by MAX (1 but for maxpool); ``bias``, ``multiplier``, ``shift`` per physical
    output channel (None: identity requantization); ``lo``/``hi`` the clamp; ``macs`` the layer's
    useful multiply-accumulates; ``unpack > 1``: the input is a packed map (``w`` its elements)
    and output pixel ``x`` comes from element ``x // unpack`` (terms carry the phase in ``dx``);
    ``inputs``: for a job reading several maps (an add), the ``(map, plane)`` of each input plane
    ``p`` (``src`` is then the first map); empty: plane ``p`` of ``src``. ``taps_x``: an unpacking
    job's input element taps per row (its ``pads`` left/right then count elements, its ``stride``
    is the row stride; output pixel ``x`` reads elements ``x // unpack - left ..``).
    """
    name: str
    kind: str
    src: str
    dst: str
    kernel: int
    stride: int
    pads: tuple[int, int, int, int]
    in_planes: int
    h: int
    w: int
    out_planes: int
    oh: int
    ow: int
    blocks: np.ndarray
    terms: list[list[Term]]
    regions: int = 1
    bias: np.ndarray | None = None
    multiplier: np.ndarray | None = None
    shift: np.ndarray | None = None
    lo: int | None = None
    hi: int | None = None
    macs: int = 0
    layers: tuple[str, ...] = field(default_factory=tuple)
    unpack: int = 1
    inputs: tuple[tuple[str, int], ...] = ()
    taps_x: int = 1


def _planes(n: int, b: int) -> int:
    return -(-n // b)


def check_network(qnet: QuantNetwork, config: AccelConfig) -> None:
    """Refuse a network or configuration the compiler cannot map (one-line errors)."""
    c = config
    if c.batch != 1:
        raise ModelError(f"the network compiler needs a batch = 1 accelerator, not batch {c.batch}")
    if c.block_out % c.block_in:
        raise ModelError(f"the network compiler needs block_out to be a multiple of block_in, not "
                         f"block_in {c.block_in} and block_out {c.block_out}")
    if c.token_depth < 2:
        raise ModelError(f"the network compiler needs token_depth >= 2 (double buffering keeps two "
                         f"tokens in flight), not {c.token_depth}")
    if c.input_width != c.output_width:
        raise ModelError(f"the network compiler needs input_width == output_width (a layer's output "
                         f"is the next one's input), not {c.input_width} and {c.output_width}")
    if qnet.act_width > c.output_width:
        raise ModelError(f"network activations are {qnet.act_width} bits; the accelerator's "
                         f"input_width/output_width are {c.output_width}")
    if qnet.weight_width > c.weight_width:
        raise ModelError(f"network weights are {qnet.weight_width} bits; the accelerator's weight_width "
                         f"is {c.weight_width}")
    ranges = map_ranges(qnet)
    for layer in qnet.net.layers:
        if layer.kind == "head" and layer is not qnet.net.output:
            raise ModelError(f"layer {layer.name}: a head must be the last layer")
        if layer.kind == "maxpool" and any(qnet.net.pads(layer)):
            src = qnet.net.inputs_of(layer)[0]
            lo, hi = ranges[src]
            if lo < 0:
                raise ModelError(f"layer {layer.name}: a padded maxpool needs an input whose values are all "
                                 f">= 0 (the accelerator pads with zeros, which could win the max), but "
                                 f"{src} ranges over {lo}..{hi}; allowed: padding 'none', or a ReLU/ReLU6 "
                                 f"(or other clamp at >= 0) on {src}")
            if max(qnet.net.pads(layer)) >= layer.kernel:
                raise ModelError(f"layer {layer.name}: maxpool padding must be smaller than the "
                                 f"{layer.kernel}x{layer.kernel} window (a window of padding only has no "
                                 f"max), not {qnet.net.pads(layer)}")


def layouts(net: Network, config: AccelConfig) -> tuple[dict[str, MapLayout], list[tuple[str, str]]]:
    """Every map's layout, and the copies ``(src map, concat slice map)`` that concats need."""
    bo = config.block_out
    lay: dict[str, MapLayout] = {}
    h, w, c = net.input_shape
    lay["input"] = MapLayout("input", h, w, _planes(c, bo), tuple(range(c)))
    # a map can be written straight into one concat's slice when it is a layer's own output
    # feeding exactly one concat
    concat_of: dict[str, list[str]] = {}
    for layer in net.layers:
        if layer.kind == "concat":
            for src in net.inputs_of(layer):
                concat_of.setdefault(src, []).append(layer.name)
    copies: list[tuple[str, str]] = []
    for layer in net.layers:
        if layer.kind == "head":
            continue
        oh, ow, oc = net.shape(layer.name)
        src = lay[net.inputs_of(layer)[0]]
        if layer.kind == "concat":
            chans: list[int] = []
            plane0 = 0
            for name in net.inputs_of(layer):
                m = lay[name]
                chans += [plane0 * bo + ch for ch in m.channels]
                plane0 += m.planes
            lay[layer.name] = MapLayout(layer.name, oh, ow, plane0, tuple(chans))
            continue
        if layer.kind in ("maxpool", "avgpool") or (layer.kind == "conv" and layer.groups == oc == len(src.channels)):
            lay[layer.name] = MapLayout(layer.name, oh, ow, src.planes, src.channels)
        else:
            lay[layer.name] = MapLayout(layer.name, oh, ow, _planes(oc, bo), tuple(range(oc)))
    # place concat inputs in their slices (outer concats first, so nested slices resolve)
    for layer in reversed(net.layers):
        if layer.kind != "concat":
            continue
        plane0 = 0
        for i, name in enumerate(net.inputs_of(layer)):
            m = lay[name]
            if name != "input" and len(concat_of[name]) == 1 and m.parent is None:
                lay[name] = MapLayout(m.name, m.h, m.w, m.planes, m.channels, layer.name, plane0)
            else:
                slot = f"{layer.name}__{name}"
                if slot in lay:                              # the same map twice in one concat
                    slot = f"{slot}_{i}"
                lay[slot] = MapLayout(slot, m.h, m.w, m.planes, m.channels, layer.name, plane0)
                copies.append((name, slot))
            plane0 += m.planes
    return lay, copies


def _blocks_of(wp: np.ndarray, config: AccelConfig, in_planes: int,
               out_planes: int) -> tuple[np.ndarray, list[list[Term]]]:
    """Weight blocks and terms from physical weights ``wp [K, K, in_planes*bo, out_planes*bo]``."""
    bi, bo = config.block_in, config.block_out
    r = bo // bi
    k = wp.shape[0]
    cb = in_planes * r
    blk = wp.reshape(k, k, cb, bi, out_planes, bo)
    nz = np.any(blk != 0, axis=(3, 5))                       # [K, K, CB, OB]
    blocks: list[np.ndarray] = []
    terms: list[list[Term]] = [[] for _ in range(out_planes)]
    for ob in range(out_planes):
        for ci in range(cb):
            for ky in range(k):
                for kx in range(k):
                    if nz[ky, kx, ci, ob]:
                        terms[ob].append(Term(0, ky, kx, ci // r, ci % r, len(blocks)))
                        blocks.append(blk[ky, kx, ci, :, ob, :].T)
    arr = np.array(blocks, dtype=np.int64).reshape(-1, bo, bi)
    return arr, terms


def _identity_blocks(config: AccelConfig) -> np.ndarray:
    """The ``r`` blocks that copy input sub-block ``h`` to output lanes ``h*bi ..``."""
    bi, bo = config.block_in, config.block_out
    out = np.zeros((bo // bi, bo, bi), dtype=np.int64)
    for h in range(bo // bi):
        out[h, h * bi:(h + 1) * bi, :] = np.eye(bi, dtype=np.int64)
    return out


def _copy_like(name: str, kind: str, src: MapLayout, dst: MapLayout, config: AccelConfig,
               kernel: int, stride: int, layers: tuple[str, ...],
               pads: tuple[int, int, int, int] = (0, 0, 0, 0)) -> Job:
    r = config.block_out // config.block_in
    taps = [(ky, kx) for ky in range(kernel) for kx in range(kernel)]
    terms = [[Term(t, ky, kx, ob, h, h) for t, (ky, kx) in enumerate(taps) for h in range(r)]
             for ob in range(src.planes)]
    return Job(name=name, kind=kind, src=src.name, dst=dst.name, kernel=kernel, stride=stride,
               pads=pads, in_planes=src.planes, h=src.h, w=src.w, out_planes=dst.planes,
               oh=dst.h, ow=dst.w, blocks=_identity_blocks(config), terms=terms, regions=len(taps),
               layers=layers)


def lower(qnet: QuantNetwork, config: AccelConfig) -> tuple[dict[str, MapLayout], list[Job]]:
    """The maps and the jobs, in execution order (see module doc)."""
    check_network(qnet, config)
    net = qnet.net
    lay, copies = layouts(net, config)
    packed = thin_input(net, config)
    stem = None if packed else thin_stem(net, config)
    if packed or stem:
        pk = packed[2] if packed else stem[1]
        for name in ("input", packed[0]) if packed else ("input",):
            m = lay[name]
            c = len(m.channels)
            lay[name] = MapLayout(name, m.h, m.w // pk, 1, tuple(range(pk * c)), pack=pk)
    jobs: list[Job] = []
    copy_after: dict[str, list[str]] = {}
    for src, slot in copies:
        copy_after.setdefault(src, []).append(slot)
    for src, slot in copies:                 # the network input is ready before any layer
        if src == "input":
            jobs.append(_copy_like(f"copy_{slot}", "copy", lay[src], lay[slot], config, 1, 1, ()))
    for layer in net.layers:
        if layer.kind == "head":
            continue
        src = lay[net.inputs_of(layer)[0]]
        dst = lay[layer.name]
        if layer.kind == "concat":
            pass                          # written in place by its inputs (or their copies)
        elif layer.kind == "maxpool":
            jobs.append(_copy_like(layer.name, "maxpool", src, dst, config, layer.kernel, layer.stride,
                                   (layer.name,), net.pads(layer)))
        elif layer.kind == "avgpool":
            jobs.append(_avgpool_job(qnet, layer, src, dst, config))
        elif layer.kind == "add":
            jobs.append(_add_job(qnet, layer, [lay[n] for n in net.inputs_of(layer)], dst, config))
        elif packed and layer.name == packed[0]:
            jobs.append(_packed_depthwise_job(qnet, layer, src, dst, config))
        elif stem and layer.name == stem[0]:
            jobs.append(_packed_conv_job(qnet, layer, src, dst, config))
        elif packed and layer.name == packed[1]:
            jobs.append(_unpacking_job(qnet, layer, src, dst, config))
        else:
            jobs.append(_conv_job(qnet, layer, src, dst, config) if layer.kind == "conv"
                        else _reorg_job(layer, src, dst, config))
        for slot in copy_after.get(layer.name, ()):
            jobs.append(_copy_like(f"copy_{slot}", "copy", dst, lay[slot], config, 1, 1, ()))
    return lay, jobs


def _requant(qc, dst: MapLayout, config: AccelConfig, tile: int = 1) -> dict:
    """A conv's requantization on the output map's physical channels (``Job`` fields; padding
    channels get bias 0, multiplier 1, shift 0). ``tile``: the constants repeat per packed pixel."""
    size = dst.planes * config.block_out
    pout = np.array(dst.channels)

    def phys(v, fill):
        out = np.full(size, fill, dtype=np.int64)
        out[pout] = np.tile(np.asarray(v, np.int64), tile)
        return out
    return dict(bias=phys(qc.bias, 0), multiplier=phys(qc.multiplier, 1), shift=phys(qc.shift, 0),
                lo=qc.lo, hi=qc.hi)


def thin_input(net: Network, config: AccelConfig) -> tuple[str, str, int] | None:
    """``(depthwise, pointwise, pack)`` when the network input is thin enough to store ``pack >= 2``
    pixels per element and feeds only a 3x3 stride-1 'same' depthwise conv whose only consumer is
    a 1x1 stride-1 conv (SkyNet's first bundle on RGB): the depthwise conv then runs on packed
    elements (``pack`` pixels per GEMM micro-op and per ALU micro-op, a Toeplitz weight block per
    tap column) and the 1x1 conv unpacks (:func:`_unpacking_job`). None otherwise."""
    h, w, c = net.input_shape
    pk = max((p for p in range(2, config.block_out // c + 1) if w % p == 0), default=1)
    users = net.consumers("input")
    if pk < 2 or len(users) != 1:
        return None
    dw = users[0]
    if not (dw.kind == "conv" and dw.groups == c == dw.out_channels and dw.kernel == 3 and dw.stride == 1
            and net.pads(dw) == (1, 1, 1, 1)):
        return None
    nxt = net.consumers(dw.name)
    if len(nxt) != 1:
        return None
    pw = nxt[0]
    if not (pw.kind == "conv" and pw.kernel == 1 and pw.stride == 1 and pw.groups == 1 and not any(net.pads(pw))):
        return None
    return dw.name, pw.name, pk


def _packed_depthwise_job(qnet: QuantNetwork, layer: Layer, src: MapLayout, dst: MapLayout,
                          config: AccelConfig) -> Job:
    """A 3x3 depthwise conv on packed maps: element column ``x'`` tap ``kx'`` feeds pixel ``j``
    from packed pixel ``j'`` when ``kx = pack * (kx' - 1) + j' - j + 1`` is a tap."""
    bo, pk = config.block_out, src.pack
    qc = qnet.convs[layer.name]
    c = len(src.channels) // pk
    w = np.asarray(qc.weight, np.int64)                      # [3, 3, 1, C]
    wp = np.zeros((3, 3, bo, bo), dtype=np.int64)
    for kxp in range(3):
        for jp in range(pk):
            for j in range(pk):
                kx = pk * (kxp - 1) + jp - j + 1
                if 0 <= kx < 3:
                    for ch in range(c):
                        wp[:, kxp, jp * c + ch, j * c + ch] = w[:, kx, 0, ch]
    blocks, terms = _blocks_of(wp, config, 1, 1)
    return Job(name=layer.name, kind="conv", src=src.name, dst=dst.name, kernel=3, stride=1,
               pads=(1, 1, 1, 1), in_planes=1, h=src.h, w=src.w, out_planes=1, oh=dst.h, ow=dst.w,
               blocks=blocks, terms=terms, **_requant(qc, dst, config, pk), macs=qnet.net.macs(layer),
               layers=(layer.name,))


def _unpacking_job(qnet: QuantNetwork, layer: Layer, src: MapLayout, dst: MapLayout,
                   config: AccelConfig) -> Job:
    """A 1x1 conv from a packed map to a plain one: output pixel ``x`` (phase ``j = x % pack``)
    applies the weights to lanes ``j * C ..`` of element ``x // pack``."""
    bi, bo, pk = config.block_in, config.block_out, src.pack
    r = bo // bi
    qc = qnet.convs[layer.name]
    c = len(src.channels) // pk
    oc = layer.out_channels
    w = np.asarray(qc.weight, np.int64)[0, 0]                # [C, OC]
    blocks: list[np.ndarray] = []
    terms: list[list[Term]] = [[] for _ in range(dst.planes)]
    for ob in range(dst.planes):
        for j in range(pk):
            full = np.zeros((bo, bo), dtype=np.int64)        # [out lane, physical in lane]
            cols = min(bo, oc - ob * bo)
            full[:cols, j * c:(j + 1) * c] = w[:, ob * bo:ob * bo + cols].T
            for h in range(r):
                blk = full[:, h * bi:(h + 1) * bi]
                if blk.any():
                    terms[ob].append(Term(0, 0, 0, 0, h, len(blocks), dx=j))
                    blocks.append(blk)
    arr = np.array(blocks, dtype=np.int64).reshape(-1, bo, bi)
    return Job(name=layer.name, kind="conv", src=src.name, dst=dst.name, kernel=1, stride=1,
               pads=(0, 0, 0, 0), in_planes=1, h=src.h, w=src.w, out_planes=dst.planes, oh=dst.h, ow=dst.w,
               blocks=arr, terms=terms, **_requant(qc, dst, config), macs=qnet.net.macs(layer),
               layers=(layer.name,), unpack=pk)


def _conv_job(qnet: QuantNetwork, layer: Layer, src: MapLayout, dst: MapLayout,
              config: AccelConfig) -> Job:
    net = qnet.net
    bo = config.block_out
    qc = qnet.convs[layer.name]
    k, g = layer.kernel, layer.groups
    w = np.asarray(qc.weight, np.int64)                      # [K, K, Cin/g, Cout]
    cin, cout = len(src.channels), layer.out_channels
    cpg, opg = cin // g, cout // g
    wp = np.zeros((k, k, src.planes * bo, dst.planes * bo), dtype=np.int64)
    pin = np.array(src.channels)
    pout = np.array(dst.channels)
    for o in range(cout):
        grp = o // opg
        wp[:, :, pin[grp * cpg:(grp + 1) * cpg], pout[o]] = w[:, :, :, o]
    blocks, terms = _blocks_of(wp, config, src.planes, dst.planes)
    oh, ow, _ = net.shape(layer.name)
    return Job(name=layer.name, kind="conv", src=src.name, dst=dst.name, kernel=k, stride=layer.stride,
               pads=net.pads(layer), in_planes=src.planes, h=src.h, w=src.w, out_planes=dst.planes,
               oh=oh, ow=ow, blocks=blocks, terms=terms, **_requant(qc, dst, config),
               macs=net.macs(layer), layers=(layer.name,))


def _reorg_job(layer: Layer, src: MapLayout, dst: MapLayout, config: AccelConfig) -> Job:
    bo = config.block_out
    s = layer.stride
    c = len(src.channels)
    wp = np.zeros((s, s, src.planes * bo, dst.planes * bo), dtype=np.int64)
    for dy in range(s):
        for dx in range(s):
            for ch in range(c):
                wp[dy, dx, src.channels[ch], dst.channels[(dy * s + dx) * c + ch]] = 1
    blocks, terms = _blocks_of(wp, config, src.planes, dst.planes)
    return Job(name=layer.name, kind="reorg", src=src.name, dst=dst.name, kernel=s, stride=s,
               pads=(0, 0, 0, 0), in_planes=src.planes, h=src.h, w=src.w, out_planes=dst.planes,
               oh=dst.h, ow=dst.w, blocks=blocks, terms=terms, layers=(layer.name,))


def _avgpool_job(qnet: QuantNetwork, layer: Layer, src: MapLayout, dst: MapLayout,
                 config: AccelConfig) -> Job:
    """A depthwise conv with unit weights on the input's own channels: per input sub-block one
    diagonal block (the same for every tap), then the requantization (the division by K*K)."""
    bi, bo = config.block_in, config.block_out
    r = bo // bi
    qc = qnet.convs[layer.name]
    k = layer.kernel
    w = np.asarray(qc.weight, np.int64)                      # [K, K, 1, C]
    diag = np.zeros((src.planes * bo,), dtype=np.int64)
    if np.all(w == w[:1, :1]):                               # unit (tap-independent) weights
        diag[np.array(src.channels)] = w[0, 0, 0]
        blocks: list[np.ndarray] = []
        index: dict[tuple[int, bytes], int] = {}
        terms: list[list[Term]] = [[] for _ in range(dst.planes)]
        for ob in range(dst.planes):
            for h in range(r):
                lanes = diag[ob * bo + h * bi: ob * bo + (h + 1) * bi]
                if not lanes.any():
                    continue
                key = (h, lanes.tobytes())
                if key not in index:
                    blk = np.zeros((bo, bi), dtype=np.int64)
                    blk[h * bi + np.arange(bi), np.arange(bi)] = lanes
                    index[key] = len(blocks)
                    blocks.append(blk)
                terms[ob] += [Term(0, ky, kx, ob, h, index[key]) for ky in range(k) for kx in range(k)]
        arr = np.array(blocks, dtype=np.int64).reshape(-1, bo, bi)
    else:                                                    # a quantizer that weights the taps
        wp = np.zeros((k, k, src.planes * bo, dst.planes * bo), dtype=np.int64)
        for c, ch in enumerate(src.channels):
            wp[:, :, ch, dst.channels[c]] = w[:, :, 0, c]
        arr, terms = _blocks_of(wp, config, src.planes, dst.planes)
    oh, ow, _ = qnet.net.shape(layer.name)
    return Job(name=layer.name, kind="avgpool", src=src.name, dst=dst.name, kernel=k, stride=layer.stride,
               pads=qnet.net.pads(layer), in_planes=src.planes, h=src.h, w=src.w, out_planes=dst.planes,
               oh=oh, ow=ow, blocks=arr, terms=terms, **_requant(qc, dst, config),
               macs=qnet.net.macs(layer), layers=(layer.name,))


def _add_job(qnet: QuantNetwork, layer: Layer, srcs: list[MapLayout], dst: MapLayout,
             config: AccelConfig) -> Job:
    """``sum_i weight[0, 0, i, c] * x_i[c]`` as a 1x1 GEMM over virtual input planes: input ``i``'s
    planes follow input ``i - 1``'s; each input channel meets its output channel in a diagonal
    block; then the requantization."""
    bo = config.block_out
    qc = qnet.convs[layer.name]
    w = np.asarray(qc.weight, np.int64)[0, 0]                # [inputs, C]
    planes = sum(m.planes for m in srcs)
    wp = np.zeros((1, 1, planes * bo, dst.planes * bo), dtype=np.int64)
    inputs: list[tuple[str, int]] = []
    for i, m in enumerate(srcs):
        base = len(inputs) * bo
        for c, ch in enumerate(m.channels):
            wp[0, 0, base + ch, dst.channels[c]] = w[i, c]
        inputs += [(m.name, p) for p in range(m.planes)]
    blocks, terms = _blocks_of(wp, config, planes, dst.planes)
    return Job(name=layer.name, kind="add", src=srcs[0].name, dst=dst.name, kernel=1, stride=1,
               pads=(0, 0, 0, 0), in_planes=planes, h=dst.h, w=dst.w, out_planes=dst.planes,
               oh=dst.h, ow=dst.w, blocks=blocks, terms=terms, **_requant(qc, dst, config),
               macs=qnet.net.macs(layer), layers=(layer.name,), inputs=tuple(inputs))


def thin_stem(net: Network, config: AccelConfig) -> tuple[str, int] | None:
    """``(conv, pack)`` when the network input is thin and read only by a dense conv (ResNet's
    7x7/2 stem, MobileNetV2's 3x3/2 one) that can read it stored ``pack`` pixels per element:
    ``pack * C <= block_out``, ``pack`` divides the width and is ``stride * u`` with ``u >= 2``
    output pixels per element, ``u`` dividing the output width (the largest such ``pack``). The
    conv then applies one Toeplitz weight block per (output pixel phase, row tap, element tap)
    (:func:`_packed_conv_job`): ``pack * C`` useful lanes per GEMM instead of ``C``. None otherwise."""
    h, w, c = net.input_shape
    users = net.consumers("input")
    if len(users) != 1:
        return None
    conv = users[0]
    if conv.kind != "conv" or conv.groups != 1 or net.inputs_of(conv) != ("input",) \
            or max(net.pads(conv)) >= conv.kernel:
        return None
    s = conv.stride
    ow = net.shape(conv.name)[1]
    ok = [p for p in range(2 * s, config.block_out // c + 1)
          if w % p == 0 and p % s == 0 and ow % (p // s) == 0]
    return (conv.name, max(ok)) if ok else None


def _packed_conv_job(qnet: QuantNetwork, layer: Layer, src: MapLayout, dst: MapLayout,
                     config: AccelConfig) -> Job:
    """A dense KxK stride-s conv from a map packed ``pk = s * u`` pixels per element to a plain
    one: output pixel ``x = u * m + j`` reads pixels ``pk * m + s * j - left + kx``, i.e. lane
    ``pp * C + c`` of element ``m + d`` where ``kx = pk * d + pp - s * j + left``; one weight block
    per (phase ``j``, row tap, element tap ``d``) holds the taps that fall on it."""
    net = qnet.net
    bi, bo, pk = config.block_in, config.block_out, src.pack
    r = bo // bi
    qc = qnet.convs[layer.name]
    k, s = layer.kernel, layer.stride
    u = pk // s
    c = len(src.channels) // pk
    oh, ow, oc = net.shape(layer.name)
    pt, pb, pl, _pr = net.pads(layer)
    dmin = (-pl) // pk
    dmax = (s * (u - 1) - pl + k - 1) // pk
    taps = dmax - dmin + 1
    right = max(0, ow // u - 1 + dmax - (src.w - 1))
    w = np.asarray(qc.weight, np.int64)                      # [K, K, C, OC]
    blocks: list[np.ndarray] = []
    terms: list[list[Term]] = [[] for _ in range(dst.planes)]
    for ob in range(dst.planes):
        cols = min(bo, oc - ob * bo)
        for j in range(u):
            for ky in range(k):
                for t in range(taps):
                    full = np.zeros((bo, bo), dtype=np.int64)    # [out lane, in lane]
                    for pp in range(pk):
                        kx = pk * (dmin + t) + pp - s * j + pl
                        if 0 <= kx < k:
                            full[:cols, pp * c:(pp + 1) * c] = w[ky, kx, :, ob * bo:ob * bo + cols].T
                    for h in range(r):
                        blk = full[:, h * bi:(h + 1) * bi]
                        if blk.any():
                            terms[ob].append(Term(0, ky, t, 0, h, len(blocks), dx=j))
                            blocks.append(blk)
    arr = np.array(blocks, dtype=np.int64).reshape(-1, bo, bi)
    return Job(name=layer.name, kind="conv", src=src.name, dst=dst.name, kernel=k, stride=s,
               pads=(pt, pb, -dmin, right), in_planes=1, h=src.h, w=src.w, out_planes=dst.planes,
               oh=oh, ow=ow, blocks=arr, terms=terms, **_requant(qc, dst, config), macs=net.macs(layer),
               layers=(layer.name,), unpack=u, taps_x=taps)
