// Merging requests' tensors along the batch dimension (dim 0) and splitting results back.
#pragma once

#include <cstdint>
#include <vector>

#include "kiln/session.h"
#include "kiln/status.h"

namespace kiln::serve {

// True when two requests' inputs can share a batch: the same input names in the same order, the same
// data types and ranks, and the same dims after the first. Requests whose non-batch shapes differ are
// never merged, since the merged tensor would not be rectangular.
bool batch_compatible(const std::vector<NamedValue>& a, const std::vector<NamedValue>& b);

// Concatenates each input along dim 0, request by request in order. All parts must be batch_compatible.
Expected<std::vector<NamedValue>> concat_batch(const std::vector<const std::vector<NamedValue>*>& parts);

// Splits every output along dim 0 into pieces of `rows[i]` rows for request i. Fails with Internal
// when an output's first dimension is not the sum of rows (a model that does not batch along dim 0).
Expected<std::vector<std::vector<NamedValue>>> split_batch(const std::vector<NamedValue>& outputs,
                                                           const std::vector<int64_t>& rows);

// Rows (dim 0) of a request's inputs; 1 when there are no inputs or they are scalars.
int64_t batch_rows(const std::vector<NamedValue>& inputs);

}  // namespace kiln::serve
