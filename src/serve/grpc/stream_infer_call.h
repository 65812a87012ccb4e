// ModelStreamInfer: a bidirectional stream of ModelInferRequest in, ModelStreamInferResponse out, as
// tritonclient.grpc's start_stream()/async_stream_infer() and perf_analyzer --streaming speak it.
//
// Each request is answered by one response carrying its id, in the order the requests came (as Triton
// answers a model that is not decoupled). Requests are read ahead while earlier ones run, so several of
// one stream can be batched together; answers are written one at a time (gRPC allows one outstanding
// Write per stream). A request that fails is answered with error_message set and only its id in
// infer_response, and the stream goes on. A request with Triton's triton_enable_empty_final_response
// parameter gets its answer flagged triton_final_response (models here are never decoupled: the one
// answer is the last). The client's half-close ends the call with OK once every
// answer is written; its cancel (or disconnect) cancels the requests still pending. Reading pauses while
// kMaxPending requests wait to be answered or written, so a client that sends without reading holds
// bounded memory (its further requests wait in gRPC's flow control).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

#include "serve/grpc/unary_call_queues.h"
#include "serve/inference_request.h"
#include "serve/shared_memory/shared_memory_tensors.h"

namespace kiln::serve::grpc_frontend {

// A stream request's answer: the response or the error, and its outputs that go to shared memory.
using StreamInferDone = std::function<void(Expected<InferenceResponse>, const SharedMemoryOutputs&)>;

// Decodes `request` and hands it to the model, as ModelInfer does; `done` is called exactly once, from
// any thread and maybe before this returns, with the response or the error. `cancelled` is the
// request's own, raised when its stream's client goes away. `context` is the stream's (its deadline).
using StreamInferSubmit =
    std::function<void(const inference::ModelInferRequest& request, const grpc::ServerContext& context,
                       std::shared_ptr<Cancellation> cancelled, StreamInferDone done)>;

// One accepted ModelStreamInfer call. Its events come on its queue's thread; answers from any thread.
class StreamInferCall final : public QueuedCall {
 public:
  struct Kind final : CallKind {
    AsyncService* service = nullptr;
    StreamInferSubmit submit;
    void ask(UnaryCallQueues* owner, CallQueue* queue) override;
  };

  ~StreamInferCall() override;

  static constexpr size_t kMaxPending = 1024;

 private:
  // A request read and not yet written back: its answer, once it came, and its cancellation.
  struct Pending {
    std::shared_ptr<Cancellation> cancelled = std::make_shared<Cancellation>();
    bool answered = false;
    inference::ModelStreamInferResponse response;
  };

  class ClientGoneListener;

  StreamInferCall(UnaryCallQueues* owner, CallQueue* queue, Kind* kind) : QueuedCall(owner, queue, kind) {}
  void run_handler() override;
  void on_stream_event(Event event, bool ok) override;

  void on_read();
  void on_written(bool ok);
  // The answer to the request numbered `number`; any thread.
  void answer(uint64_t number, inference::ModelStreamInferResponse response);
  // Writes the oldest answer if it came and no write is outstanding, or finishes the call once reading
  // ended and everything is written. Needs mu_.
  void write_or_finish_locked();
  // Reads the next request unless kMaxPending are pending (then the next write resumes). Queue's thread.
  void read_next();
  // The client is gone: cancels every pending request.
  void cancel_pending();

  grpc::ServerAsyncReaderWriter<inference::ModelStreamInferResponse, inference::ModelInferRequest> stream_{&context_};
  inference::ModelInferRequest incoming_;  // what the outstanding Read fills; only the queue's thread
  Tag read_{this, Event::kRead};
  Tag written_{this, Event::kWritten};

  std::mutex mu_;
  std::deque<Pending> pending_;  // guarded by mu_; in request order
  uint64_t first_number_ = 0;    // guarded by mu_; the number of pending_.front()
  bool reading_ended_ = false;   // guarded by mu_; a Read failed: half-close, cancel, or shutdown
  bool reading_paused_ = false;  // guarded by mu_; kMaxPending are pending, no Read is outstanding
  bool writing_ = false;         // guarded by mu_; a Write is outstanding (it writes pending_.front())
  bool client_gone_ = false;     // guarded by mu_; cancelled, or a write failed: answers are dropped
  bool finishing_ = false;       // guarded by mu_; Finish was called
};

}  // namespace kiln::serve::grpc_frontend
