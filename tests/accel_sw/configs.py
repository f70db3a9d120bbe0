"""Accelerator configurations with unusual shapes shared by the software tests: batch > 1, 16-bit
elements, a 16-bit accumulator, the smallest queues and token counters."""
from hwgen.accel.config import AccelConfig

ODD_CONFIGS = [
    AccelConfig(batch=2, block_in=4, block_out=8, input_width=16, weight_width=16, output_width=16,
                inp_depth=32, wgt_depth=16, acc_depth=64, uop_depth=32, insn_queue_depth=2,
                token_depth=1, axi_data_width=32),
    AccelConfig(batch=4, block_in=2, block_out=2, acc_width=16, inp_depth=16, wgt_depth=16,
                acc_depth=16, uop_depth=16, token_depth=2, axi_data_width=32),
]
