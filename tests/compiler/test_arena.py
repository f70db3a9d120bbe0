"""Feature-map memory reuse (``compile_network(..., keep_maps=False)``, the default of ``hwgen
accel compile``): maps whose lifetimes do not overlap share arena space."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hwgen.accel.presets import PRESETS
from hwgen.cli import main
from hwgen.compiler import compile_network
from hwgen.compiler.compile import Lifetime, kept_roots, reuse_layout
from hwgen.compiler.lower import lower
from hwgen.nn import model as golden
from hwgen.nn.models import build_model
from hwgen.runtime import FsimDevice
from hwgen.runtime.network import CompiledNetwork, NetworkRunner

from .netgen import quantized, random_network, random_residual_network

TINY = PRESETS["tiny"]
#: chains, concats (the input among their inputs, a map twice), residual adds and pools
NETS = [("chain", s) for s in (0, 1, 2, 4, 6, 9)] + [("residual", s) for s in (0, 3, 5, 7, 11, 17)]


def _net(kind, seed):
    return random_network(seed) if kind == "chain" else random_residual_network(seed)


def live_overwrites(cn: CompiledNetwork, fitted, config) -> list[str]:
    """Independent of the compiler's own bookkeeping: every job's writes (its output map's bytes)
    against every map that is complete and still to be read (from the job after the one that
    completes it to its last reader; the network's output to the end of the run). Names each
    map a job would overwrite while live."""
    lay, jobs = lower(fitted, config)

    def related(a, b):                         # a concat and the slices inside it
        return a in _chain(lay, b) or b in _chain(lay, a)
    assert [j.name for j in jobs] == [s.name for s in cn.segments]

    def span(name):
        o = cn.maps[name]["offset"]
        return o, o + cn.map_bytes(name)
    last = {name: cn.maps[name]["ready"] for name in cn.maps}
    for j, job in enumerate(jobs):
        for src in {job.src, *(m for m, _p in job.inputs)}:
            for name in cn.maps:               # reading a concat reads its slices, and back
                if related(name, src):
                    last[name] = max(last[name], j)
    for name in cn.maps:
        if related(name, cn.output):
            last[name] = len(jobs)
    bad = []
    for j, job in enumerate(jobs):
        w0, w1 = span(job.dst)
        for name in cn.maps:
            a, b = span(name)
            if cn.maps[name]["ready"] < j <= last[name] and a < w1 and w0 < b:
                bad.append(f"{job.name} overwrites {name}")
    return bad


def _chain(lay, name) -> list[str]:
    out = [name]
    while lay[out[-1]].parent is not None:
        out.append(lay[out[-1]].parent)
    return out


def _inside(cn, a, b) -> bool:
    """Map ``a``'s bytes within map ``b``'s, or the other way round (a concat and its slices)."""
    a0, b0 = cn.maps[a]["offset"], cn.maps[b]["offset"]
    a1, b1 = a0 + cn.map_bytes(a), b0 + cn.map_bytes(b)
    return (b0 <= a0 and a1 <= b1) or (a0 <= b0 and b1 <= a1)


@pytest.mark.parametrize("kind,seed", NETS, ids=[f"{k}{s}" for k, s in NETS])
def test_reuse_on_random_networks(kind, seed):
    q = quantized(_net(kind, seed))
    keep, fitted = compile_network(q, TINY, keep_maps=True)
    cn, _ = compile_network(q, TINY, keep_maps=False)
    assert live_overwrites(cn, fitted, TINY) == []
    assert len(cn.arena) <= len(keep.arena)
    assert cn.info["maps_bytes"] <= cn.info["maps_bytes_kept"] == keep.info["maps_bytes"]
    assert len(cn.arena) - cn.info["maps_bytes"] == len(keep.arena) - keep.info["maps_bytes"]
    assert [s.insns for s in cn.segments] != [] and cn.maps[cn.output]["kept"]
    img = golden.test_images(fitted, 1, seed)[0]
    want = golden.forward(fitted, img)
    runner = NetworkRunner(FsimDevice(TINY), cn)
    fused = runner.run(img)
    layered = runner.run(img, per_layer=True)
    runner.close()
    assert set(layered.maps) == set(cn.maps)            # per layer: every map, right after its job
    for name, ref in want.items():
        assert np.array_equal(layered.maps[name], ref), name
        if name in fused.maps:
            assert np.array_equal(fused.maps[name], ref), name
    assert set(fused.maps) == {n for n in cn.maps if cn.maps[n]["kept"]} | (
        {cn.head["name"]} if cn.head else set())
    assert cn.output in fused.maps


def test_reuse_shrinks_the_arena_where_lifetimes_allow():
    """A chain of five convs needs two live maps at a time: the arena holds the largest pair (and
    the output, live to the end)."""
    from hwgen.nn.ir import Layer, Network
    net = Network(name="chain", input_shape=(8, 8, 4), layers=tuple(
        Layer(name=f"c{i}", kind="conv", out_channels=4, kernel=3, padding="same", activation="relu")
        for i in range(5)))
    q = quantized(net)
    keep, fitted = compile_network(q, TINY, keep_maps=True)
    cn, _ = compile_network(q, TINY, keep_maps=False)
    one = 8 * 8 * TINY.out_elem_bytes                   # one plane of 4 channels
    assert keep.info["maps_bytes"] == 6 * one and cn.info["maps_bytes"] == 2 * one
    assert len(keep.arena) - len(cn.arena) == 4 * one
    assert live_overwrites(cn, fitted, TINY) == []
    # the check itself catches a layout that overwrites a live map
    bad = json.loads(cn.files()["network.json"])["maps"]
    cn.maps = {n: dict(m, offset=0) for n, m in bad.items()}
    assert "c0 overwrites input" in live_overwrites(cn, fitted, TINY)


def test_concat_slices_live_as_long_as_the_concat():
    """skynet-tiny's concat takes a reorg and a conv in place: both slices and the concat share
    one buffer that no map live at the same time touches; every map right after its job equals
    the golden model."""
    q = quantized(build_model("skynet-tiny"))
    cn, fitted = compile_network(q, TINY, keep_maps=False)
    keep, _ = compile_network(q, TINY, keep_maps=True)
    assert len(cn.arena) < len(keep.arena)
    assert live_overwrites(cn, fitted, TINY) == []
    cat = next(l for l in fitted.net.layers if l.kind == "concat")
    for name in fitted.net.inputs_of(cat):
        assert _inside(cn, name, cat.name) or _inside(cn, f"{cat.name}__{name}", cat.name)
    img = golden.test_images(fitted, 1, 2)[0]
    res = NetworkRunner(FsimDevice(TINY), cn).run(img, per_layer=True)
    for name, ref in golden.forward(fitted, img).items():
        assert np.array_equal(res.maps[name], ref), name


def test_reuse_layout_is_first_fit_and_deterministic():
    lives = {"a": Lifetime(100, -1, -1, 0), "b": Lifetime(64, 0, 0, 1), "c": Lifetime(64, 1, 1, 2),
             "d": Lifetime(8, 0, 0, 3)}
    region, at = reuse_layout(lives, 8)
    assert at == {"a": 0, "b": 104, "c": 0, "d": 168} and region == 176
    assert reuse_layout(dict(reversed(list(lives.items()))), 8) == (region, at)
    assert kept_roots(lives, at) == {"b", "c", "d"}          # c overwrites a
    q = quantized(random_residual_network(5))
    a = compile_network(q, TINY, keep_maps=False)[0].files()
    assert a == compile_network(q, TINY, keep_maps=False)[0].files()


def test_cli_reuses_by_default(tmp_path, capsys):
    out, kept = tmp_path / "c", tmp_path / "k"
    assert main(["accel", "compile", "--preset", "tiny", "--model", "resnet-tiny", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "maps whose lifetimes do not overlap share space" in text
    assert main(["accel", "compile", "--preset", "tiny", "--model", "resnet-tiny", "--keep-maps",
                 "--json", "--out", str(kept)]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["keep_maps"] and s["maps_bytes"] == s["maps_bytes_kept"]
    reuse = json.loads((out / "network.json").read_text())
    assert reuse["arena_bytes"] < s["arena_bytes"] and reuse["info"]["keep_maps"] is False
    assert main(["accel", "infer", str(out), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["mismatches"] == 0 and 0 < r["compared"] < r["maps"]
    assert r["frames"][0]["top1"] == r["frames"][0]["golden_top1"]
    assert "fc" in {x["layer"] for x in r["layers"] if x["compared"]}
    assert main(["accel", "infer", str(out)]) == 0
    assert "- (space reused)" in capsys.readouterr().out
    assert main(["accel", "infer", str(out), "--per-layer", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["mismatches"] == 0 and r["compared"] == r["maps"] and all(x["compared"] for x in r["layers"])
    assert main(["accel", "infer", str(kept), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["mismatches"] == 0 and r["compared"] == r["maps"]


def test_format_1_is_read_with_every_map_kept(tmp_path):
    q = quantized(build_model("skynet-tiny"))
    cn, fitted = compile_network(q, TINY, keep_maps=True)
    for name, data in cn.files().items():
        (tmp_path / name).write_bytes(data)
    man = json.loads(cn.files()["network.json"])
    man["version"] = 1
    for m in man["maps"].values():
        del m["ready"], m["kept"]
    (tmp_path / "network.json").write_text(json.dumps(man))
    old = CompiledNetwork.load(tmp_path)
    assert all(old.kept(n) and old.ready(n) is None for n in old.maps)
    img = golden.test_images(fitted, 1, 3)[0]
    res = NetworkRunner(FsimDevice(TINY), old).run(img, per_layer=True)
    for name, ref in golden.forward(fitted, img).items():
        assert np.array_equal(res.maps[name], ref), name
