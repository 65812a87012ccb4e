// The channel block of kiln's blocked layout (kernels/blocked_layout.h) in this process, chosen once from
// the instruction set oneDNN runs with: oneDNN's blocked jit convolutions exist for nChw16c only with
// AVX-512, and for nChw8c only with AVX2 / AVX / SSE4.1. On a CPU without AVX-512, nChw16c left every
// convolution on oneDNN's reference kernel (squeezenet1_1, 1 thread: 16.5 s instead of ~10 ms).
#pragma once

#include <cstdint>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>

namespace kiln::dnnl_kernels {

// The block for oneDNN's instruction set `isa` and the environment's KILN_CHANNEL_BLOCK (`env`, null
// when unset): 16 on avx512_core or better, 8 on SSE4.1 up to AVX2, 0 (no blocked layout: the plain
// kernels run) below. KILN_CHANNEL_BLOCK may only lower it: "8" turns 16 into 8, "0" turns the blocked
// layout off. Any other value, or one above the choice, is ignored, and *warning says so (else it is
// left empty).
int64_t choose_channel_block(dnnl::cpu_isa isa, const char* env, std::string* warning);

// choose_channel_block for this process: oneDNN's effective ISA (which ONEDNN_MAX_CPU_ISA caps) and
// KILN_CHANNEL_BLOCK, worked out on first call; a warning goes to stderr once. Thread-safe.
int64_t process_channel_block();

// The block constant weights are first packed for, before any input shows its own: the process's, or
// kiln's default where the process uses none (a graph saved with blocked nodes still runs).
int64_t nominal_channel_block();

}  // namespace kiln::dnnl_kernels
