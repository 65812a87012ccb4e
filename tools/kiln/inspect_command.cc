#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <vector>

#include "commands.h"
#include "kiln/session.h"

namespace kiln::cli {
namespace {

std::string human_bytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

void print_io(const char* title, const std::vector<IoInfo>& ios) {
  std::cout << title << ":\n";
  for (const IoInfo& io : ios) {
    std::cout << "  " << io.name << "  " << io.type_string << (io.has_default ? "  (has a default)" : "") << "\n";
  }
}

// Operators by count, most frequent first.
void print_histogram(const std::map<std::string, int64_t>& histogram, const char* indent = "  ") {
  std::vector<std::pair<std::string, int64_t>> ops(histogram.begin(), histogram.end());
  std::stable_sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [op, count] : ops) std::printf("%s%-28s %lld\n", indent, op.c_str(), static_cast<long long>(count));
}

}  // namespace

int inspect_command(const InspectOptions& options) {
  auto session = Session::load(options.model);
  if (!session.ok()) {
    std::cerr << "error: " << session.status().message() << "\n";
    return 1;
  }
  const ModelInfo& info = (*session)->info();
  std::cout << "model:       " << info.source << "\n";
  std::cout << "producer:    " << (info.producer_name.empty() ? "(none)" : info.producer_name)
            << (info.producer_version.empty() ? "" : " " + info.producer_version) << "\n";
  std::cout << "ir_version:  " << info.ir_version << "\n";
  std::cout << "opsets:      ";
  bool first = true;
  for (const auto& [domain, version] : info.opsets) {
    std::cout << (first ? "" : ", ") << (domain.empty() ? "ai.onnx" : domain) << " " << version;
    first = false;
  }
  std::cout << "\n";
  if (!info.domain.empty()) std::cout << "domain:      " << info.domain << "\n";
  if (info.model_version) std::cout << "version:     " << info.model_version << "\n";
  for (const auto& [k, v] : info.metadata) std::cout << "metadata:    " << k << " = " << v << "\n";
  print_io("inputs", (*session)->inputs());
  print_io("outputs", (*session)->outputs());
  std::cout << "parameters:  " << info.parameter_count << " (" << human_bytes(info.parameter_bytes) << ")\n";
  std::cout << "nodes:       " << info.node_count << "\n";
  std::cout << "operators:\n";
  print_histogram(info.op_histogram);
  if (options.optimized) {
    const GraphStats& opt = info.optimized;
    std::cout << "after kiln's passes:\n";
    std::cout << "  nodes:       " << info.node_count << " -> " << opt.node_count << "\n";
    std::cout << "  parameters:  " << info.parameter_count << " -> " << opt.parameter_count << " ("
              << human_bytes(opt.parameter_bytes) << ")\n";
    std::cout << "  operators:\n";
    print_histogram(opt.op_histogram, "    ");
    std::cout << "  rows:        "
              << (info.independent_rows.empty() ? "may depend on each other; a batch runs whole"
                                                 : "independent along '" + info.independent_rows +
                                                       "'; a batch on several threads runs in parts")
              << "\n";
  }
  return 0;
}

}  // namespace kiln::cli
