// The kernel interface and the registry that maps (domain, operator, opset) to kernel factories.
//
// Lifecycle: a factory builds a Kernel once per node when a model is loaded (parse attributes, check
// what can be checked without shapes, compile subgraphs). Kernel::run is const and may be called from
// many threads at once with different KernelContexts; kernels keep no mutable state.
//
// Kernels register themselves next to their code:
//
//   KILN_REGISTER_KERNEL("", "Relu", 1, kMaxOpset, make_relu);
//
// so adding an operator never touches a central table. When several kernels cover the same node the
// one with the highest priority wins (reference kernels use priority 0; fast kernels register higher).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"
#include "kiln/value.h"

namespace kiln {

// Highest opset kiln implements for each domain.
inline constexpr int kMaxOpset = 17;
inline constexpr int kMaxMlOpset = 3;

class Frame;  // exec/: a running graph's values, through which subgraphs see enclosing scopes

// A compiled subgraph (the body of If, Loop, Scan, SequenceMap) that a control-flow kernel runs.
class Subgraph {
 public:
  virtual ~Subgraph() = default;
  virtual const std::vector<ir::ValueInfo>& inputs() const = 0;
  virtual const std::vector<ir::ValueInfo>& outputs() const = 0;
  // Runs the body with `inputs` bound to its formal inputs in order; names the body uses but does not
  // define are looked up in `outer`. Fills `outputs` with one Value per formal output. Thread-safe.
  virtual Status run(const std::vector<Value>& inputs, const Frame* outer, std::vector<Value>* outputs) const = 0;
};

// What a factory sees of the node it builds a kernel for.
struct KernelBuildContext {
  const ir::Node& node;
  int64_t opset;  // the model's opset for the node's domain
  // Compiles a graph attribute of this node; the result may be shared by the kernel.
  std::function<Expected<std::shared_ptr<const Subgraph>>(const ir::Graph&)> compile_subgraph;
  // The value of input i when it is a constant (an initializer that no graph input can override), so a
  // kernel can pre-pack weights once; nullptr otherwise. May be empty (tests): read it with constant().
  std::function<const Tensor*(size_t)> constant_input = nullptr;

  // Input i's constant value, or nullptr when it is not a constant or nobody provided constant_input.
  // The tensor lives as long as the model; a kernel may keep a copy (tensors share their storage).
  const Tensor* constant(size_t i) const { return constant_input ? constant_input(i) : nullptr; }
};

// What a running kernel sees: its inputs, its output slots, and the frame it runs in.
class KernelContext {
 public:
  KernelContext(const std::vector<const Value*>& inputs, std::vector<Value>* outputs, const Frame* frame)
      : inputs_(inputs), outputs_(outputs), frame_(frame) {}

  size_t num_inputs() const { return inputs_.size(); }
  // False for an omitted optional input (empty name, or index past the end).
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  // The input value; an omitted input reads as a kNone Value.
  const Value& input(size_t i) const;
  // The input tensor; an omitted input or a non-tensor reads as an undefined Tensor.
  const Tensor& tensor(size_t i) const;

  size_t num_outputs() const { return outputs_->size(); }
  // Publishes output i. A node may omit trailing optional outputs (Dropout's mask, MaxPool's indices) or,
  // in a malformed model, declare fewer outputs than its operator has: a value for an output the node
  // does not have is dropped, so kernels need not check num_outputs() before each set_output.
  void set_output(size_t i, Value v) {
    if (i < outputs_->size()) (*outputs_)[i] = std::move(v);
  }
  const Frame* frame() const { return frame_; }

  // A tensor of `dtype` and `shape` for output 0, whose every element the kernel writes: the one the
  // executor set aside for it when dtype and shape match (its slice of the Concat that alone reads this
  // output, so the Concat copies nothing: exec/concat_in_place.h), else a new uninitialized one. A
  // kernel that makes its own output instead is just as correct; the Concat then copies it.
  Tensor output0_tensor(DataType dtype, const Shape& shape);
  // Set by the executor before run: where output 0 may go (nullptr, the default: nowhere set aside).
  void set_output0_destination(Tensor* destination) { destination_ = destination; }

 private:
  const std::vector<const Value*>& inputs_;
  std::vector<Value>* outputs_;
  const Frame* frame_;
  Tensor* destination_ = nullptr;
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  // Computes the node's outputs. Errors name the reason only; the executor adds the node's name.
  virtual Status run(KernelContext& ctx) const = 0;
  // True when the kernel keeps constant input i in a form of its own (packed weights) and never reads
  // that input at run time, not even for a shape it hands to a reference path: the plan may then free
  // the initializer when no other reader needs it, so the weights exist once. Fixed after build; at run
  // time such an input may read as absent.
  virtual bool releases_constant(size_t /*i*/) const { return false; }
};

// Runs a kernel and turns anything it throws into a Status: std::bad_alloc (an output larger than
// memory) into ResourceExhausted, any other exception (a bug) into Internal. Every caller that runs
// kernels goes through here, so no exception reaches a server thread.
Status run_kernel(const Kernel& kernel, KernelContext& ctx);

using KernelFactory = std::function<Expected<std::unique_ptr<Kernel>>(const KernelBuildContext&)>;

struct KernelRegistration {
  std::string domain;   // "" = ai.onnx
  std::string op_type;
  int64_t since_opset;  // inclusive range of model opsets this kernel implements
  int64_t until_opset;
  int priority;
  KernelFactory factory;
};

// Process-wide and immutable after static initialization; lookups are thread-safe.
class KernelRegistry {
 public:
  static KernelRegistry& global();
  // Called from static initializers only. Returns true so it can initialize a static.
  bool add(KernelRegistration registration);
  // The best kernel for op_type in domain at the given opset, or nullptr.
  const KernelRegistration* find(std::string_view domain, std::string_view op_type, int64_t opset) const;
  // The best kernel with a priority below `priority`: what a fast kernel delegates the cases it does not
  // handle to (the reference kernel, priority 0). nullptr if there is none.
  const KernelRegistration* find_below(std::string_view domain, std::string_view op_type, int64_t opset,
                                       int priority) const;
  // True if any opset of op_type in domain has a kernel.
  bool knows(std::string_view domain, std::string_view op_type) const;
  const std::vector<KernelRegistration>& all() const { return entries_; }

 private:
  std::vector<KernelRegistration> entries_;
};

// The best registered kernel for `node` at `opset`, built given its inputs' constant values (nullptr
// where an input is not a constant), so it packs its weights as it would in the graph: what a fused
// kernel runs for the nodes it stands for, on inputs it does not take.
Expected<std::unique_ptr<Kernel>> build_best_kernel(const ir::Node& node, int64_t opset,
                                                    const std::vector<const Tensor*>& constants);

// A kernel written as a plain function of its context, for operators with no attributes to parse.
class FunctionKernel : public Kernel {
 public:
  explicit FunctionKernel(std::function<Status(KernelContext&)> fn) : fn_(std::move(fn)) {}
  Status run(KernelContext& ctx) const override { return fn_(ctx); }

 private:
  std::function<Status(KernelContext&)> fn_;
};

}  // namespace kiln

#define KILN_REGISTER_KERNEL_PRIORITY(domain, op, since, until, priority, factory)                  \
  [[maybe_unused]] static const bool KILN_CONCAT(kiln_kernel_registered_, __COUNTER__) =            \
      ::kiln::KernelRegistry::global().add(                                                          \
          ::kiln::KernelRegistration{domain, op, since, until, priority, factory})

#define KILN_REGISTER_KERNEL(domain, op, since, until, factory) \
  KILN_REGISTER_KERNEL_PRIORITY(domain, op, since, until, 0, factory)
