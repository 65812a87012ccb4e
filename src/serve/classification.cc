#include "serve/classification.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <numeric>
#include <tuple>
#include <vector>

#include "serve/datatype_names.h"

namespace kiln::serve {

namespace {

// Triton's to_string_with_precision: fixed notation, 9 decimals; integers print as such.
template <typename T>
std::string value_text(T v) {
  char buf[64];
  if constexpr (std::is_floating_point_v<T>) {
    std::snprintf(buf, sizeof(buf), "%.9f", static_cast<double>(v));
  } else if constexpr (std::is_signed_v<T>) {
    std::snprintf(buf, sizeof(buf), "%" PRId64, static_cast<int64_t>(v));
  } else {
    std::snprintf(buf, sizeof(buf), "%" PRIu64, static_cast<uint64_t>(v));
  }
  return buf;
}

template <typename T>
void rank_entries(const Tensor& scores, int64_t entries, int64_t per_entry, int64_t k,
                  std::span<const std::string> labels, Tensor* out) {
  const T* values = scores.data<T>();
  std::string* text = out->data<std::string>();
  std::vector<int64_t> order(static_cast<size_t>(per_entry));
  for (int64_t e = 0; e < entries; ++e) {
    const T* row = values + e * per_entry;
    std::iota(order.begin(), order.end(), int64_t{0});
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [row](int64_t a, int64_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
    for (int64_t i = 0; i < k; ++i) {
      const int64_t index = order[i];
      std::string& t = text[e * k + i];
      t = value_text(row[index]) + ":" + std::to_string(index);
      if (static_cast<size_t>(index) < labels.size() && !labels[index].empty()) t += ":" + labels[index];
    }
  }
}

// The score types Triton classifies: integers, FP32 and FP64 (not FP16/BF16, BOOL or BYTES).
using ClassifiableTypes =
    std::tuple<uint8_t, uint16_t, uint32_t, uint64_t, int8_t, int16_t, int32_t, int64_t, float, double>;

// Calls fn(T{}) for the classifiable T whose DataType is `dtype`; false when there is none.
template <class Fn>
bool visit_classifiable(DataType dtype, Fn&& fn) {
  return std::apply(
      [&](auto... types) { return ((dtype == data_type_of<decltype(types)> ? (fn(types), true) : false) || ...); },
      ClassifiableTypes{});
}

}  // namespace

bool classifiable(DataType dtype) {
  return visit_classifiable(dtype, [](auto) {});
}

Expected<Tensor> classify_top_k(const Tensor& scores, int64_t k, bool batched, const std::string& output,
                                std::span<const std::string> labels) {
  if (!classifiable(scores.dtype())) {
    return Status::InvalidArgument("output '" + output + "': classification needs integer, FP32 or FP64 values, not " +
                                   std::string(kserve_datatype_name(scores.dtype())));
  }
  if (k <= 0) return Status::InvalidArgument("output '" + output + "': classification count must be positive");
  const int64_t entries = batched && scores.rank() > 0 ? scores.dim(0) : 1;
  const int64_t per_entry = entries > 0 ? scores.size() / entries : 0;
  const int64_t top = std::min(k, per_entry);
  KILN_ASSIGN_OR_RETURN(
      Tensor out, Tensor::make(DataType::kString, batched && scores.rank() > 0 ? Shape{entries, top} : Shape{top}));
  visit_classifiable(scores.dtype(),
                     [&](auto type) { rank_entries<decltype(type)>(scores, entries, per_entry, top, labels, &out); });
  return out;
}

}  // namespace kiln::serve
