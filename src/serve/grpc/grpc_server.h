// GrpcServer: the KServe v2 gRPC frontend (inference.GRPCInferenceService) on top of
// ModelRepository, a peer of the HTTP frontend. Every RPC runs on completion queues, each polled by one
// thread (unary_call_queues.h, and stream_infer_call.h for ModelStreamInfer); an inference waiting in
// the batcher holds no thread. Status maps to gRPC codes only here (grpc_status.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "kiln/status.h"
#include "serve/metrics.h"
#include "serve/model_repository.h"
#include "serve/shared_memory/system_shared_memory.h"

namespace grpc {
class Server;
}

namespace kiln::serve::grpc_frontend {

class UnaryCallQueues;

struct GrpcOptions {
  std::string server_version;
  std::chrono::microseconds default_timeout{0};  // for requests without a "timeout" parameter; 0: none
  int max_message_bytes = 64 << 20;              // larger requests fail with RESOURCE_EXHAUSTED
  int threads = 1;                               // threads taking calls, each polling its own completion queue
  // Registered system shared memory regions; the HTTP frontend shares the same registry.
  std::shared_ptr<SystemSharedMemory> shared_memory = std::make_shared<SystemSharedMemory>();
};

class GrpcServer {
 public:
  // `repository` and `metrics` must outlive the server.
  GrpcServer(ModelRepository* repository, ServeMetrics* metrics, GrpcOptions options);
  ~GrpcServer();  // shuts down at once if still running

  // Binds and starts serving; port 0 picks a free port (see port()). IOError naming the address when
  // it cannot bind.
  Status start(const std::string& address, int port);
  int port() const { return port_; }

  // Stops accepting RPCs and waits up to `grace` for those in flight, then cancels the rest.
  void shutdown(std::chrono::milliseconds grace);

  class Service;

 private:
  std::unique_ptr<Service> service_;
  std::unique_ptr<UnaryCallQueues> call_queues_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  int max_message_bytes_;
  int threads_;
};

}  // namespace kiln::serve::grpc_frontend
