"""A tiny registered adder used to test the spine (export, runner) itself."""
from dataclasses import dataclass

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwgen.configbase import check_int


@dataclass(frozen=True, kw_only=True)
class TinyConfig:
    width: int = 8

    def __post_init__(self):
        check_int("TinyConfig", "width", self.width, 1, 64)

    @property
    def slug(self) -> str:
        return f"w{self.width}"


class TinyAdder(wiring.Component):
    def __init__(self, config: TinyConfig):
        self.config = config
        super().__init__({"a": In(config.width), "b": In(config.width), "s": Out(config.width + 1)})

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.s.eq(self.a + self.b)
        return m
