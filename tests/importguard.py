"""Run Python code in a fresh interpreter in which some packages cannot be imported (what a
board's Python, or the standard library alone, offers)."""
from __future__ import annotations

import subprocess
import sys

_PRELUDE = (
    "import sys\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in {blocked!r}:\n"
    "            raise ModuleNotFoundError('No module named ' + repr(name), name=name)\n"
    "sys.meta_path.insert(0, Block())\n")


def run_without(code: str, blocked: tuple[str, ...] = ("amaranth", "jinja2")) -> str:
    """Run ``code`` with ``blocked`` packages unimportable; assert it succeeds and that none of
    them was imported; return its standard output."""
    check = f"\nassert not [m for m in sys.modules if m.split('.')[0] in {blocked!r}]\n"
    out = subprocess.run([sys.executable, "-c", _PRELUDE.format(blocked=blocked) + code + check],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout
