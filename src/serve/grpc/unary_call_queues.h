// Every RPC of the service on gRPC's asynchronous completion-queue API.
//
// gRPC 1.51's callback API runs callbacks on two or more "nexting" threads, which take turns polling
// the connections and hand calls to each other: a one-core server spent its time switching between
// them (perf and /proc context-switch counts under bench/serve/run.py tiny, Identity model,
// 2026-12-07), and it does so as soon as any one method is a callback one. Here each of `threads`
// threads owns one completion queue and does everything for the calls it accepts: it polls the
// connection, reads and decodes the request, runs a small model inline (dynamic_batcher_inline.cc),
// encodes and writes the answer. A model run on a batcher worker answers from that worker; gRPC then
// sends the answer from the queue's thread.
#pragma once

#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

#include "grpc_predict_v2.grpc.pb.h"
#include "serve/cancellation.h"

namespace kiln::serve::grpc_frontend {

using AsyncService = inference::GRPCInferenceService::AsyncService;

class UnaryCallQueues;
struct CallKind;

// One completion queue, its thread, and the events still owed to it.
struct CallQueue {
  std::unique_ptr<grpc::ServerCompletionQueue> cq;
  // Calls asked for, and calls accepted and not yet deleted: each will still bring an event here.
  // Once the server stopped and it is 0, nothing more can arrive and the queue shuts down. Only the
  // queue's thread changes it after start().
  int64_t owed = 0;
  std::thread thread;
  grpc::Alarm wake;  // wakes the thread once the server stopped, to shut the queue down if nothing is owed
};

// What every call does with its events, on its queue's thread.
class QueuedCall {
 public:
  // kRead and kWritten come only to a streaming call (stream_infer_call.h), for its reads and writes.
  enum class Event { kAccepted, kFinished, kDone, kRead, kWritten };
  struct Tag {
    QueuedCall* call;  // null: the queue's wake-up
    Event event;
  };

  virtual ~QueuedCall() = default;
  void on_event(Event event, bool ok);

  // Set once the call is over on the client's side: cancelled, past its deadline, or disconnected.
  // The scheduler and the engine poll it; shared, as they may hold it past the call.
  const std::shared_ptr<Cancellation>& cancelled() const { return cancelled_; }
  const grpc::ServerContext& context() const { return context_; }

 protected:
  QueuedCall(UnaryCallQueues* owner, CallQueue* queue, CallKind* kind);
  virtual void run_handler() = 0;
  // A streaming call's read or write completed; a unary call gets none.
  virtual void on_stream_event(Event /*event*/, bool /*ok*/) {}

  UnaryCallQueues* const owner_;
  CallQueue* const queue_;
  CallKind* const kind_;
  grpc::ServerContext context_;
  std::shared_ptr<Cancellation> cancelled_ = std::make_shared<Cancellation>();
  Tag accepted_{this, Event::kAccepted};
  Tag finished_{this, Event::kFinished};
  Tag done_{this, Event::kDone};

 private:
  int tags_left_ = 2;  // of an accepted call: finished_ and done_, in either order
};

// An RPC method: how to ask gRPC for one more call of it.
struct CallKind {
  virtual ~CallKind() = default;
  virtual void ask(UnaryCallQueues* owner, CallQueue* queue) = 0;
  int ahead = 1;  // calls asked for ahead on each queue
};

// One accepted call of a unary RPC. Its handler answers it with finish(), exactly once, from any thread.
template <class Request, class Response>
class UnaryCall final : public QueuedCall {
 public:
  using Handler = std::function<void(UnaryCall*)>;
  using Requester = void (AsyncService::*)(grpc::ServerContext*, Request*, grpc::ServerAsyncResponseWriter<Response>*,
                                           grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*);
  struct Kind final : CallKind {
    AsyncService* service = nullptr;
    Requester requester = nullptr;
    Handler handler;
    void ask(UnaryCallQueues* owner, CallQueue* queue) override {
      auto* call = new UnaryCall(owner, queue, this);
      (service->*requester)(&call->context_, &call->request_, &call->writer_, queue->cq.get(), queue->cq.get(),
                            &call->accepted_);
    }
  };

  const Request& request() const { return request_; }
  Response* response() { return &response_; }

  // Sends `status`, and response() with it when OK. The call may be gone once this returns.
  void finish(const grpc::Status& status) {
    if (status.ok()) {
      writer_.Finish(response_, status, &finished_);
    } else {
      writer_.FinishWithError(status, &finished_);
    }
  }

 private:
  UnaryCall(UnaryCallQueues* owner, CallQueue* queue, Kind* kind) : QueuedCall(owner, queue, kind) {}
  void run_handler() override { static_cast<Kind*>(kind_)->handler(this); }

  Request request_;
  Response response_;
  grpc::ServerAsyncResponseWriter<Response> writer_{&context_};
};

class UnaryCallQueues {
 public:
  // Adds `threads` completion queues to `builder`; `service` must be registered with it and outlive this.
  UnaryCallQueues(AsyncService* service, grpc::ServerBuilder* builder, int threads);
  ~UnaryCallQueues();  // after join()

  // Before start(): serve the method that `requester` asks for (AsyncService::RequestModelInfer...) with
  // `handler`, which runs on a queue's thread for each accepted call and must see to it that the call
  // is finished, now or later. `ahead` calls are asked for ahead on each queue: one that arrives while
  // all are taken waits in gRPC's list of unmatched calls until the queue's thread asks for the next,
  // which it does as it accepts each.
  template <class Service, class Request, class Response>
  void add(void (Service::*requester)(grpc::ServerContext*, Request*, grpc::ServerAsyncResponseWriter<Response>*,
                                      grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*),
           std::type_identity_t<typename UnaryCall<Request, Response>::Handler> handler, int ahead = 1) {
    auto kind = std::make_unique<typename UnaryCall<Request, Response>::Kind>();
    kind->service = service_;
    kind->requester = requester;
    kind->handler = std::move(handler);
    kind->ahead = ahead;
    kinds_.push_back(std::move(kind));
  }
  // Before start(): serve a method whose calls `kind` asks for (a streaming one: stream_infer_call.h).
  void add(std::unique_ptr<CallKind> kind) { kinds_.push_back(std::move(kind)); }

  // After the server started: asks for calls and starts the threads.
  void start();
  // Around the server's Shutdown: stop() before it, so that no call is asked for once it began; join()
  // after it returned, to wait for the calls still owed an answer and stop the threads. (gRPC wants a
  // server's completion queues shut down after the server.)
  void stop();
  void join();

 private:
  friend class QueuedCall;
  // One more call of `kind` on `queue`, unless stopping.
  void ask(CallKind* kind, CallQueue* queue);
  void poll(CallQueue* queue);

  AsyncService* const service_;
  std::vector<std::unique_ptr<CallKind>> kinds_;
  std::vector<std::unique_ptr<CallQueue>> queues_;
  std::atomic<bool> stopping_{false};  // no more calls are asked for
  QueuedCall::Tag wake_tag_{nullptr, QueuedCall::Event::kDone};
};

}  // namespace kiln::serve::grpc_frontend
