#include "kiln/session.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "core/buffer_pool.h"
#include "exec/graph_plan.h"
#include "exec/independent_rows.h"
#include "exec/row_parts.h"
#include "exec/run_pools.h"
#include "exec/run_threads.h"
#include "ir/graph.h"
#include "onnx/model_import.h"
#include "opt/pass_manager.h"

namespace kiln {

struct Session::Impl {
  ir::Model model;
  std::unique_ptr<GraphPlan> plan;
  // Tensor buffers recycled from one run to the next, one pool per concurrent run.
  RunPools pools;
  ModelInfo info;
  std::vector<IoInfo> inputs;
  std::vector<IoInfo> outputs;
  int intra_op_threads = 0;
  // How long the last run took (ns); short models keep their team on busy cores (ScopedRunThreads).
  std::atomic<int64_t> last_run_ns{0};
  // Set when the optimized graph computes each row of its batch alone: a run of several rows on a
  // team then computes as parts of its rows side by side (row_parts.h).
  std::optional<IndependentRows> rows;
};

// A run shorter than this keeps its team: cutting its inputs and stacking its outputs, and the part
// threads' start, cost more than its barriers (mlp at batch 8 on 2 threads runs 0.15 ms).
constexpr int64_t kMinRowPartsRunNs = 1'000'000;

namespace {

// Opset ranges kiln implements per domain; other domains are rejected when a node uses them.
Status check_opsets(const ir::Model& m) {
  for (const auto& [domain, version] : m.opsets) {
    int64_t max = -1;
    if (domain.empty()) max = kMaxOpset;
    else if (domain == "ai.onnx.ml") max = kMaxMlOpset;
    else if (domain == "ai.onnx.preview.training") max = 1;
    if (max < 0) continue;
    if (version < 1 || version > max) {
      const std::string name = domain.empty() ? "ai.onnx" : domain;
      return Status::Unimplemented(m.source + ": opset " + std::to_string(version) + " of domain " + name +
                                   " is not supported (kiln implements 1 to " + std::to_string(max) + ")");
    }
  }
  return Status::OK();
}

IoInfo io_info(const ir::ValueInfo& vi, bool has_default) {
  IoInfo io;
  io.name = vi.name;
  io.has_default = has_default;
  io.type_string = vi.type.to_string();
  const ir::TypeInfo* t = &vi.type;
  switch (vi.type.kind) {
    case ir::TypeInfo::Kind::kTensor: io.kind = IoInfo::Kind::kTensor; break;
    case ir::TypeInfo::Kind::kSequence: io.kind = IoInfo::Kind::kSequence; break;
    case ir::TypeInfo::Kind::kOptional: io.kind = IoInfo::Kind::kOptional; break;
    default: io.kind = IoInfo::Kind::kOther; break;
  }
  while (t->element) t = t->element.get();
  io.dtype = t->elem_type;
  if (t->shape) {
    io.has_shape = true;
    for (const ir::Dim& d : *t->shape) {
      io.dims.push_back(d.is_fixed() ? d.value : -1);
      io.dim_names.push_back(d.symbol);
    }
  }
  return io;
}

bool row_parts_enabled() {
  const char* env = std::getenv("KILN_ROW_PARTS");
  return env == nullptr || std::strcmp(env, "0") != 0;
}

void count_graph(const ir::Graph& g, GraphStats* stats) {
  for (const auto& [name, t] : g.initializers) {
    stats->parameter_count += t.size();
    stats->parameter_bytes += static_cast<int64_t>(t.bytes());
  }
  for (const ir::Node& n : g.nodes) {
    ++stats->node_count;
    ++stats->op_histogram[n.domain.empty() ? n.op_type : n.domain + "." + n.op_type];
    for (const ir::Attribute& a : n.attributes) {
      if (a.g) count_graph(*a.g, stats);
      for (const auto& sg : a.graphs) count_graph(*sg, stats);
    }
  }
}

Expected<std::unique_ptr<Session::Impl>> prepare(ir::Model model, const SessionOptions& options) {
  auto impl = std::make_unique<Session::Impl>();
  impl->model = std::move(model);
  impl->intra_op_threads = options.intra_op_threads;
  ir::Model& m = impl->model;
  KILN_RETURN_IF_ERROR(check_opsets(m));
  // ModelInfo describes the model as written, and in `optimized` the graph the passes leave to plan.
  GraphStats written;
  count_graph(m.graph, &written);
  impl->info.node_count = written.node_count;
  impl->info.parameter_count = written.parameter_count;
  impl->info.parameter_bytes = written.parameter_bytes;
  impl->info.op_histogram = std::move(written.op_histogram);
  impl->info.opsets = m.opsets;
  if (options.optimize) KILN_RETURN_IF_ERROR(opt::optimize_model(m));
  count_graph(m.graph, &impl->info.optimized);
  if (row_parts_enabled()) impl->rows = independent_rows(m.graph);  // before the build takes weights out
  if (impl->rows) impl->info.independent_rows = impl->rows->symbol;
  // Weights the kernels hold packed are not kept twice: the build erases them from the model.
  auto plan = GraphPlan::build(m.graph, m.opsets, {}, &m.graph);
  if (!plan.ok()) return plan.status().with_context(m.source);
  impl->plan = std::move(plan).value();
  ModelInfo& info = impl->info;
  info.source = m.source;
  info.ir_version = m.ir_version;
  info.producer_name = m.producer_name;
  info.producer_version = m.producer_version;
  info.domain = m.domain;
  info.model_version = m.model_version;
  info.doc_string = m.doc_string;
  info.metadata = m.metadata;
  for (size_t i = 0; i < m.graph.inputs.size(); ++i) {
    impl->inputs.push_back(io_info(m.graph.inputs[i], impl->plan->input_has_default(i)));
  }
  for (const ir::ValueInfo& vi : m.graph.outputs) impl->outputs.push_back(io_info(vi, false));
  return impl;
}

// Checks one input against its declaration; binds symbolic dimensions so that all inputs agree.
Status check_input(const IoInfo& decl, const Value& v, std::unordered_map<std::string, int64_t>* symbols) {
  const std::string what = "input '" + decl.name + "'";
  if (decl.kind == IoInfo::Kind::kOptional && v.is_none()) return Status::OK();
  if (decl.kind == IoInfo::Kind::kSequence || (decl.kind == IoInfo::Kind::kOptional && v.is_sequence())) {
    if (!v.is_sequence()) return Status::InvalidArgument(what + " expects a sequence of tensors, got a tensor");
    return Status::OK();
  }
  if (!v.is_tensor()) return Status::InvalidArgument(what + " expects a tensor " + decl.type_string);
  const Tensor& t = v.tensor();
  if (decl.dtype != DataType::kUndefined && t.dtype() != decl.dtype) {
    return Status::InvalidArgument(what + " expects data type " + std::string(data_type_name(decl.dtype)) +
                                   ", got " + std::string(data_type_name(t.dtype())));
  }
  if (!decl.has_shape) return Status::OK();
  if (t.rank() != static_cast<int64_t>(decl.dims.size())) {
    return Status::InvalidArgument(what + " expects rank " + std::to_string(decl.dims.size()) + " (" +
                                   decl.type_string + "), got shape " + shape_to_string(t.shape()));
  }
  for (size_t d = 0; d < decl.dims.size(); ++d) {
    const int64_t got = t.dim(static_cast<int64_t>(d));
    if (decl.dims[d] >= 0 && got != decl.dims[d]) {
      return Status::InvalidArgument(what + " expects dimension " + std::to_string(d) + " to be " +
                                     std::to_string(decl.dims[d]) + " (" + decl.type_string + "), got shape " +
                                     shape_to_string(t.shape()));
    }
    const std::string& sym = decl.dim_names[d];
    if (decl.dims[d] < 0 && !sym.empty()) {
      auto [it, inserted] = symbols->emplace(sym, got);
      if (!inserted && it->second != got) {
        return Status::InvalidArgument(what + " has " + sym + " = " + std::to_string(got) +
                                       ", but another input has " + sym + " = " + std::to_string(it->second));
      }
    }
  }
  return Status::OK();
}

}  // namespace

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

namespace {

// Loading runs kernel factories and constant folding on whatever a model file says; anything they
// throw (an allocation larger than memory, a bug) becomes a Status naming the model, so a bad model
// can never take a server down.
template <typename Import>
Expected<std::unique_ptr<Session::Impl>> import_and_prepare(const std::string& source, Import import,
                                                           const SessionOptions& options) {
  try {
    KILN_ASSIGN_OR_RETURN(ir::Model model, import());
    return prepare(std::move(model), options);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(source + ": out of memory while loading the model");
  } catch (const std::exception& e) {
    return Status::Internal(source + ": unexpected exception while loading the model: " + e.what());
  }
}

}  // namespace

namespace {

// Inputs for the warm-up run: zeros at each input's declared shape, 1 for every dynamic dimension.
// Empty when an input is not a plain numeric tensor of known rank, or the inputs would be large.
std::vector<NamedValue> warm_up_inputs(const Session& s) {
  constexpr size_t kMaxWarmUpInputBytes = size_t{64} << 20;
  std::vector<NamedValue> inputs;
  size_t bytes = 0;
  for (const IoInfo& in : s.inputs()) {
    if (in.has_default) continue;
    if (in.kind != IoInfo::Kind::kTensor || !in.has_shape || in.dtype == DataType::kUndefined ||
        in.dtype == DataType::kString) {
      return {};
    }
    Shape shape;
    for (int64_t d : in.dims) shape.push_back(d < 0 ? 1 : d);
    auto t = Tensor::make(in.dtype, shape);
    if (!t.ok()) return {};
    bytes += t->bytes();
    if (bytes > kMaxWarmUpInputBytes) return {};
    inputs.push_back(NamedValue{in.name, std::move(t).value()});
  }
  return inputs;
}

constexpr std::chrono::seconds kWarmUpTimeLimit{10};

// At most this many warm-up runs: see warm_up.
constexpr int kMaxWarmUpRuns = 3;

// Runs at load so that the first real run does not pay for what a run at a new shape costs once:
// oneDNN primitives created (JIT), weights reordered for them, the run's buffer pool filled. A model
// may well reject zeros (an index or shape input): the run's result and errors are ignored.
// The pool may still take memory from the system in a second run at the same shape: it lends a free
// block of a larger class to a request whose own class is empty, and which request finds which block
// free differs between a first run (an empty pool) and the next, so the blocks settle over runs
// (mobilenet_v2, 1 thread: the first real run faulted in one 450 KB output, 1.3 ms). So the warm-up
// runs again while its last run took memory from the system, up to kMaxWarmUpRuns runs in all.
void warm_up(const Session& s, const RunPools& pools) {
  try {
    std::vector<NamedValue> inputs = warm_up_inputs(s);
    if (inputs.empty() && !s.inputs().empty()) return;
    // Zeros can make a Loop's trip count or a shape enormous: a warm-up never holds the load for long.
    RunOptions bounded;
    bounded.deadline = std::chrono::steady_clock::now() + kWarmUpTimeLimit;
    for (int run = 0; run < kMaxWarmUpRuns; ++run) {
      const int64_t allocations = pools.system_allocations();
      if (!s.run(inputs, bounded).ok() || pools.system_allocations() == allocations) return;
    }
  } catch (const std::exception&) {
    // Out of memory for the warm-up inputs: the session works without a warm-up, so it loads anyway.
  }
}

}  // namespace

std::unique_ptr<Session> Session::finish_load(std::unique_ptr<Impl> impl, const SessionOptions& options) {
  std::unique_ptr<Session> session(new Session(std::move(impl)));
  if (options.warm_up) warm_up(*session, session->impl_->pools);
  return session;
}

Expected<std::unique_ptr<Session>> Session::load(const std::string& path, const SessionOptions& options) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Impl> impl,
                        import_and_prepare(path, [&] { return onnx_io::import_model_file(path); }, options));
  return finish_load(std::move(impl), options);
}

Expected<std::unique_ptr<Session>> Session::load_from_bytes(const void* data, size_t size,
                                                            const SessionOptions& options) {
  KILN_ASSIGN_OR_RETURN(
      std::unique_ptr<Impl> impl,
      import_and_prepare("<bytes>", [&] { return onnx_io::import_model_bytes(data, size, options.base_dir, "<bytes>"); },
                         options));
  return finish_load(std::move(impl), options);
}

const ModelInfo& Session::info() const { return impl_->info; }
const std::vector<IoInfo>& Session::inputs() const { return impl_->inputs; }
const std::vector<IoInfo>& Session::outputs() const { return impl_->outputs; }

Expected<std::vector<NamedValue>> Session::run(const std::vector<NamedValue>& inputs,
                                               const RunOptions& options) const {
  const auto& decls = impl_->inputs;
  std::vector<const Value*> bound(decls.size(), nullptr);
  std::unordered_map<std::string, int64_t> symbols;
  for (const NamedValue& nv : inputs) {
    size_t i = 0;
    while (i < decls.size() && decls[i].name != nv.name) ++i;
    if (i == decls.size()) {
      std::string known;
      for (const IoInfo& d : decls) known += (known.empty() ? "" : ", ") + d.name;
      return Status::InvalidArgument(impl_->info.source + ": the model has no input named '" + nv.name +
                                     "' (inputs: " + known + ")");
    }
    if (bound[i] != nullptr) return Status::InvalidArgument("input '" + nv.name + "' is given twice");
    Status st = check_input(decls[i], nv.value, &symbols);
    if (!st.ok()) return st.with_context(impl_->info.source);
    bound[i] = &nv.value;
  }
  for (size_t i = 0; i < decls.size(); ++i) {
    if (bound[i] == nullptr && !decls[i].has_default && decls[i].kind != IoInfo::Kind::kOptional) {
      return Status::InvalidArgument(impl_->info.source + ": input '" + decls[i].name + "' (" +
                                     decls[i].type_string + ") is missing");
    }
  }
  std::vector<Value> values;
  {
    const RunPools::Lease lease = impl_->pools.lease();
    const ScopedBufferPool use_pool(lease.pool());
    const int team = options.intra_op_threads > 0 ? options.intra_op_threads : impl_->intra_op_threads;
    const bool long_run = impl_->last_run_ns.load(std::memory_order_relaxed) >= kMinRowPartsRunNs;
    const ScopedRunThreads threads(team, &impl_->last_run_ns);
    const int64_t rows = impl_->rows ? symbols[impl_->rows->symbol] : 0;
    // The timing hook is the caller's, called from one thread: a profiled run stays whole.
    const int parts = static_cast<int>(std::min<int64_t>(threads.threads(), rows));
    Status st = Status::FailedPrecondition("whole");
    if (parts >= 2 && long_run && !options.on_node_timed) {
      st = run_row_parts(*impl_->plan, impl_->pools, bound, impl_->rows->row_input, rows, parts, &options, &values);
    }
    if (st.code() == StatusCode::kFailedPrecondition) st = impl_->plan->run_bound(bound, nullptr, &values, &options);
    if (!st.ok()) return st.with_context(impl_->info.source);
  }
  std::vector<NamedValue> out;
  out.reserve(values.size());
  for (size_t i = 0; i < values.size(); ++i) out.push_back(NamedValue{impl_->outputs[i].name, std::move(values[i])});
  return out;
}

}  // namespace kiln
