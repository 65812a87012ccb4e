#include "exec/graph_plan.h"

#include <algorithm>
#include <chrono>
#include <new>
#include <stdexcept>
#include <unordered_set>

#include "exec/run_threads.h"
#include "kernels/run_stop.h"

namespace kiln {

namespace {
// What an unset slot reads as: an absent value (an omitted optional graph input, say).
const Value kUnsetValue;
}  // namespace

const Value* Frame::lookup(const std::string& name) const {
  for (const Frame* f = this; f != nullptr; f = f->parent_) {
    const int slot = f->plan_->slot_of(name);
    if (slot < 0) continue;
    const Value* v = (*f->slots_)[static_cast<size_t>(slot)];
    return v != nullptr ? v : &kUnsetValue;
  }
  return nullptr;
}

int GraphPlan::slot_of(const std::string& name) const {
  auto it = slots_by_name_.find(name);
  return it == slots_by_name_.end() ? -1 : it->second;
}

namespace {

// Names a node's subgraphs (at any depth) read: the node depends on them as if they were inputs, so
// their producers must run first and their slots must stay alive until the node has run.
std::vector<std::string> implicit_inputs(const ir::Node& n) {
  std::vector<std::string> names;
  std::vector<const ir::Graph*> stack;
  for (const ir::Attribute& a : n.attributes) {
    if (a.g) stack.push_back(a.g.get());
    for (const auto& g : a.graphs) stack.push_back(g.get());
  }
  while (!stack.empty()) {
    const ir::Graph* sg = stack.back();
    stack.pop_back();
    for (const ir::Node& sn : sg->nodes) {
      names.insert(names.end(), sn.inputs.begin(), sn.inputs.end());
      for (const ir::Attribute& a : sn.attributes) {
        if (a.g) stack.push_back(a.g.get());
        for (const auto& g : a.graphs) stack.push_back(g.get());
      }
    }
    for (const ir::ValueInfo& out : sg->outputs) names.push_back(out.name);
  }
  return names;
}

// Orders nodes so that each runs after the producers of its inputs. ONNX requires topological order,
// but exporters do not always obey; the original order is kept wherever it is valid.
Expected<std::vector<const ir::Node*>> topological_order(const ir::Graph& g) {
  std::unordered_map<std::string, size_t> producer;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (const std::string& out : g.nodes[i].outputs) {
      if (!out.empty()) producer[out] = i;
    }
  }
  const size_t n = g.nodes.size();
  std::vector<std::vector<size_t>> consumers(n);
  std::vector<size_t> pending(n, 0);
  for (size_t i = 0; i < n; ++i) {
    std::unordered_set<size_t> deps;
    auto add = [&](const std::string& name) {
      auto it = producer.find(name);
      if (it != producer.end() && it->second != i) deps.insert(it->second);
    };
    for (const std::string& in : g.nodes[i].inputs) add(in);
    for (const std::string& in : implicit_inputs(g.nodes[i])) add(in);
    pending[i] = deps.size();
    for (size_t d : deps) consumers[d].push_back(i);
  }
  std::vector<const ir::Node*> order;
  order.reserve(n);
  // Repeatedly take the first ready node in the original order.
  std::vector<bool> done(n, false);
  std::vector<size_t> ready;
  for (size_t i = n; i-- > 0;) {
    if (pending[i] == 0) ready.push_back(i);
  }
  while (!ready.empty()) {
    size_t best = 0;
    for (size_t k = 1; k < ready.size(); ++k) {
      if (ready[k] < ready[best]) best = k;
    }
    const size_t i = ready[best];
    ready.erase(ready.begin() + static_cast<std::ptrdiff_t>(best));
    done[i] = true;
    order.push_back(&g.nodes[i]);
    for (size_t c : consumers[i]) {
      if (--pending[c] == 0) ready.push_back(c);
    }
  }
  if (order.size() != n) {
    for (size_t i = 0; i < n; ++i) {
      if (!done[i]) return Status::FailedPrecondition(g.nodes[i].describe() + " is part of a cycle");
    }
  }
  return order;
}

// The mutable graph behind `sub`, a graph attribute of `node` (a node of a graph the caller may
// change), when that attribute is its only holder; nullptr when anything else shares it (a copy of the
// node): erasing its initializers would then take them from a graph another plan may still compile.
ir::Graph* sole_owner(const ir::Node& node, const ir::Graph& sub) {
  for (const ir::Attribute& a : node.attributes) {
    if (a.g.get() == &sub) return a.g.use_count() == 1 ? a.g.get() : nullptr;
    for (const std::shared_ptr<ir::Graph>& g : a.graphs) {
      if (g.get() == &sub) return g.use_count() == 1 ? g.get() : nullptr;
    }
  }
  return nullptr;
}

}  // namespace

Expected<std::unique_ptr<GraphPlan>> GraphPlan::build(const ir::Graph& graph,
                                                      const std::map<std::string, int64_t>& opsets,
                                                      const std::set<std::string>& outer_names,
                                                      ir::Graph* owner) {
  std::unique_ptr<GraphPlan> plan(new GraphPlan());
  plan->graph_ = &graph;
  plan->graph_inputs_ = graph.inputs;
  plan->graph_outputs_ = graph.outputs;
  auto slot_for = [&](const std::string& name) {
    auto [it, inserted] = plan->slots_by_name_.emplace(name, static_cast<int>(plan->num_slots_));
    if (inserted) ++plan->num_slots_;
    return it->second;
  };

  for (const auto& [name, tensor] : graph.initializers) slot_for(name);
  for (const ir::ValueInfo& in : graph.inputs) {
    plan->input_slots_.push_back(slot_for(in.name));
    plan->input_defaults_.push_back(graph.initializers.count(in.name) > 0);
  }
  std::set<std::string> local;
  for (const auto& [name, tensor] : graph.initializers) local.insert(name);
  for (const ir::ValueInfo& in : graph.inputs) local.insert(in.name);
  for (const ir::Node& n : graph.nodes) {
    for (const std::string& out : n.outputs) {
      if (!out.empty()) local.insert(out);
    }
  }
  std::set<std::string> names_for_subgraphs(outer_names);
  names_for_subgraphs.insert(local.begin(), local.end());
  // A name this graph uses but does not define comes from an enclosing frame at run time.
  auto resolve = [&](const std::string& name) -> int {
    if (local.count(name)) return slot_for(name);
    if (!outer_names.count(name)) return -1;
    const bool seen = plan->slots_by_name_.count(name) > 0;
    const int slot = slot_for(name);
    if (!seen) plan->outer_refs_.emplace_back(slot, name);
    return slot;
  };

  std::set<std::string> formal_inputs;
  for (const ir::ValueInfo& in : graph.inputs) formal_inputs.insert(in.name);

  // An initializer is released (Kernel::releases_constant) when its last reader has been built and every
  // reader packed it. It stays if anything may read it as a value: a subgraph (through the frame), the
  // caller (an output), or a caller's override (a formal input).
  std::unordered_map<std::string, int> unbuilt_readers;
  std::set<std::string> pinned(formal_inputs);
  for (const ir::Node& n : graph.nodes) {
    for (const std::string& in : n.inputs) {
      if (graph.initializers.count(in)) ++unbuilt_readers[in];
    }
    for (const std::string& in : implicit_inputs(n)) pinned.insert(in);
  }
  for (const ir::ValueInfo& out : graph.outputs) pinned.insert(out.name);
  std::set<std::string> released;

  KILN_ASSIGN_OR_RETURN(std::vector<const ir::Node*> order, topological_order(graph));
  for (const ir::Node* node : order) {
    auto opset_it = opsets.find(node->domain);
    if (opset_it == opsets.end()) {
      return Status::Unimplemented(node->describe() + ": domain '" + node->domain +
                                   "' is not imported by the model (no opset_import entry)");
    }
    const int64_t opset = opset_it->second;
    const KernelRegistration* reg = KernelRegistry::global().find(node->domain, node->op_type, opset);
    if (reg == nullptr) {
      const std::string where = node->domain.empty() ? "" : " in domain '" + node->domain + "'";
      if (KernelRegistry::global().knows(node->domain, node->op_type)) {
        return Status::Unimplemented(node->describe() + ": operator " + node->op_type + where +
                                     " is not supported at opset " + std::to_string(opset));
      }
      return Status::Unimplemented(node->describe() + ": operator " + node->op_type + where + " is not supported");
    }
    KernelBuildContext ctx{*node, opset,
                           [&opsets, &names_for_subgraphs, owner,
                            node](const ir::Graph& sub) -> Expected<std::shared_ptr<const Subgraph>> {
                             // A body the owner alone holds releases its packed weights too.
                             ir::Graph* sub_owner = owner != nullptr ? sole_owner(*node, sub) : nullptr;
                             KILN_ASSIGN_OR_RETURN(std::unique_ptr<GraphPlan> p,
                                                   GraphPlan::build(sub, opsets, names_for_subgraphs, sub_owner));
                             return std::shared_ptr<const Subgraph>(std::move(p));
                           },
                           [&graph, &formal_inputs, node](size_t i) -> const Tensor* {
                             if (i >= node->inputs.size() || node->inputs[i].empty()) return nullptr;
                             const std::string& name = node->inputs[i];
                             // A graph input with an initializer is only a default: a caller may override it.
                             if (formal_inputs.count(name)) return nullptr;
                             auto it = graph.initializers.find(name);
                             return it == graph.initializers.end() ? nullptr : &it->second;
                           }};
    auto kernel = reg->factory(ctx);
    if (!kernel.ok()) return kernel.status().with_context(node->describe());
    Step step;
    step.node = node;
    step.kernel = std::move(kernel).value();
    for (size_t k = 0; k < node->inputs.size(); ++k) {
      auto it = unbuilt_readers.find(node->inputs[k]);
      if (it == unbuilt_readers.end()) continue;
      if (!step.kernel->releases_constant(k)) pinned.insert(it->first);
      if (--it->second > 0 || pinned.count(it->first)) continue;
      // Its last reader is built: free it now, so that loading holds each weight about once.
      released.insert(it->first);
      plan->released_initializers_.push_back(it->first);
      if (owner != nullptr) owner->initializers.erase(it->first);
    }
    for (const std::string& in : node->inputs) {
      if (in.empty()) {
        step.inputs.push_back(-1);
        continue;
      }
      const int slot = resolve(in);
      if (slot < 0) {
        return Status::FailedPrecondition(node->describe() + ": input '" + in +
                                          "' is not produced by any node, initializer or graph input");
      }
      step.inputs.push_back(slot);
    }
    for (const std::string& out : node->outputs) step.outputs.push_back(out.empty() ? -1 : slot_for(out));
    plan->max_step_inputs_ = std::max(plan->max_step_inputs_, step.inputs.size());
    plan->max_step_outputs_ = std::max(plan->max_step_outputs_, step.outputs.size());
    plan->steps_.push_back(std::move(step));
  }
  for (const auto& [name, tensor] : graph.initializers) {
    if (!released.count(name)) plan->constants_.emplace_back(plan->slot_of(name), Value(tensor));
  }
  for (const ir::ValueInfo& out : graph.outputs) {
    const int slot = resolve(out.name);
    if (slot < 0) {
      return Status::FailedPrecondition("graph output '" + out.name + "' is not produced by any node or input");
    }
    plan->output_slots_.push_back(slot);
  }

  // Release each slot after its last reader, unless it is a graph output or a constant.
  std::vector<int> last_reader(plan->num_slots_, -1);
  for (size_t i = 0; i < plan->steps_.size(); ++i) {
    for (int s : plan->steps_[i].inputs) {
      if (s >= 0) last_reader[static_cast<size_t>(s)] = static_cast<int>(i);
    }
    // A subgraph reads outer values through the frame, not through step inputs.
    for (const std::string& name : implicit_inputs(*plan->steps_[i].node)) {
      const int s = plan->slot_of(name);
      if (s >= 0) last_reader[static_cast<size_t>(s)] = static_cast<int>(i);
    }
  }
  std::vector<bool> keep(plan->num_slots_, false);
  for (int s : plan->output_slots_) keep[static_cast<size_t>(s)] = true;
  for (size_t s = 0; s < plan->num_slots_; ++s) {
    if (!keep[s] && last_reader[s] >= 0) plan->steps_[static_cast<size_t>(last_reader[s])].release.push_back(static_cast<int>(s));
  }
  plan->find_concat_sites();
  return plan;
}

void GraphPlan::find_concat_sites() {
  // The step whose output 0 each slot is (-1: a constant, an input, another output), and how many
  // times anything may read it: step inputs, subgraphs through the frame, the caller as a graph output.
  std::vector<int> producer(num_slots_, -1);
  std::vector<int> reads(num_slots_, 0);
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Step& step = steps_[i];
    if (!step.outputs.empty() && step.outputs[0] >= 0) producer[static_cast<size_t>(step.outputs[0])] = static_cast<int>(i);
    for (int s : step.inputs) {
      if (s >= 0) ++reads[static_cast<size_t>(s)];
    }
    for (const std::string& name : implicit_inputs(*step.node)) {
      const int s = slot_of(name);
      if (s >= 0) reads[static_cast<size_t>(s)] += 2;
    }
  }
  for (int s : output_slots_) reads[static_cast<size_t>(s)] += 2;
  for (size_t i = 0; i < steps_.size(); ++i) {
    Step& step = steps_[i];
    if (step.node->op_type != "Concat" || !step.node->domain.empty() || step.inputs.empty() || step.outputs.empty() ||
        step.outputs[0] < 0) {
      continue;
    }
    // Each part read by this Concat alone, once, and made by an earlier step as its output 0.
    bool in_place = true;
    for (int s : step.inputs) {
      in_place = in_place && s >= 0 && reads[static_cast<size_t>(s)] == 1 && producer[static_cast<size_t>(s)] >= 0 &&
                 producer[static_cast<size_t>(s)] < static_cast<int>(i);
    }
    if (!in_place) continue;
    ConcatSite site;
    site.step = i;
    site.axis = step.node->attr_int("axis", 1);
    site.output_slot = step.outputs[0];
    site.parts = step.inputs;
    step.concat_site = static_cast<int>(concat_sites_.size());
    for (size_t p = 0; p < step.inputs.size(); ++p) {
      Step& producer_step = steps_[static_cast<size_t>(producer[static_cast<size_t>(step.inputs[p])])];
      producer_step.part_site = step.concat_site;
      producer_step.part_index = static_cast<int>(p);
    }
    concat_sites_.push_back(std::move(site));
  }
  if (concat_sites_.empty()) return;
  layout_key_slots_ = input_slots_;
  for (const auto& [slot, name] : outer_refs_) layout_key_slots_.push_back(slot);
}

Status GraphPlan::offer_concat_slice(const Step& step, const ConcatLayouts* layouts, std::vector<Value>& computed,
                                     Tensor& destination, KernelContext& ctx) const {
  if (step.part_site < 0 || layouts == nullptr) return Status::OK();
  const std::optional<ConcatLayout>& layout = layouts->sites[static_cast<size_t>(step.part_site)];
  if (!layout) return Status::OK();
  // The first part to run allocates the Concat's output; it waits in the Concat's slot, unpublished.
  Value& output = computed[static_cast<size_t>(concat_sites_[static_cast<size_t>(step.part_site)].output_slot)];
  if (!output.is_tensor()) {
    try {
      output = Value(Tensor(layout->dtype, layout->shape, Tensor::Init::kUninitialized));
    } catch (const std::bad_alloc&) {  // as run_kernel reports a kernel's
      return Status::ResourceExhausted("out of memory for the output of the Concat this node's result is part of");
    }
  }
  const auto part = static_cast<size_t>(step.part_index);
  destination = output.tensor().view(layout->offsets[part], layout->part_shapes[part]);
  ctx.set_output0_destination(&destination);
  return Status::OK();
}

bool GraphPlan::concat_complete(const Step& step, const std::vector<const Value*>& inputs,
                                const ConcatLayouts* layouts, std::shared_ptr<ConcatLayouts>& learning,
                                std::vector<Value>& computed, Value& output) const {
  const ConcatSite& site = concat_sites_[static_cast<size_t>(step.concat_site)];
  const std::optional<ConcatLayout>* layout =
      layouts != nullptr ? &layouts->sites[static_cast<size_t>(step.concat_site)] : nullptr;
  Value& waiting = computed[static_cast<size_t>(site.output_slot)];
  if (layout != nullptr && *layout && waiting.is_tensor() && (*layout)->holds(waiting.tensor(), inputs)) {
    output = std::move(waiting);
    return true;
  }
  waiting = Value();  // incomplete: the kernel makes the output
  const auto index = static_cast<size_t>(step.concat_site);
  if (layout != nullptr && *layout) {
    // A part went elsewhere (its kernel makes its own output, or its shape follows the input values):
    // these input shapes stop trying, rather than allocate a Concat output each run to no use.
    if (learning == nullptr) learning = std::make_shared<ConcatLayouts>(*layouts);
    learning->sites[index] = std::nullopt;
  } else if (learning != nullptr && layouts == nullptr) {
    // Only a run that learns from scratch learns a site: one that `layouts` gave up on stays given up.
    learning->sites[index] = ConcatLayout::of(inputs, site.axis);
  }
  return false;
}

Status GraphPlan::execute(std::vector<const Value*>& slots, std::vector<Value>& computed, const Frame* outer,
                          const RunOptions* options) const {
  for (const auto& [slot, name] : outer_refs_) {
    const Value* v = outer ? outer->lookup(name) : nullptr;
    if (v == nullptr) return Status::FailedPrecondition("value '" + name + "' is not defined in any enclosing graph");
    slots[static_cast<size_t>(slot)] = v;  // read in place: the enclosing frame outlives this run
  }
  const Frame frame(this, &slots, outer, options);
  std::vector<const Value*> inputs;
  std::vector<Value> outputs;
  inputs.reserve(max_step_inputs_);
  outputs.reserve(max_step_outputs_);
  // Profiling reads the clock only when asked: one null test per node otherwise.
  const auto* on_node = options != nullptr && options->on_node_timed ? &options->on_node_timed : nullptr;
  // Concats written in place (concat_in_place.h): the layouts learned for these input shapes, and the
  // ones this run learns when there are none yet (or one did not hold).
  std::shared_ptr<const ConcatLayouts> layouts;
  std::shared_ptr<ConcatLayouts> learning;
  if (!concat_sites_.empty()) {
    layouts = concat_layouts_.find(slots, layout_key_slots_);
    if (layouts == nullptr) {
      if (std::optional<std::vector<Shape>> key = ConcatLayoutMemo::key(slots, layout_key_slots_)) {
        learning = std::make_shared<ConcatLayouts>();
        learning->input_shapes = std::move(*key);
        learning->sites.resize(concat_sites_.size());
      }
    }
  }
  Tensor destination;
  for (const Step& step : steps_) {
    if (Status stop = check_run_stop(&frame); !stop.ok()) return stop.with_context(step.node->describe());
    // Between nodes, the run's intra-op team follows what concurrent runs leave of the cores.
    ScopedRunThreads::rebalance_current();
    inputs.clear();
    for (int s : step.inputs) {
      if (s < 0) {
        inputs.push_back(nullptr);
        continue;
      }
      const Value* v = slots[static_cast<size_t>(s)];
      inputs.push_back(v != nullptr ? v : &kUnsetValue);
    }
    outputs.assign(step.outputs.size(), Value());
    KernelContext ctx(inputs, &outputs, &frame);
    if (Status offered = offer_concat_slice(step, layouts.get(), computed, destination, ctx); !offered.ok()) {
      return offered.with_context(step.node->describe());
    }
    const auto start = on_node ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    const bool complete =
        step.concat_site >= 0 && concat_complete(step, inputs, layouts.get(), learning, computed, outputs[0]);
    Status st = complete ? Status::OK() : run_kernel(*step.kernel, ctx);
    destination = Tensor();
    if (on_node) {
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start);
      (*on_node)(NodeTiming{step.node->op_type, step.node->domain, step.node->name, ns.count()});
    }
    if (!st.ok()) return st.with_context(step.node->describe());
    for (size_t k = 0; k < step.outputs.size(); ++k) {
      if (step.outputs[k] < 0) continue;
      const auto s = static_cast<size_t>(step.outputs[k]);
      computed[s] = std::move(outputs[k]);
      slots[s] = &computed[s];
    }
    for (int s : step.release) {
      slots[static_cast<size_t>(s)] = nullptr;
      computed[static_cast<size_t>(s)] = Value();  // a computed buffer goes back to the run's pool here
    }
  }
  if (learning != nullptr) concat_layouts_.remember(std::move(learning));
  return Status::OK();
}

Status GraphPlan::run_bound(const std::vector<const Value*>& inputs, const Frame* outer,
                            std::vector<Value>* outputs, const RunOptions* options) const {
  std::vector<const Value*> slots(num_slots_, nullptr);
  std::vector<Value> computed(num_slots_);
  for (const auto& [slot, value] : constants_) slots[static_cast<size_t>(slot)] = &value;
  for (size_t i = 0; i < input_slots_.size() && i < inputs.size(); ++i) {
    if (inputs[i] != nullptr) slots[static_cast<size_t>(input_slots_[i])] = inputs[i];
  }
  KILN_RETURN_IF_ERROR(execute(slots, computed, outer, options));
  outputs->clear();
  outputs->reserve(output_slots_.size());
  for (int s : output_slots_) {
    const Value* v = slots[static_cast<size_t>(s)];
    outputs->push_back(v != nullptr ? *v : Value());
  }
  return Status::OK();
}

Status GraphPlan::run(const std::vector<Value>& inputs, const Frame* outer, std::vector<Value>* outputs) const {
  std::vector<const Value*> bound;
  bound.reserve(inputs.size());
  for (const Value& v : inputs) bound.push_back(&v);
  return run_bound(bound, outer, outputs);
}

}  // namespace kiln
