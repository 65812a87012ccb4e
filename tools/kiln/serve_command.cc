// `kiln serve`: the KServe v2 HTTP and gRPC servers over a model repository, with Prometheus metrics.
//
// Threads: SIGTERM/SIGINT are blocked in every thread and taken by the main thread with sigwait, so
// shutdown runs as ordinary code, not in a signal handler. `--threads` I/O threads run both HTTP
// servers, as many threads take gRPC's calls, and one ComputeBudget of `--threads` threads
// bounds the threads computing at once across every model and instance: each run asks for its
// intra-op threads (by default --threads divided among its model's instances), so compute never asks
// for more cores than the operator gave.
#include <pthread.h>
#include <signal.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "commands.h"
#include "serve/grpc/grpc_server.h"
#include "serve/http/http_server.h"
#include "serve/http/kserve_routes.h"
#include "serve/http/metrics_routes.h"
#include "serve/metrics.h"
#include "serve/model_repository.h"
#include "serve/repository_poller.h"

namespace kiln::cli {

namespace {

void print_banner(const ServeOptions& o, const serve::ModelRepository& repo, int threads, uint16_t http_port,
                  int grpc_port, uint16_t metrics_port) {
  std::cout << "kiln serve: model repository " << o.model_repository << " (control mode " << o.model_control_mode
            << "), compute budget " << threads << " thread(s)\n";
  for (const serve::ModelIndexEntry& e : repo.index()) {
    std::cout << "  model " << e.name;
    if (e.version > 0) std::cout << " version " << e.version;
    std::cout << ": " << e.state;
    if (!e.reason.empty()) std::cout << " (" << e.reason << ")";
    if (auto mv = repo.find(e.name, e.version); e.version > 0 && mv.ok()) {
      std::cout << ", " << (*mv)->instance_count() << " instance(s) x " << (*mv)->intra_op_threads()
                << " intra-op thread(s)";
    }
    std::cout << "\n";
  }
  // Tests and scripts read the ports from these two lines when they ask for port 0.
  std::cout << "HTTP (KServe v2) listening on " << o.address << ":" << http_port << "\n";
  std::cout << "gRPC (KServe v2) listening on " << o.address << ":" << grpc_port << "\n";
  std::cout << "metrics listening on " << o.address << ":" << metrics_port << " at /metrics\n" << std::flush;
}

}  // namespace

int serve_command(const ServeOptions& options) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // inherited by every thread started below

  const int threads = options.threads > 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
  serve::ServeMetrics metrics;
  serve::RepositoryOptions ropts;
  ropts.root = options.model_repository;
  ropts.mode = options.model_control_mode == "explicit" ? serve::ModelControlMode::kExplicit
               : options.model_control_mode == "poll"   ? serve::ModelControlMode::kPoll
                                                        : serve::ModelControlMode::kNone;
  ropts.scheduler.max_instances = threads;
  ropts.scheduler.max_queue_size = options.max_queue_size;
  ropts.scheduler.budget = std::make_shared<serve::ComputeBudget>(threads);
  ropts.scheduler.intra_op_threads = options.intra_op_threads;
  serve::ModelRepository repo(ropts, &metrics);
  if (ropts.mode != serve::ModelControlMode::kExplicit) {
    auto failures = repo.load_all();
    if (!failures.ok()) {
      std::cerr << "error: " << failures.status().message() << "\n";
      return 1;
    }
    for (const Status& st : *failures) std::cerr << "warning: " << st.message() << "\n";
  } else {
    for (const std::string& name : options.load_models) {
      if (Status st = repo.load(name); !st.ok()) std::cerr << "warning: " << st.message() << "\n";
    }
  }

  boost::asio::io_context ioc(threads);
  serve::http::RoutesOptions routes_options;
  routes_options.server_version = KILN_VERSION;
  routes_options.default_timeout = std::chrono::milliseconds(options.request_timeout_ms);
  routes_options.max_request_bytes = options.max_request_bytes;
  std::mutex log_mu;
  if (options.access_log) {
    const bool json = options.log_format == "json";
    routes_options.access_log = [&log_mu, json](const serve::http::AccessRecord& r) {
      const std::string line = serve::http::format_access_record(r, json) + "\n";
      std::lock_guard<std::mutex> lock(log_mu);  // whole lines, never interleaved
      std::cout << line << std::flush;
    };
  }
  routes_options.shared_memory =
      std::make_shared<serve::SystemSharedMemory>(serve::SystemSharedMemory::Options{options.allow_client_shm});
  serve::http::KServeRoutes routes(&repo, &metrics, ioc, routes_options);
  serve::http::HttpLimits limits;
  limits.max_body_bytes = options.max_request_bytes;
  limits.max_connections = options.max_connections;
  limits.idle_timeout = std::chrono::seconds(options.idle_timeout_s);
  serve::http::HttpServer http(
      ioc, limits, [&routes](serve::http::HttpRequest&& r, serve::http::Responder s, serve::http::ClientGone gone) {
        routes.handle(std::move(r), std::move(s), std::move(gone));
      });
  serve::http::HttpLimits metrics_limits;
  metrics_limits.max_body_bytes = 1 << 16;
  metrics_limits.max_connections = 64;
  serve::http::HttpServer metrics_http(ioc, metrics_limits, serve::http::metrics_handler(&metrics));
  for (auto [server, port] : {std::pair{&http, options.http_port}, std::pair{&metrics_http, options.metrics_port}}) {
    if (Status st = server->listen(options.address, static_cast<uint16_t>(port)); !st.ok()) {
      std::cerr << "error: " << st.message() << "\n";
      return 1;
    }
  }

  serve::grpc_frontend::GrpcOptions grpc_options;
  grpc_options.server_version = KILN_VERSION;
  grpc_options.default_timeout = routes_options.default_timeout;
  grpc_options.max_message_bytes = static_cast<int>(std::min<size_t>(options.max_request_bytes, INT32_MAX));
  grpc_options.threads = threads;                             // as many as the HTTP server's I/O threads
  grpc_options.shared_memory = routes_options.shared_memory;  // one registry: a region serves both protocols
  serve::grpc_frontend::GrpcServer grpc(&repo, &metrics, grpc_options);
  if (Status st = grpc.start(options.address, options.grpc_port); !st.ok()) {
    std::cerr << "error: " << st.message() << "\n";
    return 1;
  }

  auto work = boost::asio::make_work_guard(ioc);
  std::vector<std::thread> io_threads;
  for (int i = 0; i < threads; ++i) io_threads.emplace_back([&ioc] { ioc.run(); });
  print_banner(options, repo, threads, http.port(), grpc.port(), metrics_http.port());
  std::unique_ptr<serve::RepositoryPoller> poller;
  if (ropts.mode == serve::ModelControlMode::kPoll) {
    poller = std::make_unique<serve::RepositoryPoller>(
        &repo, std::chrono::milliseconds(static_cast<int64_t>(options.repository_poll_secs * 1000)),
        [](const std::string& line) { std::cout << "poll: " << line << "\n"
                                                << std::flush; });
  }

  int sig = 0;
  sigwait(&signals, &sig);
  std::cout << "kiln serve: signal " << sig << ", draining\n" << std::flush;
  // Stop taking connections, let every queued request finish, then wait (bounded) for the answers to
  // be written before stopping the I/O threads.
  http.stop_accepting();
  metrics_http.stop_accepting();
  poller.reset();  // no reloads while draining
  repo.shutdown();
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (http.active_requests() > 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // The queues are drained, so every gRPC call in flight has its answer. gRPC's Shutdown waits out its
  // whole deadline while a client keeps an idle channel open (measured), so keep the grace short.
  grpc.shutdown(std::chrono::milliseconds(500));
  work.reset();
  ioc.stop();
  for (std::thread& t : io_threads) t.join();
  std::cout << "kiln serve: stopped\n" << std::flush;
  return 0;
}

}  // namespace kiln::cli
