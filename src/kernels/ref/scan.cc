// Scan: iterate a body over slices of the scan inputs, carrying state, stacking per-iteration outputs.
//
// Scan-8 has a batch axis 0 on every input and output, scans axis 1, and takes an optional
// sequence_lens input (outputs past a batch entry's length are zero-padded). Scan-9 and later drop the
// batch axis and add per-input/per-output scan axes and directions.
#include <algorithm>
#include <optional>
#include <string>

#include "kernels/ref/common.h"
#include "kernels/ref/stacking.h"
#include "kernels/run_stop.h"

namespace kiln::ref {
namespace {

// What one scan over a single (unbatched) sequence produces.
struct ScanResult {
  std::vector<Value> states;                   // in: the initial states; out: the final ones
  std::vector<std::vector<Tensor>> outputs;    // per scan output, one tensor per iteration in order
};

// Runs `length` iterations of `body`. Iteration t reads slice t (or length-1-t when reversed) of each
// scan input along its axis.
Status run_iterations(const Subgraph& body, const Frame* frame, const std::vector<Tensor>& inputs,
                      const std::vector<int64_t>& axes, const std::vector<int64_t>& directions, int64_t length,
                      size_t num_outputs, ScanResult* result) {
  const size_t n = result->states.size();
  result->outputs.assign(num_outputs, {});
  std::vector<Value> body_inputs(n + inputs.size());
  for (size_t j = 0; j < n; ++j) body_inputs[j] = std::move(result->states[j]);
  std::vector<Value> outs;
  for (int64_t t = 0; t < length; ++t) {
    if (Status stop = check_run_stop(frame); !stop.ok()) return stop.with_context("before iteration " + std::to_string(t));
    for (size_t m = 0; m < inputs.size(); ++m) {
      const int64_t index = directions[m] == 1 ? length - 1 - t : t;
      body_inputs[n + m] = Value(select_axis(inputs[m], axes[m], index));
    }
    Status st = body.run(body_inputs, frame, &outs);
    if (!st.ok()) return st.with_context("body, iteration " + std::to_string(t));
    if (outs.size() != n + num_outputs) return Status::Internal("Scan body produced " + std::to_string(outs.size()) + " outputs");
    for (size_t j = 0; j < n; ++j) {
      if (!outs[j].is_tensor()) return Status::InvalidArgument("state output " + std::to_string(j) + " of the body must be a tensor");
      body_inputs[j] = std::move(outs[j]);
    }
    for (size_t k = 0; k < num_outputs; ++k) {
      Value& v = outs[n + k];
      if (!v.is_tensor()) return Status::InvalidArgument("scan output " + std::to_string(k) + " of the body must be a tensor");
      const auto& prev = result->outputs[k];
      if (!prev.empty() && (prev[0].shape() != v.tensor().shape() || prev[0].dtype() != v.tensor().dtype())) {
        return Status::InvalidArgument("scan output " + std::to_string(k) + " changed from " +
                                       shape_to_string(prev[0].shape()) + " to " + shape_to_string(v.tensor().shape()) +
                                       " at iteration " + std::to_string(t));
      }
      result->outputs[k].push_back(std::move(v.tensor()));
    }
  }
  for (size_t j = 0; j < n; ++j) result->states[j] = std::move(body_inputs[j]);
  return Status::OK();
}

// A declared tensor shape whose dims are all fixed, or nullopt.
std::optional<Shape> declared_shape(const ir::ValueInfo& decl) {
  if (decl.type.kind != ir::TypeInfo::Kind::kTensor || !decl.type.shape) return std::nullopt;
  Shape s;
  for (const ir::Dim& d : *decl.type.shape) {
    if (!d.is_fixed()) return std::nullopt;
    s.push_back(d.value);
  }
  return s;
}

std::vector<int64_t> attr_list(const ir::Node& n, const char* name, size_t count) {
  std::vector<int64_t> v = n.attr_ints(name);
  if (!n.has_attr(name)) v.assign(count, 0);
  return v;
}

Status check_attr_list(const ir::Node& n, const char* name, const std::vector<int64_t>& v, size_t count, bool flags) {
  if (v.size() != count) {
    return Status::InvalidArgument(std::string("attribute '") + name + "' has " + std::to_string(v.size()) +
                                   " entries, expected " + std::to_string(count));
  }
  for (int64_t x : v) {
    if (flags && x != 0 && x != 1) return Status::InvalidArgument(std::string("attribute '") + name + "' must hold 0 or 1");
  }
  return Status::OK();
}

// Checks that every node input from `first` on is a tensor; Scan carries no sequences.
Status require_tensors(const KernelContext& ctx, size_t first) {
  for (size_t i = first; i < ctx.num_inputs(); ++i) KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------------
// Scan-9 and later

class ScanKernel : public Kernel {
 public:
  ScanKernel(std::shared_ptr<const Subgraph> body, size_t num_states, std::vector<int64_t> in_axes,
             std::vector<int64_t> in_dirs, std::vector<int64_t> out_axes, std::vector<int64_t> out_dirs)
      : body_(std::move(body)), num_states_(num_states), in_axes_(std::move(in_axes)), in_dirs_(std::move(in_dirs)),
        out_axes_(std::move(out_axes)), out_dirs_(std::move(out_dirs)) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensors(ctx, 0));
    const size_t m = in_axes_.size();
    std::vector<Tensor> inputs;
    std::vector<int64_t> axes;
    int64_t length = -1;
    for (size_t i = 0; i < m; ++i) {
      const Tensor& t = ctx.tensor(num_states_ + i);
      KILN_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(in_axes_[i], t.rank()));
      if (length >= 0 && t.dim(axis) != length) {
        return Status::InvalidArgument("scan input " + std::to_string(i) + " has " + std::to_string(t.dim(axis)) +
                                       " slices on axis " + std::to_string(axis) + ", scan input 0 has " +
                                       std::to_string(length));
      }
      length = t.dim(axis);
      inputs.push_back(t);
      axes.push_back(axis);
    }
    ScanResult r;
    for (size_t j = 0; j < num_states_; ++j) r.states.push_back(ctx.input(j));
    const size_t k_count = out_axes_.size();
    KILN_RETURN_IF_ERROR(run_iterations(*body_, ctx.frame(), inputs, axes, in_dirs_, length, k_count, &r));
    for (size_t j = 0; j < num_states_ && j < ctx.num_outputs(); ++j) ctx.set_output(j, std::move(r.states[j]));
    for (size_t k = 0; k < k_count && num_states_ + k < ctx.num_outputs(); ++k) {
      std::vector<Tensor>& items = r.outputs[k];
      Expected<Tensor> out = Tensor();
      if (items.empty()) {
        const ir::ValueInfo& decl = body_->outputs()[num_states_ + k];
        const std::optional<Shape> shape = declared_shape(decl);
        const int64_t rank = shape ? static_cast<int64_t>(shape->size()) + 1 : 1;
        const int64_t axis = out_axes_[k] < 0 ? out_axes_[k] + rank : out_axes_[k];
        out = empty_stack(decl, axis);
      } else {
        KILN_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(out_axes_[k], items[0].rank() + 1));
        if (out_dirs_[k] == 1) std::reverse(items.begin(), items.end());
        out = stack_tensors(items, axis);
      }
      if (!out.ok()) return out.status().with_context("scan output " + std::to_string(k));
      ctx.set_output(num_states_ + k, std::move(out).value());
    }
    return Status::OK();
  }

 private:
  std::shared_ptr<const Subgraph> body_;
  size_t num_states_;
  std::vector<int64_t> in_axes_, in_dirs_, out_axes_, out_dirs_;
};

// Shared checks of the body against the node; returns K, the number of scan outputs.
Expected<size_t> check_body(const ir::Node& n, const Subgraph& body, size_t num_states, size_t num_scan_inputs) {
  if (body.inputs().size() != num_states + num_scan_inputs) {
    return Status::InvalidArgument("body has " + std::to_string(body.inputs().size()) + " inputs, expected " +
                                   std::to_string(num_states + num_scan_inputs) + " (" + std::to_string(num_states) +
                                   " states and " + std::to_string(num_scan_inputs) + " scan inputs)");
  }
  if (body.outputs().size() < num_states) {
    return Status::InvalidArgument("body has " + std::to_string(body.outputs().size()) + " outputs, fewer than the " +
                                   std::to_string(num_states) + " states");
  }
  const size_t k = body.outputs().size() - num_states;
  if (n.outputs.size() > num_states + k) {
    return Status::InvalidArgument("node has " + std::to_string(n.outputs.size()) + " outputs, the body provides " +
                                   std::to_string(num_states + k));
  }
  return k;
}

Expected<std::shared_ptr<const Subgraph>> compile_body(const KernelBuildContext& b) {
  const ir::Graph* g = b.node.attr_graph("body");
  if (g == nullptr) return Status::InvalidArgument("attribute 'body' (a graph) is required");
  auto compiled = b.compile_subgraph(*g);
  if (!compiled.ok()) return compiled.status().with_context("body");
  return compiled;
}

Expected<int64_t> num_scan_inputs(const ir::Node& n, size_t available) {
  const int64_t m = n.attr_int("num_scan_inputs", -1);
  if (m < 1 || static_cast<size_t>(m) > available) {
    return Status::InvalidArgument("attribute 'num_scan_inputs' must be in [1, " + std::to_string(available) +
                                   "], got " + std::to_string(m));
  }
  return m;
}

Expected<std::unique_ptr<Kernel>> make_scan(const KernelBuildContext& b) {
  const ir::Node& n = b.node;
  KILN_ASSIGN_OR_RETURN(int64_t m64, num_scan_inputs(n, n.inputs.size()));
  const size_t m = static_cast<size_t>(m64);
  const size_t num_states = n.inputs.size() - m;
  KILN_ASSIGN_OR_RETURN(auto body, compile_body(b));
  KILN_ASSIGN_OR_RETURN(size_t k, check_body(n, *body, num_states, m));
  auto in_axes = attr_list(n, "scan_input_axes", m);
  auto in_dirs = attr_list(n, "scan_input_directions", m);
  auto out_axes = attr_list(n, "scan_output_axes", k);
  auto out_dirs = attr_list(n, "scan_output_directions", k);
  KILN_RETURN_IF_ERROR(check_attr_list(n, "scan_input_axes", in_axes, m, false));
  KILN_RETURN_IF_ERROR(check_attr_list(n, "scan_input_directions", in_dirs, m, true));
  KILN_RETURN_IF_ERROR(check_attr_list(n, "scan_output_axes", out_axes, k, false));
  KILN_RETURN_IF_ERROR(check_attr_list(n, "scan_output_directions", out_dirs, k, true));
  return std::unique_ptr<Kernel>(std::make_unique<ScanKernel>(std::move(body), num_states, std::move(in_axes),
                                                              std::move(in_dirs), std::move(out_axes), std::move(out_dirs)));
}

// ---------------------------------------------------------------------------------------------------
// Scan-8: batch axis 0, scan axis 1, optional sequence_lens as input 0.

class Scan8Kernel : public Kernel {
 public:
  Scan8Kernel(std::shared_ptr<const Subgraph> body, size_t num_states, std::vector<int64_t> dirs)
      : body_(std::move(body)), num_states_(num_states), dirs_(std::move(dirs)) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensors(ctx, 1));
    const size_t m = dirs_.size();
    const size_t k_count = body_->outputs().size() - num_states_;
    // Batch and maximum sequence length, checked across every state and scan input.
    const Tensor& first = ctx.tensor(1 + num_states_);
    if (first.rank() < 2) {
      return Status::InvalidArgument("scan input 0 must have rank >= 2 ([batch, sequence, ...]), got shape " +
                                     shape_to_string(first.shape()));
    }
    const int64_t batch = first.dim(0);
    const int64_t max_len = first.dim(1);
    for (size_t i = 0; i < num_states_ + m; ++i) {
      const Tensor& t = ctx.tensor(1 + i);
      const bool scan = i >= num_states_;
      if (t.rank() < (scan ? 2 : 1) || t.dim(0) != batch || (scan && t.dim(1) != max_len)) {
        return Status::InvalidArgument((scan ? "scan input " + std::to_string(i - num_states_) : "state " + std::to_string(i)) +
                                       " has shape " + shape_to_string(t.shape()) + ", expected batch " +
                                       std::to_string(batch) + (scan ? " and sequence length " + std::to_string(max_len) : ""));
      }
    }
    std::vector<int64_t> lens(static_cast<size_t>(batch), max_len);
    if (ctx.has_input(0)) {
      KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
      KILN_ASSIGN_OR_RETURN(lens, read_int_list(ctx.tensor(0), "sequence_lens"));
      if (static_cast<int64_t>(lens.size()) != batch) {
        return Status::InvalidArgument("sequence_lens has " + std::to_string(lens.size()) + " entries, batch is " +
                                       std::to_string(batch));
      }
      for (int64_t len : lens) {
        if (len < 0 || len > max_len) {
          return Status::InvalidArgument("sequence_lens entry " + std::to_string(len) + " is outside [0, " +
                                         std::to_string(max_len) + "]");
        }
      }
    }

    const std::vector<int64_t> axes(m, 0);  // after removing the batch axis, the sequence axis is 0
    std::vector<std::vector<Tensor>> states(num_states_);   // per state, per batch entry
    std::vector<std::vector<std::vector<Tensor>>> outputs(k_count);  // per output, per batch entry
    std::vector<Tensor> element(k_count);  // one produced element per output, for padding
    for (int64_t b = 0; b < batch; ++b) {
      ScanResult r;
      for (size_t j = 0; j < num_states_; ++j) r.states.push_back(Value(select_axis(ctx.tensor(1 + j), 0, b)));
      std::vector<Tensor> inputs;
      for (size_t i = 0; i < m; ++i) inputs.push_back(select_axis(ctx.tensor(1 + num_states_ + i), 0, b));
      Status st = run_iterations(*body_, ctx.frame(), inputs, axes, dirs_, lens[static_cast<size_t>(b)], k_count, &r);
      if (!st.ok()) return st.with_context("batch entry " + std::to_string(b));
      for (size_t j = 0; j < num_states_; ++j) states[j].push_back(r.states[j].tensor());
      for (size_t k = 0; k < k_count; ++k) {
        if (!r.outputs[k].empty()) element[k] = r.outputs[k][0];
        outputs[k].push_back(std::move(r.outputs[k]));
      }
    }

    for (size_t j = 0; j < num_states_ && j < ctx.num_outputs(); ++j) {
      Expected<Tensor> out = batch > 0 ? stack_tensors(states[j], 0) : Tensor::make(ctx.tensor(1 + j).dtype(), ctx.tensor(1 + j).shape());
      if (!out.ok()) return out.status().with_context("state " + std::to_string(j));
      ctx.set_output(j, std::move(out).value());
    }
    for (size_t k = 0; k < k_count && num_states_ + k < ctx.num_outputs(); ++k) {
      KILN_ASSIGN_OR_RETURN(Tensor out, stack_batches(k, outputs[k], element[k], batch, max_len));
      ctx.set_output(num_states_ + k, std::move(out));
    }
    return Status::OK();
  }

 private:
  // [batch, max_len, ...] from per-batch lists of per-iteration tensors, zero-padded to max_len.
  Expected<Tensor> stack_batches(size_t k, std::vector<std::vector<Tensor>>& per_batch, const Tensor& element,
                                 int64_t batch, int64_t max_len) const {
    const ir::ValueInfo& decl = body_->outputs()[num_states_ + k];
    DataType dtype = element.defined() ? element.dtype() : decl.type.elem_type;
    std::optional<Shape> shape = element.defined() ? std::optional<Shape>(element.shape()) : declared_shape(decl);
    if (dtype == DataType::kUndefined || !shape) {
      if (batch * max_len == 0 && dtype != DataType::kUndefined) return Tensor::make(dtype, {batch, max_len});
      return Status::InvalidArgument("scan output " + std::to_string(k) + " was never produced and its shape is not declared");
    }
    Shape full = *shape;
    full.insert(full.begin(), {batch, max_len});
    if (batch * max_len == 0) return Tensor::make(dtype, full);
    KILN_ASSIGN_OR_RETURN(Tensor zero, Tensor::make(dtype, *shape));
    std::vector<Tensor> rows;
    for (auto& items : per_batch) {
      items.resize(static_cast<size_t>(max_len), zero);
      KILN_ASSIGN_OR_RETURN(Tensor row, stack_tensors(items, 0));
      rows.push_back(std::move(row));
    }
    auto out = stack_tensors(rows, 0);
    if (!out.ok()) return out.status().with_context("scan output " + std::to_string(k));
    return out;
  }

  std::shared_ptr<const Subgraph> body_;
  size_t num_states_;
  std::vector<int64_t> dirs_;
};

Expected<std::unique_ptr<Kernel>> make_scan8(const KernelBuildContext& b) {
  const ir::Node& n = b.node;
  if (n.inputs.empty()) return Status::InvalidArgument("Scan-8 needs inputs (sequence_lens, states..., scan inputs...)");
  KILN_ASSIGN_OR_RETURN(int64_t m64, num_scan_inputs(n, n.inputs.size() - 1));
  const size_t m = static_cast<size_t>(m64);
  const size_t num_states = n.inputs.size() - 1 - m;
  KILN_ASSIGN_OR_RETURN(auto body, compile_body(b));
  KILN_RETURN_IF_ERROR(check_body(n, *body, num_states, m).status());
  auto dirs = attr_list(n, "directions", m);
  KILN_RETURN_IF_ERROR(check_attr_list(n, "directions", dirs, m, true));
  return std::unique_ptr<Kernel>(std::make_unique<Scan8Kernel>(std::move(body), num_states, std::move(dirs)));
}

}  // namespace

KILN_REGISTER_KERNEL("", "Scan", 8, 8, make_scan8);
KILN_REGISTER_KERNEL("", "Scan", 9, kMaxOpset, make_scan);

}  // namespace kiln::ref
