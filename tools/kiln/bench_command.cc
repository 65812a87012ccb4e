// `kiln bench MODEL [--threads N] [--batch B] [--dims NAME=VALUE ...] [--warmup W] [--runs R] [--overhead]
//  [--profile [--profile-nodes N]]`
//
// Times Session::run on random inputs (random_inputs.h; bench/ort_bench.js feeds ONNX Runtime the same
// ones) and prints one JSON line. The first run is timed on its own (first_run_ms) because a slow first
// run is a user-visible cost of its own; then W warm-up runs, then R timed runs. Only Session::run is
// inside the clock: inputs are made once, before.
//
// With --overhead it also runs R more times with the per-node timing hook and reports overhead_us, the
// median of (run wall time - sum of kernel times): what kiln costs per call beyond the math. Reading the
// clock around each node costs a little too, so this is an upper bound. With --profile those R runs'
// kernel time per operator type goes to stderr, as `kiln run --profile` prints one run's.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <thread>

#include "commands.h"
#include "kiln/session.h"
#include "op_profile.h"
#include "random_inputs.h"

namespace fs = std::filesystem;

namespace kiln::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

int fail(int code, const std::string& message) {
  std::cerr << "error: " << message << "\n";
  return code;
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Peak resident set of this process so far, in MiB (Linux reports ru_maxrss in KiB).
double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// Nearest-rank percentile of sorted samples: the smallest sample that at least p% of samples do not exceed.
double percentile(const std::vector<double>& sorted, double p) {
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

// "bench/models/mlp/model.onnx" -> "mlp"; "x/resnet.onnx" -> "resnet".
std::string model_name(const fs::path& file) {
  if (file.filename() == "model.onnx" && file.has_parent_path()) return file.parent_path().filename().string();
  return file.stem().string();
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", c);
      out += esc;
      continue;
    }
    out += c;
  }
  return out + "\"";
}

int bench(const BenchOptions& o) {
  if (o.batch <= 0) return fail(kExitUsage, "--batch must be positive, got " + std::to_string(o.batch));
  if (o.runs <= 0) return fail(kExitUsage, "--runs must be positive, got " + std::to_string(o.runs));
  if (o.warmup < 0) return fail(kExitUsage, "--warmup must be zero or more, got " + std::to_string(o.warmup));
  auto dims = parse_dims(o.dims);
  if (!dims.ok()) return fail(kExitUsage, dims.status().message());
  std::error_code ec;
  fs::path file = o.model;
  if (fs::is_directory(file, ec)) file /= "model.onnx";  // a folder in the ONNX test-case layout
  const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // The intra-op thread count the engine was given; reported as engine_threads.
  const int engine_threads = threads;
  SessionOptions session_options;
  session_options.intra_op_threads = engine_threads;

  const double baseline_rss = peak_rss_mb();
  const auto load_start = Clock::now();
  auto session = Session::load(file.string(), session_options);
  if (!session.ok()) return fail(kExitError, session.status().message());
  const double load_ms = ms_since(load_start);
  const Session& s = **session;
  auto inputs = make_random_inputs(s, o.batch, *dims);
  if (!inputs.ok()) return fail(kExitUsage, inputs.status().message());

  auto timed_run = [&](const RunOptions& options, double* ms) -> Status {
    const auto start = Clock::now();
    auto out = s.run(*inputs, options);
    *ms = ms_since(start);
    return out.ok() ? Status::OK() : out.status();
  };
  const RunOptions plain;
  double first_run_ms = 0, ms = 0;
  if (Status st = timed_run(plain, &first_run_ms); !st.ok()) return fail(kExitError, st.message());
  for (int i = 0; i < o.warmup; ++i) {
    if (Status st = timed_run(plain, &ms); !st.ok()) return fail(kExitError, st.message());
  }
  std::vector<double> samples;
  samples.reserve(static_cast<size_t>(o.runs));
  for (int i = 0; i < o.runs; ++i) {
    if (Status st = timed_run(plain, &ms); !st.ok()) return fail(kExitError, st.message());
    samples.push_back(ms);
  }
  std::sort(samples.begin(), samples.end());
  const double med = median(samples);

  std::string overhead;
  if (o.overhead || o.profile) {
    int64_t kernel_ns = 0;
    OpProfile profile;
    RunOptions hooked;
    hooked.on_node_timed = [&kernel_ns, &profile](const NodeTiming& t) {
      kernel_ns += t.nanoseconds;
      profile.add(t);
    };
    std::vector<double> outside_us;
    double wall_ms = 0;
    for (int i = 0; i < o.runs; ++i) {
      kernel_ns = 0;
      if (Status st = timed_run(hooked, &ms); !st.ok()) return fail(kExitError, st.message());
      outside_us.push_back(ms * 1e3 - static_cast<double>(kernel_ns) / 1e3);
      wall_ms += ms;
    }
    if (o.overhead) {
      char buf[64];
      std::snprintf(buf, sizeof buf, ",\"overhead_us\":%.2f", median(outside_us));
      overhead = buf;
    }
    // On stderr: stdout stays one JSON line for scripts. A profiled run is never cut into row parts.
    if (o.profile) profile.print(std::cerr, wall_ms, o.runs, static_cast<size_t>(o.profile_nodes));
  }

  char line[512];
  std::snprintf(line, sizeof line,
                "{\"engine\":\"kiln\",\"model\":%s,\"threads\":%d,\"engine_threads\":%d,\"batch\":%lld,"
                "\"warmup\":%d,\"runs\":%d,\"load_ms\":%.3f,\"first_run_ms\":%.4f,\"median_ms\":%.4f,"
                "\"p90_ms\":%.4f,\"p99_ms\":%.4f,\"min_ms\":%.4f,\"throughput_per_s\":%.2f,"
                "\"baseline_rss_mb\":%.1f,\"peak_rss_mb\":%.1f",
                json_string(model_name(file)).c_str(), threads, engine_threads, static_cast<long long>(o.batch),
                o.warmup, o.runs, load_ms, first_run_ms, med, percentile(samples, 90), percentile(samples, 99),
                samples.front(), static_cast<double>(o.batch) * 1000.0 / med, baseline_rss, peak_rss_mb());
  std::cout << line << overhead << "}\n";
  return 0;
}

}  // namespace

int bench_command(const BenchOptions& options) {
  // Errors are Status values; this only keeps an out-of-memory exception from aborting the process.
  try {
    return bench(options);
  } catch (const std::exception& e) {
    return fail(kExitError, e.what());
  }
}

}  // namespace kiln::cli
