// Session: a loaded ONNX model, ready to run.
//
//   auto session = kiln::Session::load("model.onnx");
//   if (!session.ok()) { std::cerr << session.status().to_string() << "\n"; return 1; }
//   kiln::Tensor x(kiln::DataType::kFloat32, {1, 3, 224, 224});
//   auto outputs = (*session)->run({{"input", x}});
//   if (outputs.ok()) use((*outputs)[0].value.tensor());
//
// Loading parses the model, checks opsets and operators, and builds a kernel for every node, so every
// problem with the model itself is reported by load(). run() checks the inputs against the model's
// declared types and shapes before computing.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/status.h"
#include "kiln/value.h"

namespace kiln {

// A graph input or output as the model declares it.
struct IoInfo {
  enum class Kind { kTensor, kSequence, kOptional, kOther };
  std::string name;
  Kind kind = Kind::kTensor;
  DataType dtype = DataType::kUndefined;  // of the tensor, or of the sequence's / optional's tensors
  bool has_shape = false;                 // false: rank unknown
  std::vector<int64_t> dims;              // -1 for a dynamic dimension
  std::vector<std::string> dim_names;     // the symbol of each dynamic dimension ("" if none)
  bool has_default = false;               // an input backed by an initializer may be omitted
  std::string type_string;                // "float[batch, 3, 224, 224]"
};

// Size and operator mix of a graph, subgraphs included.
struct GraphStats {
  int64_t node_count = 0;
  int64_t parameter_count = 0;  // elements in initializers
  int64_t parameter_bytes = 0;
  std::map<std::string, int64_t> op_histogram;  // "Conv" or "domain.Op" -> count
};

struct ModelInfo {
  std::string source;  // path, or "<bytes>"
  int64_t ir_version = 0;
  std::string producer_name;
  std::string producer_version;
  std::string domain;
  int64_t model_version = 0;
  std::string doc_string;
  std::map<std::string, int64_t> opsets;  // "" is the default domain (ai.onnx)
  std::map<std::string, std::string> metadata;
  int64_t node_count = 0;                 // including nodes inside subgraphs
  int64_t parameter_count = 0;            // elements in initializers
  int64_t parameter_bytes = 0;
  std::map<std::string, int64_t> op_histogram;  // "Conv" or "domain.Op" -> count, subgraphs included
  // The graph kiln plans and runs, after its passes (the same as above when SessionOptions::optimize
  // is false); fused operators appear as "kiln.FusedConv" and the like.
  GraphStats optimized;
  // The batch dimension whose rows the optimized graph computes apart from each other ("" if it does
  // not, or has none): a run of several rows on several threads then computes as parts of its rows,
  // one thread each (set KILN_ROW_PARTS=0 in the environment to run every batch as one).
  std::string independent_rows;
};

struct NamedValue {
  std::string name;
  Value value;
};

struct SessionOptions {
  // Folder that external data files are relative to, for load_from_bytes ("" forbids external data).
  std::string base_dir;
  // Rewrite the graph at load (drop Identity/Dropout, fold constants and BatchNormalization, fuse
  // activations into convolutions). Turn off to rule the optimizer out when debugging a model.
  bool optimize = true;
  // Threads one run may use for intra-op parallelism (oneDNN's OpenMP team); 0 = all cores. Results
  // do not depend on it beyond float rounding. Concurrent runs each get their own team.
  int intra_op_threads = 0;
  // Run the model at load, on zeros at the declared input shapes (1 for each dynamic dimension), so
  // that the first real run at that shape is not slower than the rest: kernels create their oneDNN
  // primitives and reorder weights for a shape on the first run that sees it. It runs again, three
  // runs at most, while its last run still took buffer memory from the system. The warm-up's result is
  // ignored (a model may reject zeros); it is skipped when an input is not a numeric tensor of known
  // rank, and stopped after 10 seconds (a Loop whose trip count comes from the input). Turn off to keep
  // load time minimal.
  bool warm_up = true;
};

// One node's kernel time, as reported to RunOptions::on_node_timed. The views live only during the call.
struct NodeTiming {
  std::string_view op_type;    // "Conv"
  std::string_view domain;     // "" for ai.onnx
  std::string_view node_name;  // may be ""
  int64_t nanoseconds = 0;     // wall time of the node's kernel alone (not the executor around it)
};

// Options for one call of Session::run.
struct RunOptions {
  // If set, called after each node of the main graph, on the thread that called run(), with the time
  // its kernel took. Nodes inside subgraphs (If, Loop, Scan bodies) are not reported one by one; their
  // time is part of the node that owns the subgraph. Unset (the default) costs nothing: no clock is read.
  std::function<void(const NodeTiming&)> on_node_timed;

  // Stopping a run early. run() checks both before every node of the graph and of every subgraph, and
  // Loop and Scan check them before every iteration, so even a Loop of endless trip count stops; a
  // single long kernel (one big convolution) is not interrupted. A run that stops returns
  // DeadlineExceeded or Cancelled naming the node it stopped at, and no outputs.
  //
  // The run stops once steady_clock passes this time; max() (the default) means no deadline and
  // costs no clock read.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // If set, the run stops once *cancelled is true; another thread may set it at any time. The caller
  // keeps the flag alive until run() returns.
  const std::atomic<bool>* cancelled = nullptr;
  // If set, the run stops with Cancelled once it returns true; called on the running thread at the
  // same points, so it must be cheap and safe to call while other threads change what it reads. For
  // a reason to stop that no one flag holds: the server stops a merged batch once every request in
  // it was cancelled or timed out. Unset (the default) costs nothing.
  std::function<bool()> cancel_when;

  // If > 0, this run's team is at most this many threads instead of SessionOptions::intra_op_threads.
  // For a caller that runs several runs side by side on threads of its own (the server computing the
  // parts of a merged batch, one thread each): independent runs need no barrier between them, where one
  // team waits at every parallel region for its slowest thread.
  int intra_op_threads = 0;
};

class Session {
 public:
  // Loads and prepares a model. Returns a non-OK status naming the file, node or value on any problem
  // (unreadable or corrupt file, unsupported opset or operator, inconsistent graph).
  static Expected<std::unique_ptr<Session>> load(const std::string& path, const SessionOptions& options = {});
  static Expected<std::unique_ptr<Session>> load_from_bytes(const void* data, size_t size,
                                                            const SessionOptions& options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const ModelInfo& info() const;
  // Inputs the caller may feed (graph inputs; those with has_default may be omitted), in model order.
  const std::vector<IoInfo>& inputs() const;
  const std::vector<IoInfo>& outputs() const;

  // Runs the model on named inputs and returns every output in model order. Thread-safe: many threads
  // may call run() on one Session at once. Fails with InvalidArgument naming the input for a missing,
  // unknown, mistyped or misshapen input, and with the node's name for an error during computation.
  Expected<std::vector<NamedValue>> run(const std::vector<NamedValue>& inputs,
                                        const RunOptions& options = RunOptions()) const;

 struct Impl;  // implementation detail, defined in src/exec/session.cc

 private:
  explicit Session(std::unique_ptr<Impl> impl);
  static std::unique_ptr<Session> finish_load(std::unique_ptr<Impl> impl, const SessionOptions& options);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln
