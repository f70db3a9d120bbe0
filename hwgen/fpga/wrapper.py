"""A Vivado block-design wrapper around an hwgen top with AXI ports.

hwgen's Amaranth tops have ``clk``, ``rst`` (active high), ``irq``, an AXI4 master ``m_axi__*`` and
an AXI4-Lite slave ``s_axil__*``. Vivado's IP integrator infers interfaces from port names and
``X_INTERFACE_INFO`` / ``X_INTERFACE_PARAMETER`` attributes; :func:`bd_wrapper` writes the thin
Verilog module that gives a top those (``aclk``, ``aresetn``, ``irq``, ``m_axi_*``,
``s_axi_control_*``), from the top's ``manifest.json``. The wrapper has no logic but the reset
inversion and constant AXI4 signals the top does not drive (``AxLOCK``, ``AxQOS``).

The clock's ``FREQ_HZ`` is left out on purpose: the block design propagates the fabric clock's
real frequency (a PS7 asked for 142 MHz gives 142.857 MHz), and a fixed value that disagrees with
it fails ``validate_bd_design``.

No amaranth import; jinja2 is imported when a wrapper is rendered.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError

#: Vivado interface name of each hwgen bus prefix, and its protocol
BUSES = {"m_axi": ("m_axi", "AXI4"), "s_axil": ("s_axi_control", "AXI4LITE")}
#: AXI4 master signals the accelerator does not drive, tied off in the wrapper: field -> (width, value)
TIEOFFS = {"awlock": (1, 0), "arlock": (1, 0), "awqos": (4, 0), "arqos": (4, 0)}
CLOCK, RESET, INTERRUPT = "aclk", "aresetn", "irq"
_VLNV = "xilinx.com:interface:aximm:1.0"


def wrapper_name(top: str) -> str:
    """Module name of the wrapper of ``top``."""
    return f"{top}_bd"


def _check_manifest(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(manifest, dict) or "top" not in manifest or "ports" not in manifest:
        raise ConfigError("bd_wrapper needs a manifest.json with 'top' and 'ports' (from hwgen "
                          "accel generate)")
    names = {p["name"] for p in manifest["ports"]}
    missing = [n for n in ("irq",) if n not in names]
    for prefix in BUSES:
        if not any(n.startswith(prefix + "__") for n in names):
            missing.append(prefix + "__*")
    if missing:
        raise ConfigError(f"bd_wrapper needs a top with ports irq, m_axi__* and s_axil__*; "
                          f"{manifest['top']} lacks {', '.join(missing)}")
    other = sorted(n for n in names if n != "irq" and n.split("__")[0] not in BUSES)
    if other:
        raise ConfigError(f"bd_wrapper cannot map ports of {manifest['top']} other than irq, "
                          f"m_axi__* and s_axil__*: {', '.join(other)}")
    return list(manifest["ports"])


def wrapper_ports(manifest: dict[str, Any]) -> dict[str, Any]:
    """The wrapper's ports and how they map: ``ports`` (name, dir, width, range, info, param),
    ``connections`` (inner -> outer) and ``tieoffs``."""
    ports = _check_manifest(manifest)
    acc = manifest.get("accel", {})
    out, conns, ties = [], [], []
    for prefix, (intf, protocol) in BUSES.items():
        group = [p for p in ports if p["name"].startswith(prefix + "__")]
        fields = {p["name"].split("__", 1)[1]: p for p in group}
        rows = [(f, p["direction"], p["width"], True) for f, p in fields.items()]
        if protocol == "AXI4":
            rows += [(f, "out", w, False) for f, (w, _v) in TIEOFFS.items() if f not in fields]
        data_w = fields["wdata"]["width"]
        addr_w = fields["awaddr"]["width"]
        param = f"XIL_INTERFACENAME {intf}, PROTOCOL {protocol}, DATA_WIDTH {data_w}, ADDR_WIDTH {addr_w}"
        if protocol == "AXI4":
            id_w = fields["awid"]["width"] if "awid" in fields else 0
            param += f", ID_WIDTH {id_w}"
        param += ", READ_WRITE_MODE READ_WRITE"
        if protocol == "AXI4" and acc:
            if acc.get("axi_data_width") not in (None, data_w):
                raise ConfigError(f"manifest of {manifest['top']}: axi_data_width "
                                  f"{acc['axi_data_width']} disagrees with m_axi__wdata's {data_w} bits")
        for i, (f, d, w, driven) in enumerate(rows):
            name = f"{intf}_{f}"
            out.append({"name": name, "dir": "input" if d == "in" else "output", "width": w,
                        "range": f"[{w - 1}:0]" if w > 1 else "", "bus": intf,
                        "info": f"{_VLNV} {intf} {f.upper()}", "param": param if i == 0 else ""})
            if driven:
                conns.append({"inner": f"{prefix}__{f}", "outer": name})
            else:
                ties.append({"name": name, "value": f"{w}'d{TIEOFFS[f][1]}"})
    return {"ports": out, "connections": conns, "tieoffs": ties,
            "busifs": [intf for intf, _p in BUSES.values()]}


def bd_wrapper(manifest: dict[str, Any]) -> tuple[str, str]:
    """``(module name, Verilog text)`` of the block-design wrapper of the top in ``manifest``."""
    from ..resources import template_env
    w = wrapper_ports(manifest)
    env = template_env("rtl_templates")
    name = wrapper_name(manifest["top"])
    text = env.get_template("axi_bd_wrapper.v.j2").render(
        name=name, inner=manifest["top"], slug=manifest.get("slug", manifest["top"]), **w)
    return name, text


def write_bd_wrapper(manifest_path: str | Path, out_dir: str | Path) -> Path:
    """Write ``<top>_bd.v`` for the manifest at ``manifest_path`` into ``out_dir`` (no staging:
    callers write into their own staging folder)."""
    import json
    man = json.loads(Path(manifest_path).read_text())
    name, text = bd_wrapper(man)
    path = Path(out_dir) / f"{name}.v"
    path.write_text(text)
    return path
