// Constant 3x3 convolution weights transformed into oneDNN's Winograd weight layouts (memory
// format_kind wino), faster than oneDNN 2.6's own reorder into them.
//
// That reorder is scalar, single-threaded and writes its intermediate with a 1 MB stride: 0.25 s for
// one 512x512 layer, 0.7 s of resnet18's load (its batch-1 warm-up) and a third of its first run at
// batch 8. Here each 16-channel tile is transformed in registers and written where the layout wants
// it, same arithmetic in the same order, so the bytes are the same (winograd_weights_test.cc compares
// them with oneDNN's reorder for every layout and padding the float32 kernels use).
//
// The layouts, from dnnl_wino_desc_t (oc_block outputs innermost in all three):
//   aaOio       [alpha][alpha][oc/oc_block][ic][oc_block]                           F(2,3)
//   aaOBiOo     [alpha][alpha][oc chunks][ic/ic_block][ic_block][oc2_block][oc_block]  F(2,3)
//   OBaaIBOIio  [oc chunks][alpha][alpha][ic chunks][oc2_block][ic2_block][ic_block][oc_block]  F(4,3)
// The tile is G w G^T with oneDNN's G for that alpha (its input and output transforms assume it).
#pragma once

#include <cstdint>
#include <memory>
#include <oneapi/dnnl/dnnl.hpp>

#include "kernels/dnnl/common.h"

namespace kiln::dnnl_kernels {

// Writes weights `oihw` ([oc][ic][3][3], float32, dense) into `out`, whose descriptor `md` is one of
// the layouts above; channels past oc and ic up to the layout's padded counts become zeros. Returns
// false, writing nothing, for a descriptor it does not know (another format, alpha or data type): the
// caller then reorders with oneDNN. Not thread-safe for one `out`; `out` holds md.get_size() bytes.
bool transform_winograd_weights(const float* oihw, int64_t oc, int64_t ic, const dnnl::memory::desc& md, void* out);

// One layer's Winograd weights, in pages of their own (common.h's owned_memory): a layer replaces its
// copy when a larger batch needs another layout, and freed heap memory would stay resident (glibc's
// mmap threshold has risen past these sizes by then): the batch-1 copies replaced at batch 8 kept
// resnet50's peak RSS 20 MiB higher.
using WinogradCopy = OwnedMemory;

// `oihw` ([oc][ic][3][3], float32, dense) in Winograd layout `md`: transform_winograd_weights where it
// knows the layout, else oneDNN's reorder. Throws dnnl::error when there is no memory or the reorder fails.
WinogradCopy make_winograd_copy(const float* oihw, int64_t oc, int64_t ic, const dnnl::memory::desc& md);

}  // namespace kiln::dnnl_kernels
