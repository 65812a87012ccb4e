#include "serve/batch_tensors.h"

#include <string>

#include "core/tensor_rows.h"

namespace kiln::serve {

int64_t batch_rows(const std::vector<NamedValue>& inputs) {
  if (inputs.empty() || !inputs[0].value.is_tensor() || inputs[0].value.tensor().rank() == 0) return 1;
  return inputs[0].value.tensor().dim(0);
}

bool batch_compatible(const std::vector<NamedValue>& a, const std::vector<NamedValue>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || !a[i].value.is_tensor() || !b[i].value.is_tensor()) return false;
    const Tensor& x = a[i].value.tensor();
    const Tensor& y = b[i].value.tensor();
    if (x.dtype() != y.dtype() || x.rank() != y.rank() || x.rank() == 0) return false;
    for (int64_t d = 1; d < x.rank(); ++d) {
      if (x.dim(d) != y.dim(d)) return false;
    }
  }
  return true;
}

Expected<std::vector<NamedValue>> concat_batch(const std::vector<const std::vector<NamedValue>*>& parts) {
  if (parts.size() == 1) return *parts[0];  // nothing to merge; tensors are shared, not copied
  std::vector<NamedValue> out;
  const std::vector<NamedValue>& first = *parts[0];
  for (size_t i = 0; i < first.size(); ++i) {
    std::vector<const Tensor*> tensors;
    for (const auto* p : parts) tensors.push_back(&(*p)[i].value.tensor());
    KILN_ASSIGN_OR_RETURN(Tensor merged, concat_rows(tensors));
    out.push_back({first[i].name, Value(std::move(merged))});
  }
  return out;
}

Expected<std::vector<std::vector<NamedValue>>> split_batch(const std::vector<NamedValue>& outputs,
                                                           const std::vector<int64_t>& rows) {
  std::vector<std::vector<NamedValue>> out(rows.size());
  if (rows.size() == 1) {
    out[0] = outputs;
    return out;
  }
  int64_t total = 0;
  for (int64_t r : rows) total += r;
  for (const NamedValue& nv : outputs) {
    if (!nv.value.is_tensor() || nv.value.tensor().rank() == 0 || nv.value.tensor().dim(0) != total) {
      std::string got = nv.value.is_tensor() ? shape_to_string(nv.value.tensor().shape()) : "a non-tensor";
      return Status::Internal("output '" + nv.name + "' has shape " + got + ", not " + std::to_string(total) +
                              " rows for the merged batch; the model does not batch along dim 0");
    }
    int64_t row = 0;
    for (size_t r = 0; r < rows.size(); ++r) {
      KILN_ASSIGN_OR_RETURN(Tensor piece, slice_rows(nv.value.tensor(), row, rows[r]));
      row += rows[r];
      out[r].push_back({nv.name, Value(std::move(piece))});
    }
  }
  return out;
}

}  // namespace kiln::serve
