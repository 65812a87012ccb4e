// Running a graph whose rows are independent (independent_rows.h) as parts of its rows side by side,
// one thread of the run's team each, and stacking their outputs back.
#pragma once

#include <cstdint>
#include <vector>

#include "exec/graph_plan.h"
#include "exec/run_pools.h"

namespace kiln {

// Cuts the inputs marked in `row_input` (their first dimension: `rows`) into `parts` row ranges, as even
// as rows allow, runs `plan` on each range on its own OpenMP thread (a team of one inside), and stacks
// each output's parts along its first dimension into `outputs`. Each part leases its buffers from
// `pools`. A part's failure (a deadline, a kernel error) is the run's. FailedPrecondition when an
// output did not come back as a tensor of the part's rows: the caller then runs the graph whole.
Status run_row_parts(const GraphPlan& plan, RunPools& pools, const std::vector<const Value*>& inputs,
                     const std::vector<bool>& row_input, int64_t rows, int parts, const RunOptions* options,
                     std::vector<Value>* outputs);

}  // namespace kiln
