"""The bit-exact golden model of a generated HLS design. It is the golden model of every quantized
network (:mod:`hwgen.nn.model`), shared with the accelerator compiler: re-exported here."""
from ..nn.model import RECORD_FIELDS, box_from_record, decode, forward, test_images

__all__ = ["RECORD_FIELDS", "box_from_record", "decode", "forward", "test_images"]
