// ModelInfer on gRPC's asynchronous completion-queue API, for small requests at high rates.
//
// gRPC 1.51's callback API runs every callback on its own "nexting" threads (two or more), which take
// turns polling the connection and hand calls to each other: a server with one core spent its time
// switching between them (perf and /proc context-switch counts under bench/serve/run.py tiny, Identity
// model, 2026-12-07). Here each of `threads` threads owns one completion queue and does everything for
// the calls it accepts: it polls the connection, reads and decodes the request, runs a small model
// inline (dynamic_batcher_inline.cc), encodes and writes the answer. A model run on a batcher worker
// answers from that worker; gRPC then sends the answer from the queue's thread.
//
// The other RPCs stay on the callback API (grpc_server.cc): they are rare, and load/unload block.
#pragma once

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "grpc_predict_v2.grpc.pb.h"

namespace kiln::serve::grpc_frontend {

// The service: ModelInfer through completion queues, everything else through callbacks. The async
// mark comes first: marking a callback method async later would keep its callback handler (gRPC
// 1.51's RpcServiceMethod::SetServerApiType drops only a sync one), and the server would not take it
// as async.
using GeneratedService = inference::GRPCInferenceService;
using InferService = GeneratedService::WithCallbackMethod_ServerLive<GeneratedService::WithCallbackMethod_ServerReady<
    GeneratedService::WithCallbackMethod_ModelReady<GeneratedService::WithCallbackMethod_ServerMetadata<
        GeneratedService::WithCallbackMethod_ModelMetadata<GeneratedService::WithCallbackMethod_RepositoryIndex<
            GeneratedService::WithCallbackMethod_RepositoryModelLoad<
                GeneratedService::WithCallbackMethod_RepositoryModelUnload<
                    GeneratedService::WithCallbackMethod_ModelStatistics<
                        GeneratedService::WithCallbackMethod_ModelConfig<
                            GeneratedService::WithAsyncMethod_ModelInfer<GeneratedService::Service>>>>>>>>>>>;

class InferCompletionQueues;
struct InferQueue;  // one completion queue, its thread and its count of calls (infer_completion_queues.cc)

// One accepted ModelInfer call. Its handler answers it with finish(), exactly once, from any thread.
class InferCall {
 public:
  const inference::ModelInferRequest& request() const { return request_; }
  const grpc::ServerContext& context() const { return context_; }
  inference::ModelInferResponse* response() { return &response_; }
  // Set once the call is over on the client's side: cancelled, past its deadline, or disconnected.
  // The scheduler and the engine poll it; shared, as they may hold it past the call.
  const std::shared_ptr<std::atomic<bool>>& cancelled() const { return cancelled_; }

  // Sends `status`, and response() with it when OK. The call may be gone once this returns.
  void finish(const grpc::Status& status);

 private:
  friend class InferCompletionQueues;
  friend struct InferQueue;
  enum class Event { kAccepted, kFinished, kDone };
  struct Tag {
    InferCall* call;
    Event event;
  };

  InferCall(InferCompletionQueues* owner, InferQueue* queue);
  // On the queue's thread, for each of this call's tags.
  void on_event(Event event, bool ok);

  InferCompletionQueues* const owner_;
  InferQueue* const queue_;
  grpc::ServerContext context_;
  inference::ModelInferRequest request_;
  inference::ModelInferResponse response_;
  grpc::ServerAsyncResponseWriter<inference::ModelInferResponse> writer_{&context_};
  std::shared_ptr<std::atomic<bool>> cancelled_ = std::make_shared<std::atomic<bool>>(false);
  Tag accepted_{this, Event::kAccepted};
  Tag finished_{this, Event::kFinished};
  Tag done_{this, Event::kDone};
  int tags_left_ = 2;  // of an accepted call: finished_ and done_, in either order
};

class InferCompletionQueues {
 public:
  using Handler = std::function<void(InferCall*)>;

  // Adds `threads` completion queues to `builder`; `service` must be registered with it, and it and
  // `handler` must outlive this. `handler` runs on a queue's thread for each accepted call and must
  // see to it that the call is finished, now or later.
  InferCompletionQueues(InferService* service, grpc::ServerBuilder* builder, int threads, Handler handler);
  ~InferCompletionQueues();  // after join()

  // After the server started: asks for calls and starts the threads.
  void start();
  // Around the server's Shutdown: stop() before it, so that no call is asked for once it began; join()
  // after it returned, to wait for the calls still owed an answer and stop the threads. (gRPC wants a
  // server's completion queues shut down after the server.)
  void stop();
  void join();

 private:
  friend class InferCall;
  void request_call(InferQueue* queue);
  void poll(InferQueue* queue);

  InferService* const service_;
  const Handler handler_;
  std::vector<std::unique_ptr<InferQueue>> queues_;
  std::atomic<bool> stopping_{false};        // no more calls are asked for
  std::atomic<bool> server_stopped_{false};  // the server's Shutdown returned
};

}  // namespace kiln::serve::grpc_frontend
