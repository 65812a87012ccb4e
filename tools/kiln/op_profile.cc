#include "op_profile.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace kiln::cli {

RunOptions OpProfile::run_options() {
  RunOptions options;
  options.on_node_timed = [this](const NodeTiming& t) { add(t); };
  return options;
}

void OpProfile::add(const NodeTiming& t) {
  std::string key(t.op_type);
  if (!t.domain.empty()) key = std::string(t.domain) + "." + key;
  Row& row = rows_[key];
  ++row.nodes;
  row.nanoseconds += t.nanoseconds;
  Row& node = nodes_[{std::string(t.node_name), key}];
  ++node.nodes;
  node.nanoseconds += t.nanoseconds;
  total_ns_ += t.nanoseconds;
}

void OpProfile::print(std::ostream& out, double wall_ms, int runs, size_t slowest) const {
  const double per_run = 1.0 / std::max(1, runs);
  std::vector<std::pair<std::string, Row>> sorted(rows_.begin(), rows_.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second.nanoseconds > b.second.nanoseconds; });
  size_t width = 8;
  for (const auto& [op, row] : sorted) width = std::max(width, op.size());
  char line[256];
  std::snprintf(line, sizeof line, "%-*s %6s %11s %11s %7s\n", static_cast<int>(width), "operator", "nodes", "total ms",
                "ms/node", "share");
  out << line;
  const double total_ms = static_cast<double>(total_ns_) / 1e6;
  for (const auto& [op, row] : sorted) {
    const double ms = static_cast<double>(row.nanoseconds) / 1e6;
    std::snprintf(line, sizeof line, "%-*s %6.0f %11.3f %11.4f %6.1f%%\n", static_cast<int>(width), op.c_str(),
                  static_cast<double>(row.nodes) * per_run, ms * per_run, ms / static_cast<double>(row.nodes),
                  total_ms > 0 ? 100.0 * ms / total_ms : 0.0);
    out << line;
  }
  std::snprintf(line, sizeof line,
                "kernels %.3f ms of a %.3f ms run; %.3f ms outside kernels (checks, executor, copies)%s\n",
                total_ms * per_run, wall_ms * per_run, (wall_ms - total_ms) * per_run,
                runs > 1 ? (", the mean of " + std::to_string(runs) + " runs").c_str() : "");
  out << line;
  print_slowest_nodes(out, slowest, per_run, total_ms);
}

void OpProfile::print_slowest_nodes(std::ostream& out, size_t count, double per_run, double total_ms) const {
  std::vector<std::pair<std::pair<std::string, std::string>, Row>> sorted(nodes_.begin(), nodes_.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second.nanoseconds > b.second.nanoseconds; });
  if (sorted.size() > count) sorted.resize(count);
  if (sorted.empty()) return;
  size_t name_width = 4, op_width = 8;
  for (const auto& [key, row] : sorted) {
    name_width = std::max(name_width, std::min<size_t>(key.first.size(), 48));
    op_width = std::max(op_width, key.second.size());
  }
  char line[512];
  std::snprintf(line, sizeof line, "slowest nodes:\n%-*s %-*s %11s %7s\n", static_cast<int>(name_width), "node",
                static_cast<int>(op_width), "operator", "ms", "share");
  out << line;
  for (const auto& [key, row] : sorted) {
    const double ms = static_cast<double>(row.nanoseconds) / 1e6;
    // A long name keeps its end, which tells nodes apart (exporters name them by module path).
    const std::string name = key.first.empty()          ? "(unnamed)"
                             : key.first.size() <= 48 ? key.first
                                                      : "..." + key.first.substr(key.first.size() - 45);
    std::snprintf(line, sizeof line, "%-*s %-*s %11.4f %6.1f%%\n", static_cast<int>(name_width), name.c_str(),
                  static_cast<int>(op_width), key.second.c_str(), ms * per_run,
                  total_ms > 0 ? 100.0 * ms / total_ms : 0.0);
    out << line;
  }
}

}  // namespace kiln::cli
