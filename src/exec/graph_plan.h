// GraphPlan: a graph compiled for execution. Values get slot numbers, every node gets its kernel, and
// each slot is released after its last reader so that peak memory follows the live set, not the graph
// (and its buffer goes back to the run's BufferPool, for the next value of that size: core/buffer_pool.h).
// Constants and the caller's inputs are read where they are, never copied per run.
//
// A plan is immutable after build() and run() is thread-safe: every run owns its slots.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "exec/concat_in_place.h"
#include "ir/graph.h"
#include "kernels/kernel.h"
#include "kiln/session.h"

namespace kiln {

class GraphPlan;

// The values of one running graph, by slot: where each lives (a constant of the plan, a caller's input,
// a value this run computed), nullptr while unset or after release. A subgraph looks up names it does
// not define in its parent frames. A frame also carries the run's options (deadline, cancellation),
// which subgraph frames inherit.
class Frame {
 public:
  Frame(const GraphPlan* plan, const std::vector<const Value*>* slots, const Frame* parent,
        const RunOptions* run_options = nullptr)
      : plan_(plan), slots_(slots), parent_(parent),
        run_options_(run_options != nullptr || parent == nullptr ? run_options : parent->run_options_) {}
  // The value named `name` in this frame or an enclosing one; nullptr if none defines it.
  const Value* lookup(const std::string& name) const;
  // The options of the run this frame belongs to; nullptr when run without options.
  const RunOptions* run_options() const { return run_options_; }

 private:
  const GraphPlan* plan_;
  const std::vector<const Value*>* slots_;
  const Frame* parent_;
  const RunOptions* run_options_;
};

class GraphPlan : public Subgraph {
 public:
  // Compiles `graph`. `opsets` is the model's opset per domain; `outer_names` are the names that
  // enclosing graphs define (empty for the main graph). Errors name the node and the reason.
  // `owner` (may be null) is `graph` itself, mutable: each initializer the plan releases is erased from
  // it as soon as its last reader is built, so loading never holds all weights both plain and packed.
  // Subgraphs (Loop, If, Scan bodies) that only `owner` holds release theirs the same way.
  static Expected<std::unique_ptr<GraphPlan>> build(const ir::Graph& graph,
                                                    const std::map<std::string, int64_t>& opsets,
                                                    const std::set<std::string>& outer_names,
                                                    ir::Graph* owner = nullptr);

  const std::vector<ir::ValueInfo>& inputs() const override { return graph_inputs_; }
  const std::vector<ir::ValueInfo>& outputs() const override { return graph_outputs_; }
  Status run(const std::vector<Value>& inputs, const Frame* outer, std::vector<Value>* outputs) const override;

  // Runs with inputs given by formal-input index; an unset Value (kNone) for an input that has an
  // initializer uses the initializer. Used by Session, which validates inputs first. `options` may be null.
  Status run_bound(const std::vector<const Value*>& inputs, const Frame* outer, std::vector<Value>* outputs,
                   const RunOptions* options = nullptr) const;

  // -1 if the graph does not define the name.
  int slot_of(const std::string& name) const;
  // Initializers the plan does not keep: every reader packed its own copy (Kernel::releases_constant).
  // The plan no longer refers to them (build's `owner` has erased them; otherwise the caller may).
  const std::vector<std::string>& released_initializers() const { return released_initializers_; }
  // Whether formal input i has an initializer to fall back on.
  bool input_has_default(size_t i) const { return input_defaults_[i]; }

 private:
  struct Step {
    const ir::Node* node;
    std::unique_ptr<Kernel> kernel;
    std::vector<int> inputs;   // slot per input, -1 for an omitted optional input
    std::vector<int> outputs;  // slot per output, -1 for an omitted optional output
    std::vector<int> release;  // slots whose last reader is this step
    int concat_site = -1;      // this step is concat_sites_[concat_site]'s Concat
    int part_site = -1;        // this step's output 0 is part `part_index` of concat_sites_[part_site]
    int part_index = -1;
  };

  GraphPlan() = default;
  // Finds the Concats whose parts can be written in place (concat_in_place.h), once steps_ and
  // output_slots_ are final.
  void find_concat_sites();
  // For step `step` of a run: offers its output 0 the slice set aside for it, when it is part of a
  // Concat written in place under `layouts` (may be null). `destination` holds the slice. Fails only
  // when the Concat's output cannot be allocated.
  Status offer_concat_slice(const Step& step, const ConcatLayouts* layouts, std::vector<Value>& computed,
                          Tensor& destination, KernelContext& ctx) const;
  // For a Concat site's step: true when its output is already complete in place (then moved to
  // `output`); otherwise records in `learning` (made from `layouts` if need be) the layout seen, or
  // that the one in `layouts` did not hold.
  bool concat_complete(const Step& step, const std::vector<const Value*>& inputs, const ConcatLayouts* layouts,
                       std::shared_ptr<ConcatLayouts>& learning, std::vector<Value>& computed, Value& output) const;
  // `slots` points at every slot's value; values the steps compute are stored in `computed` (sized
  // num_slots_, so the pointers into it stay valid).
  Status execute(std::vector<const Value*>& slots, std::vector<Value>& computed, const Frame* outer,
                 const RunOptions* options) const;

  const ir::Graph* graph_ = nullptr;  // owned by the model, which outlives the plan
  std::vector<ir::ValueInfo> graph_inputs_;   // formal inputs that have no initializer... and those that do
  std::vector<ir::ValueInfo> graph_outputs_;
  std::vector<bool> input_defaults_;
  std::unordered_map<std::string, int> slots_by_name_;
  size_t num_slots_ = 0;
  std::vector<std::pair<int, Value>> constants_;       // initializers, less the released ones
  std::vector<std::string> released_initializers_;
  std::vector<int> input_slots_;
  std::vector<int> output_slots_;
  std::vector<std::pair<int, std::string>> outer_refs_;  // slots filled from enclosing frames
  std::vector<Step> steps_;
  size_t max_step_inputs_ = 0;  // so a run sizes its per-step argument vectors once
  size_t max_step_outputs_ = 0;
  std::vector<ConcatSite> concat_sites_;
  std::vector<int> layout_key_slots_;  // formal inputs and outer values: the shapes layouts depend on
  mutable ConcatLayoutMemo concat_layouts_;
};

}  // namespace kiln
