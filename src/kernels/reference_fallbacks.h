// A process-wide count of the runs fast kernels handed to their reference kernel: through
// dnnl_kernels::run_reference (Conv, BlockedConv, ConvTranspose, MatMul, Gemm: an input they do not
// take, or a shape oneDNN has no fast implementation for), vec::run_counted_reference, and the calls
// kiln.BlockedSqueezeExciteConv's vector kernel hands to the two kernels the node stands for. The op tests read it to
// check that the cases meant for a fast path take it, rather than comparing the reference with itself; kernels that
// call their reference directly are not counted, so their cases cannot ask for that check.
#pragma once

#include <cstdint>

namespace kiln {

void count_reference_fallback();
int64_t reference_fallbacks();

}  // namespace kiln
