"""DRAM images as the memory model's hex files: one ``DATA_W``-bit word per line, word 0 first.

Bytes are little-endian within a word (byte address ``base + 8*i + k`` is bits ``8k..8k+7`` of
word ``i`` for a 64-bit bus), as on an AXI bus.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def write_hex(path: str | Path, image: bytes | np.ndarray, word_bytes: int) -> None:
    """Write ``image`` (its length a multiple of ``word_bytes``) as a ``$readmemh`` file."""
    data = np.frombuffer(bytes(image), dtype=np.uint8)
    if data.size % word_bytes:
        raise ValueError(f"memory image must be a multiple of {word_bytes} bytes, not {data.size}")
    h = np.ascontiguousarray(data.reshape(-1, word_bytes)[:, ::-1]).tobytes().hex()
    n = 2 * word_bytes
    Path(path).write_text("".join(h[i:i + n] + "\n" for i in range(0, len(h), n)))


def read_hex(path: str | Path, word_bytes: int, words: int) -> bytes:
    """Read a ``$writememh`` file (comments and ``@`` addresses allowed) back into bytes."""
    out = bytearray(words * word_bytes)
    addr = 0
    text = Path(path).read_text()
    if "@" not in text and "x" not in text.lower() and "z" not in text.lower():
        # the common case: plain words, possibly with // comments
        toks = [t for line in text.splitlines() for t in [line.split("//", 1)[0].strip()] if t]
        raw = bytes.fromhex("".join(toks))
        arr = np.frombuffer(raw, dtype=np.uint8).reshape(-1, word_bytes)[:, ::-1]
        flat = arr.reshape(-1).tobytes()[:len(out)]
        out[:len(flat)] = flat
        return bytes(out)
    for line in text.splitlines():
        line = line.split("//", 1)[0].strip()
        if not line:
            continue
        for tok in line.split():
            if tok.startswith("@"):
                addr = int(tok[1:], 16)
                continue
            tok = tok.lower().replace("x", "0").replace("z", "0")
            out[addr * word_bytes:(addr + 1) * word_bytes] = int(tok, 16).to_bytes(word_bytes, "little")
            addr += 1
    return bytes(out)
