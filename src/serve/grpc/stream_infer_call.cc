#include "serve/grpc/stream_infer_call.h"

#include <utility>
#include <vector>

#include "serve/grpc/grpc_tensor.h"

namespace kiln::serve::grpc_frontend {

// Told on the queue's thread when the call's own Cancellation is raised (QueuedCall, on kDone). Only the
// call holds that Cancellation, so the call is alive whenever this is told.
class StreamInferCall::ClientGoneListener final : public Cancellation::Listener {
 public:
  explicit ClientGoneListener(StreamInferCall* call) : call_(call) {}
  void on_cancel() override { call_->cancel_pending(); }

 private:
  StreamInferCall* const call_;
};

void StreamInferCall::Kind::ask(UnaryCallQueues* owner, CallQueue* queue) {
  auto* call = new StreamInferCall(owner, queue, this);
  service->RequestModelStreamInfer(&call->context_, &call->stream_, queue->cq.get(), queue->cq.get(), &call->accepted_);
}

StreamInferCall::~StreamInferCall() {
  // The last answer may have finished the call from a worker that has not yet let go of mu_.
  std::lock_guard<std::mutex> lock(mu_);
}

void StreamInferCall::run_handler() {
  cancelled_->listen(std::make_shared<ClientGoneListener>(this));
  stream_.Read(&incoming_, &read_);
}

void StreamInferCall::on_stream_event(Event event, bool ok) {
  if (event == Event::kWritten) return on_written(ok);
  if (ok) return on_read();
  // Half-close, cancel or shutdown: no more requests; the call finishes once the pending are written.
  std::lock_guard<std::mutex> lock(mu_);
  reading_ended_ = true;
  write_or_finish_locked();
}

void StreamInferCall::on_read() {
  uint64_t number = 0;
  std::shared_ptr<Cancellation> cancelled;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (client_gone_) {  // read before the client left; no one waits for its answer
      reading_ended_ = true;
      write_or_finish_locked();
      return;
    }
    number = first_number_ + pending_.size();
    pending_.emplace_back();
    cancelled = pending_.back().cancelled;
  }
  // tritonclient's enable_empty_final_response: the client waits for an answer flagged final. A model
  // here is never decoupled, so its one answer is the final one, flagged as Triton flags it.
  const auto wants_final = incoming_.parameters().find("triton_enable_empty_final_response");
  const bool flag_final = wants_final != incoming_.parameters().end() && wants_final->second.bool_param();
  // Triton answers a failed request with its id alone, so that the client knows which one failed.
  auto done = [this, number, flag_final, id = incoming_.id()](Expected<InferenceResponse> result,
                                                              const SharedMemoryOutputs& shm_outputs) {
    inference::ModelStreamInferResponse response;
    inference::ModelInferResponse* out = response.mutable_infer_response();
    const Status st = result.ok() ? encode_model_infer(*result, shm_outputs, out) : result.status();
    if (!st.ok()) {
      response.clear_infer_response();
      out = response.mutable_infer_response();
      response.set_error_message(st.message());
      out->set_id(id);
    }
    if (flag_final) (*out->mutable_parameters())["triton_final_response"].set_bool_param(true);
    answer(number, std::move(response));
  };
  // submit copies what it needs out of incoming_ before it returns, so the next Read may refill it.
  static_cast<Kind*>(kind_)->submit(incoming_, context_, std::move(cancelled), std::move(done));
  read_next();
}

void StreamInferCall::read_next() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    reading_paused_ = pending_.size() >= kMaxPending;
    if (reading_paused_) return;
  }
  stream_.Read(&incoming_, &read_);
}

void StreamInferCall::on_written(bool ok) {
  bool left_now = false;
  bool resume_reading = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    pending_.pop_front();
    ++first_number_;
    left_now = !ok && !client_gone_;
    resume_reading = ok && reading_paused_ && !client_gone_;
    write_or_finish_locked();
  }
  // A failed write: the client is gone, and nothing more can reach it.
  if (left_now) cancel_pending();
  if (resume_reading) read_next();
}

void StreamInferCall::answer(uint64_t number, inference::ModelStreamInferResponse response) {
  std::lock_guard<std::mutex> lock(mu_);
  Pending& p = pending_[number - first_number_];
  p.response = std::move(response);
  p.answered = true;
  write_or_finish_locked();
}

void StreamInferCall::write_or_finish_locked() {
  if (writing_ || finishing_) return;
  while (!pending_.empty() && pending_.front().answered) {
    if (!client_gone_) {
      writing_ = true;
      stream_.Write(pending_.front().response, &written_);  // popped once written
      return;
    }
    pending_.pop_front();
    ++first_number_;
  }
  if (pending_.empty() && reading_ended_) {
    finishing_ = true;
    stream_.Finish(client_gone_ ? grpc::Status::CANCELLED : grpc::Status::OK, &finished_);
  }
}

void StreamInferCall::cancel_pending() {
  std::vector<std::shared_ptr<Cancellation>> unanswered;
  {
    std::lock_guard<std::mutex> lock(mu_);
    client_gone_ = true;
    if (reading_paused_) reading_ended_ = true;  // no Read is outstanding to tell
    for (const Pending& p : pending_) {
      if (!p.answered) unanswered.push_back(p.cancelled);
    }
    write_or_finish_locked();  // drops the answers not yet written
  }
  // Without mu_: the batcher answers a queued request Cancelled from cancel() (answer() takes mu_).
  for (const auto& c : unanswered) c->cancel();
}

}  // namespace kiln::serve::grpc_frontend
