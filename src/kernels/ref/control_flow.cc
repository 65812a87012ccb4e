// If and Loop: run compiled subgraphs in the frame of the node, so bodies see outer-scope values.
//
// Values of every kind (tensors, sequences, empty optionals) flow through branches and loop-carried
// variables unchanged, which covers If-1/11/13/16 and Loop-1/11/13/16 with one kernel each.
#include <limits>
#include <string>

#include "kernels/ref/common.h"
#include "kernels/ref/stacking.h"
#include "kernels/run_stop.h"

namespace kiln::ref {
namespace {

// Reads a one-element bool tensor (If's and Loop's conditions).
Expected<bool> read_condition(const Value& v, const std::string& what) {
  if (!v.is_tensor()) return Status::InvalidArgument(what + " must be a bool tensor");
  const Tensor& t = v.tensor();
  if (t.dtype() != DataType::kBool) {
    return Status::InvalidArgument(what + " must be bool, got " + std::string(data_type_name(t.dtype())));
  }
  if (t.size() != 1) {
    return Status::InvalidArgument(what + " must have one element, got shape " + shape_to_string(t.shape()));
  }
  return t.data<bool>()[0];
}

Expected<std::shared_ptr<const Subgraph>> compile_graph_attr(const KernelBuildContext& b, const char* name) {
  const ir::Graph* g = b.node.attr_graph(name);
  if (g == nullptr) return Status::InvalidArgument(std::string("attribute '") + name + "' (a graph) is required");
  auto compiled = b.compile_subgraph(*g);
  if (!compiled.ok()) return compiled.status().with_context(name);
  return compiled;
}

// ---------------------------------------------------------------------------------------------------
// If

class IfKernel : public Kernel {
 public:
  IfKernel(std::shared_ptr<const Subgraph> then_branch, std::shared_ptr<const Subgraph> else_branch)
      : then_(std::move(then_branch)), else_(std::move(else_branch)) {}

  Status run(KernelContext& ctx) const override {
    KILN_ASSIGN_OR_RETURN(bool cond, read_condition(ctx.input(0), "cond"));
    const Subgraph& branch = cond ? *then_ : *else_;
    std::vector<Value> outputs;
    Status st = branch.run({}, ctx.frame(), &outputs);
    if (!st.ok()) return st.with_context(cond ? "then_branch" : "else_branch");
    if (outputs.size() != ctx.num_outputs()) {
      return Status::InvalidArgument(std::string(cond ? "then_branch" : "else_branch") + " produced " +
                                     std::to_string(outputs.size()) + " outputs, the node has " +
                                     std::to_string(ctx.num_outputs()));
    }
    for (size_t i = 0; i < outputs.size(); ++i) ctx.set_output(i, std::move(outputs[i]));
    return Status::OK();
  }

 private:
  std::shared_ptr<const Subgraph> then_;
  std::shared_ptr<const Subgraph> else_;
};

Expected<std::unique_ptr<Kernel>> make_if(const KernelBuildContext& b) {
  if (b.node.inputs.empty() || b.node.inputs[0].empty()) return Status::InvalidArgument("input 'cond' is required");
  KILN_ASSIGN_OR_RETURN(auto then_branch, compile_graph_attr(b, "then_branch"));
  KILN_ASSIGN_OR_RETURN(auto else_branch, compile_graph_attr(b, "else_branch"));
  const size_t n = b.node.outputs.size();
  if (then_branch->outputs().size() != n || else_branch->outputs().size() != n) {
    return Status::InvalidArgument("then_branch has " + std::to_string(then_branch->outputs().size()) +
                                   " outputs and else_branch " + std::to_string(else_branch->outputs().size()) +
                                   ", the node has " + std::to_string(n));
  }
  return std::unique_ptr<Kernel>(std::make_unique<IfKernel>(std::move(then_branch), std::move(else_branch)));
}

// ---------------------------------------------------------------------------------------------------
// Loop
//
// Inputs: M (optional trip count), cond (optional), v_initial... (N loop-carried values).
// Body: (iteration_num, cond, v...) -> (cond, v..., scan_out...) with K scan outputs.
// Outputs: v_final... then the K scan outputs, each the per-iteration values stacked on a new axis 0.

class LoopKernel : public Kernel {
 public:
  LoopKernel(std::shared_ptr<const Subgraph> body, size_t num_carried, size_t num_scan)
      : body_(std::move(body)), num_carried_(num_carried), num_scan_(num_scan) {}

  Status run(KernelContext& ctx) const override {
    const bool has_trip_count = ctx.has_input(0);
    const bool has_cond = ctx.has_input(1);
    int64_t trip_count = std::numeric_limits<int64_t>::max();
    if (has_trip_count) {
      const Value& m = ctx.input(0);
      if (!m.is_tensor() || m.tensor().size() != 1 ||
          (m.tensor().dtype() != DataType::kInt64 && m.tensor().dtype() != DataType::kInt32)) {
        return Status::InvalidArgument("trip count M must be a one-element int64 tensor");
      }
      trip_count = m.tensor().dtype() == DataType::kInt64 ? m.tensor().data<int64_t>()[0]
                                                         : m.tensor().data<int32_t>()[0];
    }
    bool cond = true;
    if (has_cond) {
      KILN_ASSIGN_OR_RETURN(cond, read_condition(ctx.input(1), "cond"));
    }
    if (!has_trip_count && !has_cond) {
      // The spec allows this as an endless loop; running it could only hang.
      return Status::InvalidArgument("Loop has neither a trip count nor a condition, so it would never end");
    }

    std::vector<Value> body_inputs(2 + num_carried_);
    for (size_t j = 0; j < num_carried_; ++j) body_inputs[2 + j] = ctx.input(2 + j);
    std::vector<std::vector<Tensor>> scans(num_scan_);
    std::vector<Value> outs;
    for (int64_t i = 0; i < trip_count && cond; ++i) {
      // A body may be empty (outputs wired to inputs), so the executor's per-node check alone would
      // not stop a Loop of endless trip count.
      if (Status stop = check_run_stop(ctx.frame()); !stop.ok()) {
        return stop.with_context("before iteration " + std::to_string(i));
      }
      body_inputs[0] = Value(Tensor::scalar<int64_t>(i));
      body_inputs[1] = Value(Tensor::scalar<bool>(cond));
      Status st = body_->run(body_inputs, ctx.frame(), &outs);
      if (!st.ok()) return st.with_context("body, iteration " + std::to_string(i));
      if (outs.size() != 1 + num_carried_ + num_scan_) {
        return Status::Internal("Loop body produced " + std::to_string(outs.size()) + " outputs");
      }
      if (has_cond) {
        KILN_ASSIGN_OR_RETURN(cond, read_condition(outs[0], "body output 'cond' (iteration " + std::to_string(i) + ")"));
      }
      for (size_t j = 0; j < num_carried_; ++j) body_inputs[2 + j] = std::move(outs[1 + j]);
      for (size_t k = 0; k < num_scan_; ++k) {
        Value& v = outs[1 + num_carried_ + k];
        if (!v.is_tensor()) {
          return Status::InvalidArgument("scan output " + std::to_string(k) + " of the body must be a tensor (iteration " +
                                         std::to_string(i) + ")");
        }
        if (!scans[k].empty() && (v.tensor().shape() != scans[k][0].shape() || v.tensor().dtype() != scans[k][0].dtype())) {
          return Status::InvalidArgument("scan output " + std::to_string(k) + " changed from " +
                                         shape_to_string(scans[k][0].shape()) + " to " +
                                         shape_to_string(v.tensor().shape()) + " at iteration " + std::to_string(i));
        }
        scans[k].push_back(std::move(v.tensor()));
      }
    }

    for (size_t j = 0; j < num_carried_ && j < ctx.num_outputs(); ++j) ctx.set_output(j, std::move(body_inputs[2 + j]));
    for (size_t k = 0; k < num_scan_ && num_carried_ + k < ctx.num_outputs(); ++k) {
      Expected<Tensor> stacked = scans[k].empty() ? empty_stack(body_->outputs()[1 + num_carried_ + k], 0)
                                                  : stack_tensors(scans[k], 0);
      if (!stacked.ok()) return stacked.status().with_context("scan output " + std::to_string(k));
      ctx.set_output(num_carried_ + k, std::move(stacked).value());
    }
    return Status::OK();
  }

 private:
  std::shared_ptr<const Subgraph> body_;
  size_t num_carried_;
  size_t num_scan_;
};

Expected<std::unique_ptr<Kernel>> make_loop(const KernelBuildContext& b) {
  const ir::Node& n = b.node;
  if (n.inputs.size() < 2) return Status::InvalidArgument("Loop needs inputs M and cond (either may be empty)");
  KILN_ASSIGN_OR_RETURN(auto body, compile_graph_attr(b, "body"));
  const size_t num_carried = n.inputs.size() - 2;
  if (body->inputs().size() != 2 + num_carried) {
    return Status::InvalidArgument("body has " + std::to_string(body->inputs().size()) + " inputs, expected " +
                                   std::to_string(2 + num_carried) + " (iteration_num, cond and " +
                                   std::to_string(num_carried) + " loop-carried values)");
  }
  if (body->outputs().size() < 1 + num_carried) {
    return Status::InvalidArgument("body has " + std::to_string(body->outputs().size()) + " outputs, expected at least " +
                                   std::to_string(1 + num_carried) + " (cond and the loop-carried values)");
  }
  const size_t num_scan = body->outputs().size() - 1 - num_carried;
  if (n.outputs.size() > num_carried + num_scan) {
    return Status::InvalidArgument("node has " + std::to_string(n.outputs.size()) + " outputs, the body provides " +
                                   std::to_string(num_carried + num_scan));
  }
  return std::unique_ptr<Kernel>(std::make_unique<LoopKernel>(std::move(body), num_carried, num_scan));
}

}  // namespace

KILN_REGISTER_KERNEL("", "If", 1, kMaxOpset, make_if);
KILN_REGISTER_KERNEL("", "Loop", 1, kMaxOpset, make_loop);

}  // namespace kiln::ref
