// Whether a graph computes each row of its batch dimension from that row alone, so that a run on many
// rows can be cut into runs on fewer, side by side, and their outputs stacked back.
//
// A batch of 8 images on 2 threads runs as one team of 2 that meets at a barrier in every layer, or as
// 2 runs of 4 images, one thread each, that meet once. The second wins where a layer is too small to
// keep two threads busy between barriers (docs/execution.md, "Batches in row parts").
//
// The analysis is conservative: a value depends on the rows of the graph inputs whose first dimension
// is one shared symbol ("batch"); every node reading such a value must be an operator known to keep
// rows apart, with its other inputs constants (weights) or row values of the same kind, and attributes
// that do not reach across the first axis (Concat on axis 0, Flatten at axis 0, Gemm with transA, a
// Softmax over axis 0 do). Anything else (Shape, Reshape, Transpose, subgraphs, an unknown operator)
// reading a row value makes the graph not splittable. Every graph output must be a row value.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace kiln {

struct IndependentRows {
  std::string symbol;           // the batch dimension's name
  std::vector<bool> row_input;  // per graph input: its first dimension is the batch
};

// The graph's batch if its rows are independent; nullopt when they may not be, or there is no batch.
std::optional<IndependentRows> independent_rows(const ir::Graph& graph);

}  // namespace kiln
