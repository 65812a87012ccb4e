// Triton's classification extension: an output requested with the parameter "classification": K is
// answered with the K largest values of each batch entry, highest first, as BYTES strings
// "value:index" (the value with 9 decimals, as Triton writes it), instead of the values themselves,
// or "value:index:label" when the output has a label for that index (config.pbtxt label_filename).
#pragma once

#include <span>
#include <string>

#include "kiln/status.h"
#include "kiln/tensor.h"

namespace kiln::serve {

// Whether classification ranks values of `dtype`: the integer types, FP32 and FP64, as in Triton.
bool classifiable(DataType dtype);

// The top `k` (> 0) of `scores`. `batched` (the model's max_batch_size > 0): the first dimension is
// the batch and each entry is ranked on its own, giving shape [batch, min(k, entry size)]; otherwise
// the whole tensor is one entry, giving [min(k, size)]. Ties rank the lower index first. `labels[i]`
// names class index i within an entry; an index past them, or an empty label, gets none (as Triton).
// Fails with InvalidArgument naming `output` for a type classifiable() refuses. Thread-safe.
Expected<Tensor> classify_top_k(const Tensor& scores, int64_t k, bool batched, const std::string& output,
                                std::span<const std::string> labels = {});

}  // namespace kiln::serve
