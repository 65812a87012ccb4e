#include "exec/row_parts.h"

#include <omp.h>

#include <exception>
#include <new>
#include <string>

#include "core/buffer_pool.h"
#include "core/tensor_rows.h"
#include "exec/run_threads.h"

namespace kiln {

namespace {

// Output `o` of every part, stacked along dim 0; FailedPrecondition when a part's is not a tensor of
// its rows with the others' type and trailing dims.
Expected<Tensor> stack_rows(const std::vector<std::vector<Value>>& parts, size_t o, const std::vector<int64_t>& first) {
  const Value& v0 = parts[0][o];
  if (!v0.is_tensor()) return Status::FailedPrecondition("output is not a tensor");
  const Tensor& t0 = v0.tensor();
  if (t0.rank() == 0) return Status::FailedPrecondition("output is a scalar");
  for (size_t p = 0; p < parts.size(); ++p) {
    const Value& v = parts[p][o];
    if (!v.is_tensor()) return Status::FailedPrecondition("output is not a tensor");
    const Tensor& t = v.tensor();
    if (t.dtype() != t0.dtype() || t.rank() != t0.rank() || t.dim(0) != first[p + 1] - first[p]) {
      return Status::FailedPrecondition("output does not keep the rows");
    }
    for (int64_t d = 1; d < t.rank(); ++d) {
      if (t.dim(d) != t0.dim(d)) return Status::FailedPrecondition("output parts differ in shape");
    }
  }
  std::vector<const Tensor*> tensors;
  for (const auto& part : parts) tensors.push_back(&part[o].tensor());
  return concat_rows(tensors);
}

}  // namespace

Status run_row_parts(const GraphPlan& plan, RunPools& pools, const std::vector<const Value*>& inputs,
                     const std::vector<bool>& row_input, int64_t rows, int parts, const RunOptions* options,
                     std::vector<Value>* outputs) {
  std::vector<int64_t> first(static_cast<size_t>(parts) + 1);
  for (int p = 0; p <= parts; ++p) first[p] = rows * p / parts;
  std::vector<std::vector<Value>> sliced(parts);
  std::vector<std::vector<const Value*>> bound(parts, inputs);
  for (int p = 0; p < parts; ++p) {
    sliced[p].reserve(inputs.size());  // bound[p] points into it
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!row_input[i] || inputs[i] == nullptr || !inputs[i]->is_tensor()) continue;
      KILN_ASSIGN_OR_RETURN(Tensor t, slice_rows(inputs[i]->tensor(), first[p], first[p + 1] - first[p]));
      sliced[p].emplace_back(std::move(t));
      bound[p][i] = &sliced[p].back();
    }
  }
  std::vector<std::vector<Value>> results(parts);
  std::vector<Status> status(parts);
#pragma omp parallel num_threads(parts)
  {
    // OpenMP may give fewer threads than asked; the threads it gives take the parts in turn.
    for (int p = omp_get_thread_num(); p < parts; p += omp_get_num_threads()) {
      try {
        const ScopedSerialPart serial;
        const RunPools::Lease lease = pools.lease();
        const ScopedBufferPool use_pool(lease.pool());
        status[p] = plan.run_bound(bound[p], nullptr, &results[p], options);
      } catch (const std::bad_alloc&) {
        status[p] = Status::ResourceExhausted("out of memory");
      } catch (const std::exception& e) {  // nothing may leave a parallel region
        status[p] = Status::Internal(std::string("unexpected exception: ") + e.what());
      }
    }
  }
  for (const Status& st : status) KILN_RETURN_IF_ERROR(st);
  sliced.clear();
  outputs->clear();
  for (size_t o = 0; o < results[0].size(); ++o) {
    KILN_ASSIGN_OR_RETURN(Tensor t, stack_rows(results, o, first));
    outputs->emplace_back(std::move(t));
  }
  return Status::OK();
}

}  // namespace kiln
