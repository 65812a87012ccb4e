// Tensors cut and joined along their first dimension (rows): the server merging requests into a batch
// and splitting its outputs back (serve/batch_tensors.h), the engine running a batch in row parts
// (exec/row_parts.h). Elements are copied, strings included; no zero-fill before the copy.
#pragma once

#include <cstdint>
#include <vector>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln {

// Rows [first, first + count) of `t` (rank >= 1, within its first dimension) as a tensor of their own.
Expected<Tensor> slice_rows(const Tensor& t, int64_t first, int64_t count);

// The parts one after the other along the first dimension. All parts have one data type, one rank
// (>= 1) and the same dimensions after the first; at least one part.
Expected<Tensor> concat_rows(const std::vector<const Tensor*>& parts);

}  // namespace kiln
