// Perf mode of the differential harness: times the fast kernel against the reference on real layer
// shapes (cases.h perf_cases) and prints one line per case. Not a test: nothing is asserted but
// agreement. Usage: kiln_ops_perf [--runs N] [--threads N] [--no-ref] [name-substring]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "blocked_cases.h"
#include "cases.h"
#include "core/buffer_pool.h"
#include "eltwise_cases.h"
#include "exec/run_threads.h"
#include "kernels/dnnl/channel_block.h"
#include "squeeze_excite_cases.h"
#include "transformer_cases.h"

namespace {

using kiln::ops_test::OpCase;

// Median milliseconds of `runs` runs (after one warm-up run). Outputs come from a buffer pool, as in a
// plan's runs: fresh memory would time the page faults of a megabyte output, not the kernel.
double time_ms(const kiln::Kernel& k, const OpCase& c, int runs) {
  const auto pool = std::make_shared<kiln::BufferPool>();
  std::vector<kiln::Value> out;
  {
    const kiln::ScopedBufferPool scoped(pool);
    (void)kiln::ops_test::run_kernel(k, c, &out);
  }
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    out.clear();  // back to the pool
    const kiln::ScopedBufferPool scoped(pool);
    const auto start = std::chrono::steady_clock::now();
    (void)kiln::ops_test::run_kernel(k, c, &out);
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Multiply-accumulates of a Conv / Gemm / MatMul case, for GFLOP/s; 0 for other ops.
double macs(const OpCase& c) {
  const auto& op = c.node.op_type;
  std::vector<kiln::Value> out;
  const bool product = op == "MatMul" || op == "Gemm" || op == "FusedMatMul" || op == "FusedGemm";
  if (op == "Conv" || op == "FusedConv" || op == "BlockedConv" || product) {
    auto pair = kiln::ops_test::build_pair(c);
    if (!pair.ok() || !kiln::ops_test::run_kernel(*pair->fast, c, &out).ok()) return 0;
    const kiln::Tensor& y = out[0].tensor();
    const kiln::Tensor& w = c.inputs[1];
    if (op == "Conv" || op == "FusedConv" || op == "BlockedConv") {
      return static_cast<double>(y.size()) * static_cast<double>(w.size() / w.dim(0));  // Y's padding lanes too
    }
    const kiln::Tensor& a = c.inputs[0];
    const bool trans_a = c.node.attr_int("transA", 0) != 0;
    const bool gemm = op == "Gemm" || op == "FusedGemm";
    return static_cast<double>(y.size()) * static_cast<double>(gemm && trans_a ? a.dim(0) : a.shape().back());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 10;
  int threads = 0;
  bool with_ref = true;
  std::string filter;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--no-ref")) with_ref = false;
    else filter = argv[i];
  }
  const kiln::ScopedRunThreads scoped(threads);
  std::printf("threads: %d\n", kiln::effective_threads(threads));
  std::printf("%-40s %12s %12s %9s %10s\n", "case", "fast ms", "ref ms", "speed-up", "GFLOP/s");
  std::vector<OpCase> cases = kiln::ops_test::perf_cases();
  for (OpCase& c : kiln::ops_test::eltwise_perf_cases()) cases.push_back(std::move(c));
  for (OpCase& c : kiln::ops_test::transformer_perf_cases()) cases.push_back(std::move(c));
  for (OpCase& c : kiln::ops_test::blocked_depthwise_perf_cases()) cases.push_back(std::move(c));
  for (OpCase& c : kiln::ops_test::squeeze_excite_perf_cases(kiln::dnnl_kernels::nominal_channel_block()))
    cases.push_back(std::move(c));
  for (OpCase& c : kiln::ops_test::squeeze_excite_conv_perf_cases(kiln::dnnl_kernels::nominal_channel_block()))
    cases.push_back(std::move(c));
  for (const OpCase& c : cases) {
    if (!filter.empty() && c.name.find(filter) == std::string::npos) continue;
    auto pair = kiln::ops_test::build_pair(c);
    if (!pair.ok()) {
      std::printf("%-40s %s\n", c.name.c_str(), pair.status().to_string().c_str());
      continue;
    }
    std::vector<kiln::Value> fast, ref;
    std::string agree;
    if (with_ref) {
      (void)kiln::ops_test::run_kernel(*pair->fast, c, &fast);
      (void)kiln::ops_test::run_kernel(*pair->ref, c, &ref);
      agree = kiln::ops_test::compare_outputs(c, fast, ref);
    }
    const double f = time_ms(*pair->fast, c, runs);
    const double r = with_ref ? time_ms(*pair->ref, c, std::max(1, runs / 5)) : 0;
    const double gflops = 2 * macs(c) / (f * 1e6);
    std::printf("%-40s %12.3f %12.3f %8.1fx %10.1f %s\n", c.name.c_str(), f, r, r > 0 ? r / f : 0.0, gflops,
                agree.empty() ? "" : ("DISAGREES: " + agree).c_str());
  }
  return 0;
}
