#include "exec/concat_in_place.h"

namespace kiln {

std::optional<ConcatLayout> ConcatLayout::of(const std::vector<const Value*>& parts, int64_t axis) {
  if (parts.empty() || parts[0] == nullptr || !parts[0]->is_tensor()) return std::nullopt;
  const Tensor& first = parts[0]->tensor();
  const int64_t rank = first.rank();
  if (axis < 0) axis += rank;
  if (!first.defined() || first.dtype() == DataType::kString || axis < 0 || axis >= rank) return std::nullopt;
  for (int64_t d = 0; d < axis; ++d) {
    if (first.dim(d) != 1) return std::nullopt;  // the parts interleave in the output
  }
  ConcatLayout layout;
  layout.dtype = first.dtype();
  layout.shape = first.shape();
  layout.shape[static_cast<size_t>(axis)] = 0;
  int64_t offset = 0;
  for (const Value* v : parts) {
    if (v == nullptr || !v->is_tensor()) return std::nullopt;
    const Tensor& t = v->tensor();
    if (t.dtype() != layout.dtype || t.rank() != rank) return std::nullopt;
    for (int64_t d = 0; d < rank; ++d) {
      if (d != axis && t.dim(d) != first.dim(d)) return std::nullopt;
    }
    layout.offsets.push_back(offset);
    layout.part_shapes.push_back(t.shape());
    layout.shape[static_cast<size_t>(axis)] += t.dim(axis);
    offset += t.size();
  }
  return layout;
}

bool ConcatLayout::holds(const Tensor& output, const std::vector<const Value*>& parts) const {
  if (output.dtype() != dtype || output.shape() != shape || parts.size() != offsets.size()) return false;
  const auto* base = static_cast<const char*>(output.raw());
  const size_t element = data_type_size(dtype);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i] == nullptr || !parts[i]->is_tensor()) return false;
    const Tensor& t = parts[i]->tensor();
    if (t.raw() != base + static_cast<size_t>(offsets[i]) * element || t.shape() != part_shapes[i]) return false;
  }
  return true;
}

std::optional<std::vector<Shape>> ConcatLayoutMemo::key(const std::vector<const Value*>& slots,
                                                        const std::vector<int>& key_slots) {
  std::vector<Shape> shapes;
  shapes.reserve(key_slots.size());
  for (int s : key_slots) {
    const Value* v = slots[static_cast<size_t>(s)];
    if (v == nullptr || !v->is_tensor()) return std::nullopt;
    shapes.push_back(v->tensor().shape());
  }
  return shapes;
}

std::shared_ptr<const ConcatLayouts> ConcatLayoutMemo::find(const std::vector<const Value*>& slots,
                                                            const std::vector<int>& key_slots) const {
  std::shared_ptr<const ConcatLayouts> last;
  {
    const std::lock_guard<std::mutex> lock(mu_);
    last = last_;
  }
  if (last == nullptr || last->input_shapes.size() != key_slots.size()) return nullptr;
  // Compared in place: a run with the shapes seen last allocates nothing here.
  for (size_t i = 0; i < key_slots.size(); ++i) {
    const Value* v = slots[static_cast<size_t>(key_slots[i])];
    if (v == nullptr || !v->is_tensor() || v->tensor().shape() != last->input_shapes[i]) return nullptr;
  }
  return last;
}

void ConcatLayoutMemo::remember(std::shared_ptr<const ConcatLayouts> layouts) {
  const std::lock_guard<std::mutex> lock(mu_);
  last_ = std::move(layouts);
}

}  // namespace kiln
