// Sequence operators (opset 11+): build, index, edit and measure sequences of tensors, split a tensor
// into one, and join one back. SequenceMap (opset 17) runs a body per element.
//
// A sequence keeps its element type even when empty, so every operator that creates one sets it.
#include <algorithm>
#include <string>

#include "kernels/ref/common.h"
#include "kernels/ref/stacking.h"

namespace kiln::ref {
namespace {

Status require_sequence(const KernelContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return Status::InvalidArgument("input " + std::to_string(i) + " is required");
  if (!ctx.input(i).is_sequence()) return Status::InvalidArgument("input " + std::to_string(i) + " must be a sequence");
  return Status::OK();
}

// Reads a position input: a one-element int32/int64 tensor (spec says scalar; exporters also use [1]).
Expected<int64_t> read_position(const KernelContext& ctx, size_t i) {
  KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
  const Tensor& t = ctx.tensor(i);
  if (t.size() != 1 || (t.dtype() != DataType::kInt64 && t.dtype() != DataType::kInt32)) {
    return Status::InvalidArgument("position must be a scalar int32 or int64 tensor, got " +
                                   std::string(data_type_name(t.dtype())) + shape_to_string(t.shape()));
  }
  return t.dtype() == DataType::kInt64 ? t.data<int64_t>()[0] : t.data<int32_t>()[0];
}

// Normalizes `pos` into [0, size) (or [0, size] when `allow_end`), naming the accepted range on error.
Expected<size_t> normalize_position(int64_t pos, size_t size, bool allow_end) {
  const int64_t n = static_cast<int64_t>(size);
  const int64_t hi = allow_end ? n : n - 1;
  if (pos < -n || pos > hi) {
    return Status::InvalidArgument("position " + std::to_string(pos) + " is out of range [" + std::to_string(-n) +
                                   ", " + std::to_string(hi) + "] for a sequence of " + std::to_string(n));
  }
  return static_cast<size_t>(pos < 0 ? pos + n : pos);
}

Status check_element_type(DataType seq_type, const Tensor& t) {
  if (seq_type != DataType::kUndefined && t.dtype() != seq_type) {
    return Status::InvalidArgument("tensor of type " + std::string(data_type_name(t.dtype())) +
                                   " does not fit a sequence of " + std::string(data_type_name(seq_type)));
  }
  return Status::OK();
}

Status sequence_construct(KernelContext& ctx) {
  if (ctx.num_inputs() == 0) return Status::InvalidArgument("SequenceConstruct needs at least one input");
  std::vector<Tensor> items;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
    if (i > 0 && ctx.tensor(i).dtype() != items[0].dtype()) {
      return Status::InvalidArgument("input " + std::to_string(i) + " has type " +
                                     std::string(data_type_name(ctx.tensor(i).dtype())) + ", input 0 has " +
                                     std::string(data_type_name(items[0].dtype())));
    }
    items.push_back(ctx.tensor(i));
  }
  const DataType type = items[0].dtype();
  ctx.set_output(0, Value::sequence(std::move(items), type));
  return Status::OK();
}

class SequenceEmptyKernel : public Kernel {
 public:
  explicit SequenceEmptyKernel(DataType type) : type_(type) {}
  Status run(KernelContext& ctx) const override {
    ctx.set_output(0, Value::sequence({}, type_));
    return Status::OK();
  }

 private:
  DataType type_;
};

Expected<std::unique_ptr<Kernel>> make_sequence_empty(const KernelBuildContext& b) {
  const int64_t code = b.node.attr_int("dtype", static_cast<int64_t>(DataType::kFloat32));
  const auto type = data_type_from_onnx(static_cast<int32_t>(code));
  if (!type || *type == DataType::kUndefined || code != static_cast<int32_t>(code)) {
    return Status::InvalidArgument("attribute 'dtype' " + std::to_string(code) + " is not a data type");
  }
  return std::unique_ptr<Kernel>(std::make_unique<SequenceEmptyKernel>(*type));
}

Status sequence_at(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_sequence(ctx, 0));
  const auto& items = ctx.input(0).sequence_items();
  KILN_ASSIGN_OR_RETURN(int64_t pos, read_position(ctx, 1));
  KILN_ASSIGN_OR_RETURN(size_t i, normalize_position(pos, items.size(), false));
  ctx.set_output(0, Value(items[i]));
  return Status::OK();
}

Status sequence_insert(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_sequence(ctx, 0));
  KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
  const Value& seq = ctx.input(0);
  const Tensor& t = ctx.tensor(1);
  KILN_RETURN_IF_ERROR(check_element_type(seq.sequence_type(), t));
  size_t at = seq.sequence_items().size();
  if (ctx.has_input(2)) {
    KILN_ASSIGN_OR_RETURN(int64_t pos, read_position(ctx, 2));
    KILN_ASSIGN_OR_RETURN(at, normalize_position(pos, seq.sequence_items().size(), true));
  }
  std::vector<Tensor> items = seq.sequence_items();
  items.insert(items.begin() + static_cast<std::ptrdiff_t>(at), t);
  ctx.set_output(0, Value::sequence(std::move(items), t.dtype()));
  return Status::OK();
}

Status sequence_erase(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_sequence(ctx, 0));
  const Value& seq = ctx.input(0);
  int64_t pos = -1;
  if (ctx.has_input(1)) {
    KILN_ASSIGN_OR_RETURN(pos, read_position(ctx, 1));
  }
  KILN_ASSIGN_OR_RETURN(size_t at, normalize_position(pos, seq.sequence_items().size(), false));
  std::vector<Tensor> items = seq.sequence_items();
  items.erase(items.begin() + static_cast<std::ptrdiff_t>(at));
  ctx.set_output(0, Value::sequence(std::move(items), seq.sequence_type()));
  return Status::OK();
}

Status sequence_length(KernelContext& ctx) {
  KILN_RETURN_IF_ERROR(require_sequence(ctx, 0));
  ctx.set_output(0, Value(Tensor::scalar<int64_t>(static_cast<int64_t>(ctx.input(0).sequence_items().size()))));
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------------
// SplitToSequence and ConcatFromSequence

class SplitToSequenceKernel : public Kernel {
 public:
  SplitToSequenceKernel(int64_t axis, bool keepdims) : axis_(axis), keepdims_(keepdims) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& in = ctx.tensor(0);
    if (in.rank() == 0) return Status::InvalidArgument("cannot split a scalar");
    KILN_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(axis_, in.rank()));
    const int64_t dim = in.dim(axis);
    std::vector<Tensor> items;
    if (!ctx.has_input(1)) {
      // No split: one element per index, the axis dropped unless keepdims.
      for (int64_t i = 0; i < dim; ++i) items.push_back(keepdims_ ? narrow_axis(in, axis, i, 1) : select_axis(in, axis, i));
      ctx.set_output(0, Value::sequence(std::move(items), in.dtype()));
      return Status::OK();
    }
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& split = ctx.tensor(1);
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> lengths, read_int_list(split, "split"));
    if (split.rank() == 0) {
      const int64_t chunk = lengths[0];
      if (chunk <= 0) return Status::InvalidArgument("split must be positive, got " + std::to_string(chunk));
      lengths.clear();
      for (int64_t start = 0; start < dim; start += chunk) lengths.push_back(std::min(chunk, dim - start));
    } else {
      int64_t total = 0;
      for (int64_t len : lengths) {
        if (len < 0) return Status::InvalidArgument("split lengths must not be negative, got " + std::to_string(len));
        if (len > dim - total) {  // checked before adding, so huge lengths cannot overflow
          total = -1;
          break;
        }
        total += len;
      }
      if (total != dim) {
        return Status::InvalidArgument("split lengths must sum to " + std::to_string(dim) + ", the size of axis " +
                                       std::to_string(axis));
      }
    }
    int64_t start = 0;
    for (int64_t len : lengths) {
      items.push_back(narrow_axis(in, axis, start, len));
      start += len;
    }
    ctx.set_output(0, Value::sequence(std::move(items), in.dtype()));
    return Status::OK();
  }

 private:
  int64_t axis_;
  bool keepdims_;
};

Expected<std::unique_ptr<Kernel>> make_split_to_sequence(const KernelBuildContext& b) {
  const int64_t keepdims = b.node.attr_int("keepdims", 1);
  if (keepdims != 0 && keepdims != 1) return Status::InvalidArgument("attribute 'keepdims' must be 0 or 1");
  return std::unique_ptr<Kernel>(std::make_unique<SplitToSequenceKernel>(b.node.attr_int("axis", 0), keepdims == 1));
}

class ConcatFromSequenceKernel : public Kernel {
 public:
  ConcatFromSequenceKernel(int64_t axis, bool new_axis) : axis_(axis), new_axis_(new_axis) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_sequence(ctx, 0));
    const auto& items = ctx.input(0).sequence_items();
    if (items.empty()) return Status::InvalidArgument("cannot concatenate an empty sequence");
    const int64_t rank = items[0].rank() + (new_axis_ ? 1 : 0);
    if (rank == 0) return Status::InvalidArgument("cannot concatenate scalars without new_axis=1");
    KILN_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(axis_, rank));
    KILN_ASSIGN_OR_RETURN(Tensor out, new_axis_ ? stack_tensors(items, axis) : concat_tensors(items, axis));
    ctx.set_output(0, Value(std::move(out)));
    return Status::OK();
  }

 private:
  int64_t axis_;
  bool new_axis_;
};

Expected<std::unique_ptr<Kernel>> make_concat_from_sequence(const KernelBuildContext& b) {
  if (!b.node.has_attr("axis")) return Status::InvalidArgument("attribute 'axis' is required");
  const int64_t new_axis = b.node.attr_int("new_axis", 0);
  if (new_axis != 0 && new_axis != 1) return Status::InvalidArgument("attribute 'new_axis' must be 0 or 1");
  return std::unique_ptr<Kernel>(
      std::make_unique<ConcatFromSequenceKernel>(b.node.attr_int("axis", 0), new_axis == 1));
}

// ---------------------------------------------------------------------------------------------------
// SequenceMap: body input i is element t of sequence input i, or the whole tensor input i; body output
// j at every t forms output sequence j. All sequence inputs must have the first input's length.

class SequenceMapKernel : public Kernel {
 public:
  explicit SequenceMapKernel(std::shared_ptr<const Subgraph> body) : body_(std::move(body)) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_sequence(ctx, 0));
    const size_t length = ctx.input(0).sequence_items().size();
    for (size_t i = 1; i < ctx.num_inputs(); ++i) {
      if (!ctx.has_input(i)) return Status::InvalidArgument("input " + std::to_string(i) + " is required");
      const Value& v = ctx.input(i);
      if (v.is_none()) return Status::InvalidArgument("input " + std::to_string(i) + " must be a sequence or tensor");
      if (v.is_sequence() && v.sequence_items().size() != length) {
        return Status::InvalidArgument("sequence input " + std::to_string(i) + " has " +
                                       std::to_string(v.sequence_items().size()) + " elements, input 0 has " +
                                       std::to_string(length));
      }
    }
    const size_t num_out = body_->outputs().size();
    std::vector<std::vector<Tensor>> results(num_out);
    std::vector<Value> body_inputs(ctx.num_inputs());
    std::vector<Value> outs;
    for (size_t t = 0; t < length; ++t) {
      for (size_t i = 0; i < ctx.num_inputs(); ++i) {
        const Value& v = ctx.input(i);
        body_inputs[i] = v.is_sequence() ? Value(v.sequence_items()[t]) : v;
      }
      Status st = body_->run(body_inputs, ctx.frame(), &outs);
      if (!st.ok()) return st.with_context("body, element " + std::to_string(t));
      for (size_t j = 0; j < num_out; ++j) {
        if (!outs[j].is_tensor()) return Status::InvalidArgument("body output " + std::to_string(j) + " must be a tensor");
        results[j].push_back(std::move(outs[j].tensor()));
      }
    }
    for (size_t j = 0; j < num_out && j < ctx.num_outputs(); ++j) {
      // The element type comes from the body's declaration, so that empty results keep it.
      DataType type = body_->outputs()[j].type.elem_type;
      if (!results[j].empty()) type = results[j][0].dtype();
      ctx.set_output(j, Value::sequence(std::move(results[j]), type));
    }
    return Status::OK();
  }

 private:
  std::shared_ptr<const Subgraph> body_;
};

Expected<std::unique_ptr<Kernel>> make_sequence_map(const KernelBuildContext& b) {
  const ir::Graph* g = b.node.attr_graph("body");
  if (g == nullptr) return Status::InvalidArgument("attribute 'body' (a graph) is required");
  if (b.node.inputs.empty()) return Status::InvalidArgument("input 'input_sequence' is required");
  auto compiled = b.compile_subgraph(*g);
  if (!compiled.ok()) return compiled.status().with_context("body");
  std::shared_ptr<const Subgraph> body = std::move(compiled).value();
  if (body->inputs().size() != b.node.inputs.size()) {
    return Status::InvalidArgument("body has " + std::to_string(body->inputs().size()) + " inputs, the node has " +
                                   std::to_string(b.node.inputs.size()));
  }
  if (body->outputs().size() != b.node.outputs.size()) {
    return Status::InvalidArgument("body has " + std::to_string(body->outputs().size()) + " outputs, the node has " +
                                   std::to_string(b.node.outputs.size()));
  }
  return std::unique_ptr<Kernel>(std::make_unique<SequenceMapKernel>(std::move(body)));
}

}  // namespace

KILN_REGISTER_KERNEL("", "SequenceConstruct", 11, kMaxOpset, stateless(sequence_construct));
KILN_REGISTER_KERNEL("", "SequenceEmpty", 11, kMaxOpset, make_sequence_empty);
KILN_REGISTER_KERNEL("", "SequenceAt", 11, kMaxOpset, stateless(sequence_at));
KILN_REGISTER_KERNEL("", "SequenceInsert", 11, kMaxOpset, stateless(sequence_insert));
KILN_REGISTER_KERNEL("", "SequenceErase", 11, kMaxOpset, stateless(sequence_erase));
KILN_REGISTER_KERNEL("", "SequenceLength", 11, kMaxOpset, stateless(sequence_length));
KILN_REGISTER_KERNEL("", "SplitToSequence", 11, kMaxOpset, make_split_to_sequence);
KILN_REGISTER_KERNEL("", "ConcatFromSequence", 11, kMaxOpset, make_concat_from_sequence);
KILN_REGISTER_KERNEL("", "SequenceMap", 17, kMaxOpset, make_sequence_map);

}  // namespace kiln::ref
