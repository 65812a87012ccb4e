#include "serve/grpc/unary_call_queues.h"

#include <algorithm>
#include <chrono>

namespace kiln::serve::grpc_frontend {

QueuedCall::QueuedCall(UnaryCallQueues* owner, CallQueue* queue, CallKind* kind)
    : owner_(owner), queue_(queue), kind_(kind) {
  // gRPC returns done_ only for a call that started (grpcpp/server_context.h); tags_left_ counts it then.
  context_.AsyncNotifyWhenDone(&done_);
}

void QueuedCall::on_event(Event event, bool ok) {
  switch (event) {
    case Event::kAccepted:
      if (!ok) {  // the server shuts down; this call never started, so no other event comes for it
        --queue_->owed;
        delete this;
        return;
      }
      owner_->ask(kind_, queue_);  // the next one; this call stays owed until deleted
      run_handler();
      return;
    case Event::kDone:
      // A queued request is answered Cancelled from here (the batcher listens), which only queues
      // its finish; this call is deleted once both tags are back.
      if (context_.IsCancelled()) cancelled_->cancel();
      break;
    case Event::kFinished:  // not ok: the answer could not be sent, the client is gone
      break;
    case Event::kRead:
    case Event::kWritten:
      on_stream_event(event, ok);  // the call is not over until finished_ and done_ are back
      return;
  }
  if (--tags_left_ == 0) {
    --queue_->owed;
    delete this;
  }
}

UnaryCallQueues::UnaryCallQueues(AsyncService* service, grpc::ServerBuilder* builder, int threads) : service_(service) {
  for (int i = 0; i < std::max(threads, 1); ++i) {
    auto queue = std::make_unique<CallQueue>();
    queue->cq = builder->AddCompletionQueue();
    queues_.push_back(std::move(queue));
  }
}

UnaryCallQueues::~UnaryCallQueues() = default;

void UnaryCallQueues::ask(CallKind* kind, CallQueue* queue) {
  // Asking after the server's Shutdown began is harmless (the call fails at once, with the queue still
  // up as it is owed that event); asking once the queue is shut down would not be.
  if (stopping_.load(std::memory_order_acquire)) return;
  ++queue->owed;
  kind->ask(this, queue);
}

void UnaryCallQueues::poll(CallQueue* queue) {
  void* tag = nullptr;
  bool ok = false;
  bool server_stopped = false;  // the wake-up from join() came: the queue may shut down
  bool shut = false;
  while (queue->cq->Next(&tag, &ok)) {
    auto* t = static_cast<QueuedCall::Tag*>(tag);
    if (t->call != nullptr) {
      t->call->on_event(t->event, ok);
    } else {
      server_stopped = true;
    }
    if (server_stopped && !shut && queue->owed == 0) {
      queue->cq->Shutdown();  // Next returns false once the queue is empty
      shut = true;
    }
  }
}

void UnaryCallQueues::start() {
  for (auto& queue : queues_) {
    for (auto& kind : kinds_) {
      for (int i = 0; i < kind->ahead; ++i) ask(kind.get(), queue.get());
    }
    queue->thread = std::thread([this, q = queue.get()] { poll(q); });
  }
}

void UnaryCallQueues::stop() { stopping_.store(true, std::memory_order_release); }

void UnaryCallQueues::join() {
  // Only the wake-up lets a queue shut down, so the queue is still up when it is set here.
  for (auto& queue : queues_) {
    if (queue->thread.joinable()) queue->wake.Set(queue->cq.get(), std::chrono::system_clock::now(), &wake_tag_);
  }
  for (auto& queue : queues_) {
    if (queue->thread.joinable()) queue->thread.join();
  }
}

}  // namespace kiln::serve::grpc_frontend
