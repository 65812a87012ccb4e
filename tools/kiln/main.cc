// kiln: run, test, inspect and benchmark ONNX models.
#include <CLI/CLI.hpp>

#include <iostream>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"kiln: a fast, correct inference engine for ONNX models"};
  app.require_subcommand(1);

  kiln::cli::InspectOptions inspect;
  CLI::App* inspect_cmd = app.add_subcommand("inspect", "Show a model's metadata, inputs, outputs and operators");
  inspect_cmd->add_option("model", inspect.model, "Path to a .onnx file")->required();
  inspect_cmd->add_flag("--optimized", inspect.optimized,
                        "Also show the graph kiln runs after its passes (node counts, fused operators)");

  kiln::cli::RunCommandOptions run;
  CLI::App* run_cmd = app.add_subcommand("run", "Run a model once on inputs from .npy or .pb files");
  run_cmd->add_option("model", run.model, "Path to a .onnx file")->required();
  run_cmd->add_option("-i,--input", run.inputs, "NAME=FILE or FILE (.npy or TensorProto .pb); repeatable");
  run_cmd->add_option("-o,--output-dir", run.output_dir, "Write each output to this folder");
  run_cmd->add_option("--format", run.format, "Output file format: npy (default) or pb")
      ->check(CLI::IsMember({"npy", "pb"}));
  run_cmd->add_flag("--profile", run.profile, "Print kernel time per operator type after the run");
  run_cmd->add_option("--profile-nodes", run.profile_nodes, "With --profile: how many of the slowest nodes to list (default 10)")
      ->check(CLI::NonNegativeNumber);

  kiln::cli::TestOptions test;
  CLI::App* test_cmd = app.add_subcommand("test", "Run ONNX test cases (model.onnx + test_data_set_*) and compare");
  test_cmd->add_option("paths", test.paths, "Test case folders, or folders to search recursively")->required();
  test_cmd->add_option("--expected-failures", test.expected_failures,
                       "File listing case ids expected to fail, one per line with a reason");
  test_cmd->add_option("--filter", test.filter, "Only run cases whose id contains this text");
  test_cmd->add_flag("-q,--quiet", test.quiet, "Print only failures and the summary");
  test_cmd->add_option("--rtol", test.rtol, "Relative tolerance for floating outputs (default 1e-3, ONNX's)")
      ->check(CLI::NonNegativeNumber);
  test_cmd->add_option("--atol", test.atol, "Absolute tolerance for floating outputs (default 1e-7, ONNX's)")
      ->check(CLI::NonNegativeNumber);

  kiln::cli::BenchOptions bench;
  CLI::App* bench_cmd = app.add_subcommand("bench", "Time a model on random inputs; print one JSON line");
  bench_cmd->add_option("model", bench.model, "Path to a .onnx file, or a folder holding model.onnx")->required();
  bench_cmd->add_option("--threads", bench.threads, "Intra-op threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  bench_cmd->add_option("--batch", bench.batch, "Size of each input's first dynamic dimension (default 1)");
  bench_cmd->add_option("--dims", bench.dims, "NAME=VALUE for another named dynamic dimension; repeatable");
  bench_cmd->add_option("--warmup", bench.warmup, "Untimed runs after the first (default 10)");
  bench_cmd->add_option("--runs", bench.runs, "Timed runs (default 50)");
  bench_cmd->add_flag("--overhead", bench.overhead, "Also report overhead_us: time per call outside kernels");
  bench_cmd->add_flag("--profile", bench.profile, "Also print kernel time per operator type over the runs (stderr)");
  bench_cmd
      ->add_option("--profile-nodes", bench.profile_nodes,
                   "With --profile: how many of the slowest nodes to list (default 10)")
      ->check(CLI::NonNegativeNumber);

  kiln::cli::ServeOptions serve;
  CLI::App* serve_cmd = app.add_subcommand("serve", "Serve a model repository over KServe v2 HTTP, with metrics");
  serve_cmd->add_option("--model-repository", serve.model_repository, "Triton-layout folder of models")->required();
  serve_cmd->add_option("--http-port", serve.http_port, "HTTP port (0: any free port)")->check(CLI::Range(0, 65535));
  serve_cmd->add_option("--grpc-port", serve.grpc_port, "gRPC port (0: any free port)")->check(CLI::Range(0, 65535));
  serve_cmd->add_option("--metrics-port", serve.metrics_port, "Prometheus metrics port (0: any free port)")
      ->check(CLI::Range(0, 65535));
  serve_cmd->add_option("--address", serve.address, "Address to listen on");
  serve_cmd
      ->add_option("--model-control-mode", serve.model_control_mode,
                   "none: load all at start; explicit: load and unload through the repository API; poll: load all "
                   "at start and follow changes to the folder")
      ->check(CLI::IsMember({"none", "explicit", "poll"}));
  serve_cmd->add_option("--repository-poll-secs", serve.repository_poll_secs, "Poll mode: seconds between scans")
      ->check(CLI::PositiveNumber);
  serve_cmd->add_option("--load-model", serve.load_models, "In explicit mode, load this model at start; repeatable");
  serve_cmd
      ->add_option("--threads", serve.threads,
                   "Thread budget: threads computing at once across all models and instances, and I/O threads "
                   "(0: cores)")
      ->check(CLI::Range(0, 1024));
  serve_cmd
      ->add_option("--intra-op-threads", serve.intra_op_threads,
                   "Threads each model run computes on (0: --threads divided among the model's instances)")
      ->check(CLI::Range(0, 1024));
  serve_cmd
      ->add_option("--request-timeout-ms", serve.request_timeout_ms,
                   "Fail requests not answered after this long with 503, queued or running (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  serve_cmd->add_option("--max-request-bytes", serve.max_request_bytes, "Largest request body; larger get 413");
  serve_cmd->add_option("--max-connections", serve.max_connections, "Open connections beyond this get 503")
      ->check(CLI::PositiveNumber);
  serve_cmd->add_option("--idle-timeout", serve.idle_timeout_s, "Seconds before an idle connection closes")
      ->check(CLI::PositiveNumber);
  serve_cmd
      ->add_option("--max-queue-size", serve.max_queue_size,
                   "Queued requests per model version beyond this get 503")
      ->check(CLI::PositiveNumber);
  serve_cmd->add_flag("--access-log", serve.access_log,
                      "Log each HTTP request (method, path, status, latency, model, version, id) on stdout");
  serve_cmd->add_option("--log-format", serve.log_format, "Access log lines as text or json")
      ->check(CLI::IsMember({"text", "json"}));
  serve_cmd->add_flag("--allow-client-shm", serve.allow_client_shm,
                      "Let clients register system shared memory regions (Triton's flag): kiln then reads and "
                      "writes any POSIX shared memory object its user may open, so enable it only for trusted "
                      "clients");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    // Usage errors follow the tool's convention: one "error:" line and exit code 2 (CLI11 would print
    // two lines and exit with its own codes, 105 and up).
    std::cerr << "error: " << e.what() << " (see kiln --help)\n";
    return 2;
  }
  if (*inspect_cmd) return kiln::cli::inspect_command(inspect);
  if (*run_cmd) return kiln::cli::run_command(run);
  if (*test_cmd) return kiln::cli::test_command(test);
  if (*bench_cmd) return kiln::cli::bench_command(bench);
  if (*serve_cmd) return kiln::cli::serve_command(serve);
  return 2;
}
