// OpProfile: kernel time per operator type, gathered from Session's per-node timing hook
// (RunOptions::on_node_timed) and printed as a table by `kiln run --profile` and `kiln bench --profile`.
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
  // the kernel total and, given the runs' wall time, the time spent outside kernels. For a profile of
  // `runs` runs, every figure but ms per node is per run (the mean).
  void print(std::ostream& out, double wall_ms, int runs = 1) const;

 private:
  struct Row {
    int64_t nodes = 0;
    int64_t nanoseconds = 0;
  };
  std::map<std::string, Row> rows_;  // "Conv", or "domain.Op" outside ai.onnx
  int64_t total_ns_ = 0;
};

}  // namespace kiln::cli
