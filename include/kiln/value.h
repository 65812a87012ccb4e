// Value: what flows along a graph edge. ONNX edges carry a tensor, a sequence of tensors, or an optional
// that may hold either; an empty optional is Kind::kNone. Copies share tensor storage.
#pragma once

#include <vector>

#include "kiln/tensor.h"

namespace kiln {

class Value {
 public:
  enum class Kind { kNone, kTensor, kSequence };

  Value() = default;  // kNone: an absent optional or an unset slot
  Value(Tensor t) : kind_(Kind::kTensor), tensor_(std::move(t)) {}  // NOLINT: implicit by design
  static Value sequence(std::vector<Tensor> items, DataType elem_type) {
    Value v;
    v.kind_ = Kind::kSequence;
    v.sequence_ = std::move(items);
    v.elem_type_ = elem_type;
    return v;
  }

  Kind kind() const { return kind_; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_tensor() const { return kind_ == Kind::kTensor; }
  bool is_sequence() const { return kind_ == Kind::kSequence; }

  const Tensor& tensor() const { return tensor_; }
  Tensor& tensor() { return tensor_; }
  const std::vector<Tensor>& sequence_items() const { return sequence_; }
  std::vector<Tensor>& sequence_items() { return sequence_; }
  // Element type of a sequence (known even when it is empty).
  DataType sequence_type() const { return elem_type_; }

 private:
  Kind kind_ = Kind::kNone;
  Tensor tensor_;
  std::vector<Tensor> sequence_;
  DataType elem_type_ = DataType::kUndefined;
};

}  // namespace kiln
