// The subcommands of the `kiln` tool. Each returns the process exit code and prints errors as one line
// on stderr.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::cli {

struct InspectOptions {
  std::string model;
  bool optimized = false;  // also show the graph after kiln's passes
};
int inspect_command(const InspectOptions& options);

struct RunCommandOptions {  // not kiln::RunOptions, the per-call engine options
  std::string model;
  std::vector<std::string> inputs;  // NAME=FILE or FILE
  std::string output_dir;           // "" = print a summary
  std::string format = "npy";       // npy | pb
  bool profile = false;             // print kernel time per operator type after the run
  int profile_nodes = 10;           // with profile: how many of the slowest nodes to list
};
int run_command(const RunCommandOptions& options);

struct TestOptions {
  std::vector<std::string> paths;
  std::string expected_failures;  // file listing cases expected to fail, with reasons
  std::string filter;             // only cases whose id contains this
  bool quiet = false;             // print failures and the summary only
  // ONNX's defaults. Real networks in float32 need a looser atol: near-zero outputs of a deep network
  // carry absolute rounding errors far above 1e-7 even when every kernel is exact to the last bit or two.
  double rtol = 1e-3;
  double atol = 1e-7;
};
int test_command(const TestOptions& options);

struct BenchOptions {
  std::string model;               // a .onnx file, or a folder holding model.onnx
  int threads = 0;                 // 0 = all cores
  int64_t batch = 1;               // size of each input's first dynamic dimension
  std::vector<std::string> dims;   // NAME=VALUE for other named dynamic dimensions
  int warmup = 10;                 // untimed runs after the first
  int runs = 50;                   // timed runs
  bool overhead = false;           // also measure time per call outside kernels
  bool profile = false;            // also print kernel time per operator type (stderr)
  int profile_nodes = 10;          // with profile: how many of the slowest nodes to list
};
int bench_command(const BenchOptions& options);
struct ServeOptions {
  std::string model_repository;
  int http_port = 8000;                  // 0: any free port (printed at start)
  int grpc_port = 8001;
  int metrics_port = 8002;
  std::string address = "127.0.0.1";
  std::string model_control_mode = "none";  // none | explicit | poll
  double repository_poll_secs = 15;         // poll mode: seconds between scans of the repository
  std::vector<std::string> load_models;     // explicit mode: load these at start
  int threads = 0;                       // 0: one per core; the compute budget (threads computing at once)
  int intra_op_threads = 0;              // per run; 0: --threads divided among a model's instances
  int64_t request_timeout_ms = 0;        // 0: none unless a request sets its "timeout" parameter
  size_t max_request_bytes = size_t{64} << 20;
  int max_connections = 1024;
  int idle_timeout_s = 60;
  size_t max_queue_size = 1024;          // per model version
  bool access_log = false;               // one line per HTTP request on stdout
  bool allow_client_shm = false;         // clients may register system shared memory regions
  std::string log_format = "text";       // text | json (access log lines)
};
// Serves until SIGTERM or SIGINT, then drains queued requests and returns 0.
int serve_command(const ServeOptions& options);

}  // namespace kiln::cli
