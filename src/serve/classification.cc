#include "serve/classification.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <numeric>
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
void rank_entries(const Tensor& scores, int64_t entries, int64_t per_entry, int64_t k, Tensor* out) {
  const T* values = scores.data<T>();
  std::string* text = out->data<std::string>();
  std::vector<int64_t> order(static_cast<size_t>(per_entry));
  for (int64_t e = 0; e < entries; ++e) {
    const T* row = values + e * per_entry;
    std::iota(order.begin(), order.end(), int64_t{0});
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [row](int64_t a, int64_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
    for (int64_t i = 0; i < k; ++i) text[e * k + i] = value_text(row[order[i]]) + ":" + std::to_string(order[i]);
  }
}

}  // namespace

bool classifiable(DataType dtype) {
  switch (dtype) {
    case DataType::kUInt8:
    case DataType::kUInt16:
    case DataType::kUInt32:
    case DataType::kUInt64:
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32:
    case DataType::kInt64:
    case DataType::kFloat32:
    case DataType::kFloat64:
      return true;
    default:
      return false;
  }
}

Expected<Tensor> classify_top_k(const Tensor& scores, int64_t k, bool batched, const std::string& output) {
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
  switch (scores.dtype()) {
    case DataType::kUInt8:
      rank_entries<uint8_t>(scores, entries, per_entry, top, &out);
      break;
    case DataType::kUInt16:
      rank_entries<uint16_t>(scores, entries, per_entry, top, &out);
      break;
    case DataType::kUInt32:
      rank_entries<uint32_t>(scores, entries, per_entry, top, &out);
      break;
    case DataType::kUInt64:
      rank_entries<uint64_t>(scores, entries, per_entry, top, &out);
      break;
    case DataType::kInt8:
      rank_entries<int8_t>(scores, entries, per_entry, top, &out);
      break;
    case DataType::kInt16:
      rank_entries<int16_t>(scores, entries, per_entry, top, &out);
      break;
    case DataType::kInt32:
      rank_entries<int32_t>(scores, entries, per_entry, top, &out);
      break;
    case DataType::kInt64:
      rank_entries<int64_t>(scores, entries, per_entry, top, &out);
      break;
    case DataType::kFloat32:
      rank_entries<float>(scores, entries, per_entry, top, &out);
      break;
    case DataType::kFloat64:
      rank_entries<double>(scores, entries, per_entry, top, &out);
      break;
    default:
      break;  // refused above
  }
  return out;
}

}  // namespace kiln::serve
