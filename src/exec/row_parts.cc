#include "exec/row_parts.h"

#include <omp.h>

#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "core/buffer_pool.h"
#include "exec/run_threads.h"

namespace kiln {

namespace {

// Rows [first, first + count) of `t` (split along dim 0), as a tensor of its own.
Expected<Tensor> row_slice(const Tensor& t, int64_t first, int64_t count) {
  Shape shape = t.shape();
  shape[0] = count;
  KILN_ASSIGN_OR_RETURN(Tensor part, Tensor::make(t.dtype(), shape, Tensor::Init::kUninitialized));
  const int64_t row = t.dim(0) > 0 ? t.size() / t.dim(0) : 0;
  if (t.dtype() == DataType::kString) {
    for (int64_t i = 0; i < count * row; ++i) part.data<std::string>()[i] = t.data<std::string>()[first * row + i];
  } else if (count * row > 0) {
    const size_t esize = data_type_size(t.dtype());
    std::memcpy(part.raw(), static_cast<const char*>(t.raw()) + first * row * esize,
                static_cast<size_t>(count * row) * esize);
  }
  return part;
}

// Output `o` of every part, stacked along dim 0; FailedPrecondition when a part's is not a tensor of
// its rows with the others' type and trailing dims.
Expected<Tensor> stack_rows(const std::vector<std::vector<Value>>& parts, size_t o, const std::vector<int64_t>& first) {
  const Value& v0 = parts[0][o];
  if (!v0.is_tensor()) return Status::FailedPrecondition("output is not a tensor");
  const Tensor& t0 = v0.tensor();
  Shape shape = t0.shape();
  if (shape.empty()) return Status::FailedPrecondition("output is a scalar");
  shape[0] = 0;
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
    shape[0] += t.dim(0);
  }
  KILN_ASSIGN_OR_RETURN(Tensor all, Tensor::make(t0.dtype(), shape, Tensor::Init::kUninitialized));
  int64_t offset = 0;
  for (const auto& part : parts) {
    const Tensor& t = part[o].tensor();
    if (t.dtype() == DataType::kString) {
      for (int64_t i = 0; i < t.size(); ++i) all.data<std::string>()[offset + i] = t.data<std::string>()[i];
    } else if (t.size() > 0) {
      const size_t esize = data_type_size(t.dtype());
      std::memcpy(static_cast<char*>(all.raw()) + offset * esize, t.raw(), static_cast<size_t>(t.size()) * esize);
    }
    offset += t.size();
  }
  return all;
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
      KILN_ASSIGN_OR_RETURN(Tensor t, row_slice(inputs[i]->tensor(), first[p], first[p + 1] - first[p]));
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
