// OpProfile: kernel time per operator type, and the slowest nodes, gathered from Session's per-node
// timing hook (RunOptions::on_node_timed) and printed as tables by `kiln run --profile` and
// `kiln bench --profile`. The node table is what points at the one layer worth a look: a type's total
// hides that two of its 37 nodes take a fifth of the time.
//
// Not thread-safe: feed it from one run at a time.
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>

#include "kiln/session.h"

namespace kiln::cli {

class OpProfile {
 public:
  // A hook for RunOptions::on_node_timed that adds to this profile; the profile must outlive the run.
  RunOptions run_options();
  void add(const NodeTiming& timing);

  int64_t total_nanoseconds() const { return total_ns_; }
  // One row per operator type, slowest first: nodes, total ms, ms per node, share of kernel time; then
  // the kernel total and, given the runs' wall time, the time spent outside kernels; then the
  // `slowest` slowest nodes by name. For a profile of `runs` runs, every figure but ms per node is per
  // run (the mean).
  void print(std::ostream& out, double wall_ms, int runs = 1, size_t slowest = 10) const;

 private:
  struct Row {
    int64_t nodes = 0;
    int64_t nanoseconds = 0;
  };
  void print_slowest_nodes(std::ostream& out, size_t count, double per_run, double total_ms) const;

  std::map<std::string, Row> rows_;  // "Conv", or "domain.Op" outside ai.onnx
  // Per node, keyed by name and type: a node without a name shares its row with its unnamed peers.
  std::map<std::pair<std::string, std::string>, Row> nodes_;
  int64_t total_ns_ = 0;
};

}  // namespace kiln::cli
