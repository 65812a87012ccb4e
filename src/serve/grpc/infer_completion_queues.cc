#include "serve/grpc/infer_completion_queues.h"

#include <algorithm>

namespace kiln::serve::grpc_frontend {

namespace {

// Calls asked for ahead on each queue. One that arrives while all are taken waits in gRPC's list of
// unmatched calls until the queue's thread asks for the next, which it does as it accepts each; a few
// spare ones take a burst of new calls without that wait.
constexpr int kCallsAskedAhead = 16;

}  // namespace

struct InferQueue {
  std::unique_ptr<grpc::ServerCompletionQueue> cq;
  // Calls asked for, and calls accepted and not yet deleted: each will still bring an event to this
  // queue. Once the server stopped and it is 0, nothing more can arrive and the queue shuts down. Only
  // the queue's thread changes it after start().
  int64_t owed = 0;
  std::thread thread;
  // Wakes the thread once the server stopped, to shut the queue down if nothing is owed by then.
  grpc::Alarm wake;
  InferCall::Tag wake_tag{nullptr, InferCall::Event::kDone};
};

InferCall::InferCall(InferCompletionQueues* owner, InferQueue* queue) : owner_(owner), queue_(queue) {
  // gRPC returns done_ only for a call that started (grpcpp/server_context.h); tags_left_ counts it then.
  context_.AsyncNotifyWhenDone(&done_);
}

void InferCall::finish(const grpc::Status& status) {
  if (status.ok()) {
    writer_.Finish(response_, status, &finished_);
  } else {
    writer_.FinishWithError(status, &finished_);
  }
}

void InferCall::on_event(Event event, bool ok) {
  switch (event) {
    case Event::kAccepted:
      if (!ok) {  // the server shuts down; this call never started, so no other event comes for it
        --queue_->owed;
        delete this;
        return;
      }
      owner_->request_call(queue_);  // the next one; this call stays owed until deleted
      owner_->handler_(this);
      return;
    case Event::kDone:
      cancelled_->store(context_.IsCancelled());
      break;
    case Event::kFinished:  // not ok: the answer could not be sent, the client is gone
      break;
  }
  if (--tags_left_ == 0) {
    --queue_->owed;
    delete this;
  }
}

InferCompletionQueues::InferCompletionQueues(InferService* service, grpc::ServerBuilder* builder, int threads,
                                             Handler handler)
    : service_(service), handler_(std::move(handler)) {
  for (int i = 0; i < std::max(threads, 1); ++i) {
    auto queue = std::make_unique<InferQueue>();
    queue->cq = builder->AddCompletionQueue();
    queues_.push_back(std::move(queue));
  }
}

InferCompletionQueues::~InferCompletionQueues() = default;

void InferCompletionQueues::request_call(InferQueue* queue) {
  // Asking after the server's Shutdown began is harmless (the call fails at once, with the queue still
  // up as it is owed that event); asking once the queue is shut down would not be.
  if (stopping_.load(std::memory_order_acquire)) return;
  auto* call = new InferCall(this, queue);
  ++queue->owed;
  service_->RequestModelInfer(&call->context_, &call->request_, &call->writer_, queue->cq.get(), queue->cq.get(),
                              &call->accepted_);
}

void InferCompletionQueues::poll(InferQueue* queue) {
  void* tag = nullptr;
  bool ok = false;
  bool shut = false;
  while (queue->cq->Next(&tag, &ok)) {
    auto* t = static_cast<InferCall::Tag*>(tag);
    if (t->call != nullptr) t->call->on_event(t->event, ok);  // else the wake-up from join()
    if (!shut && queue->owed == 0 && server_stopped_.load(std::memory_order_acquire)) {
      queue->cq->Shutdown();  // Next returns false once the queue is empty
      shut = true;
    }
  }
}

void InferCompletionQueues::start() {
  for (auto& queue : queues_) {
    for (int i = 0; i < kCallsAskedAhead; ++i) request_call(queue.get());
    queue->thread = std::thread([this, q = queue.get()] { poll(q); });
  }
}

void InferCompletionQueues::stop() { stopping_.store(true, std::memory_order_release); }

void InferCompletionQueues::join() {
  server_stopped_.store(true, std::memory_order_release);
  for (auto& queue : queues_) {
    if (queue->thread.joinable()) queue->wake.Set(queue->cq.get(), std::chrono::system_clock::now(), &queue->wake_tag);
  }
  for (auto& queue : queues_) {
    if (queue->thread.joinable()) queue->thread.join();
  }
}

}  // namespace kiln::serve::grpc_frontend
