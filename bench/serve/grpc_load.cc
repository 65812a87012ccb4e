// kiln_grpc_load: a closed-loop load generator for the KServe v2 gRPC ModelInfer RPC, or for
// ModelStreamInfer with --streaming 1 (as perf_analyzer --streaming).
//
//   kiln_grpc_load --target 127.0.0.1:8001 --model identity --input input --shape 1,4
//                  [--datatype FP32] [--concurrency 8] [--duration 10] [--warmup 2] [--channels 1]
//                  [--streaming 0|1]
//
// `concurrency` calls are kept in flight: each answer starts the next call at once, as wrk does for
// HTTP. With --streaming 1 they are requests on one ModelStreamInfer call per channel instead, spread
// evenly, each answer sending the next request on its stream. All calls run on one thread over one
// completion queue, so the generator takes one core at most and leaves the rest of a small machine to
// the server it measures (a Python client would measure Python instead). The input is `shape`
// elements of `datatype`, filled with a fixed pattern, sent as raw_input_contents.
//
// When the duration is over no new call starts, and the calls in flight are waited for (each has a
// 60 s deadline), so every call sent is counted as answered or failed. Prints one JSON line:
//   {"requests": N, "errors": E, "duration_s": S, "rps": R, "p50_ms": ..., "p90_ms": ..., "p99_ms": ...,
//    "max_ms": ..., "concurrency": C, "warmup_requests": W, "first_error": "..."}
// where requests counts every call answered in the timed phase (errors included) and the latency
// percentiles are over the successful ones; warmup_requests counts the untimed calls before them.
// Exits 1 on bad options or when nothing succeeded.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "grpc_predict_v2.grpc.pb.h"
#include "serve/grpc/abseil_deadlock_detection.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string target = "127.0.0.1:8001";
  std::string model;
  std::string input = "input";
  std::string datatype = "FP32";
  std::vector<int64_t> shape;
  int concurrency = 1;
  double duration_s = 10;
  double warmup_s = 1;
  int channels = 1;
  bool streaming = false;
};

int element_bytes(const std::string& datatype) {
  if (datatype == "FP32" || datatype == "INT32" || datatype == "UINT32") return 4;
  if (datatype == "FP64" || datatype == "INT64" || datatype == "UINT64") return 8;
  if (datatype == "FP16" || datatype == "BF16" || datatype == "INT16" || datatype == "UINT16") return 2;
  if (datatype == "INT8" || datatype == "UINT8" || datatype == "BOOL") return 1;
  return 0;
}

bool parse_shape(const std::string& text, std::vector<int64_t>* shape) {
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    try {
      size_t used = 0;
      const long long d = std::stoll(part, &used);
      if (used != part.size() || d < 0) return false;
      shape->push_back(d);
    } catch (const std::exception&) {
      return false;
    }
  }
  return !shape->empty();
}

// Returns an empty string on success, else the reason.
std::string parse_options(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return "option " + flag + " needs a value";
    const std::string value = argv[++i];
    try {
      if (flag == "--target") {
        o->target = value;
      } else if (flag == "--model") {
        o->model = value;
      } else if (flag == "--input") {
        o->input = value;
      } else if (flag == "--datatype") {
        o->datatype = value;
      } else if (flag == "--shape") {
        if (!parse_shape(value, &o->shape))
          return "--shape: expected non-negative integers like 1,4, got '" + value + "'";
      } else if (flag == "--concurrency") {
        o->concurrency = std::stoi(value);
      } else if (flag == "--duration") {
        o->duration_s = std::stod(value);
      } else if (flag == "--warmup") {
        o->warmup_s = std::stod(value);
      } else if (flag == "--channels") {
        o->channels = std::stoi(value);
      } else if (flag == "--streaming") {
        if (value != "0" && value != "1") return "--streaming: expected 0 or 1, got '" + value + "'";
        o->streaming = value == "1";
      } else {
        return "unknown option " + flag;
      }
    } catch (const std::exception&) {
      return "option " + flag + ": not a number: '" + value + "'";
    }
  }
  if (o->model.empty()) return "--model is required";
  if (o->shape.empty()) return "--shape is required";
  if (element_bytes(o->datatype) == 0) return "--datatype: unsupported datatype '" + o->datatype + "'";
  if (o->concurrency < 1) return "--concurrency must be at least 1";
  if (o->channels < 1) return "--channels must be at least 1";
  if (o->streaming && o->channels > o->concurrency) return "--streaming: --channels must not exceed --concurrency";
  if (o->duration_s <= 0 || o->warmup_s < 0) return "--duration must be positive and --warmup not negative";
  return "";
}

inference::ModelInferRequest make_request(const Options& o) {
  inference::ModelInferRequest request;
  request.set_model_name(o.model);
  auto* input = request.add_inputs();
  input->set_name(o.input);
  input->set_datatype(o.datatype);
  int64_t elements = 1;
  for (int64_t d : o.shape) {
    input->add_shape(d);
    elements *= d;
  }
  std::string raw(static_cast<size_t>(elements * element_bytes(o.datatype)), '\0');
  // Small non-zero bytes: finite, normal values for every float type, so no denormal slow path.
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(0x3c + i % 3);
  request.add_raw_input_contents(std::move(raw));
  return request;
}

// One call in flight; reused for the next call once answered.
struct Call {
  std::unique_ptr<grpc::ClientContext> context;
  inference::ModelInferResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<inference::ModelInferResponse>> reader;
  Clock::time_point started;
  inference::GRPCInferenceService::Stub* stub = nullptr;
};

struct PhaseResult {
  int64_t requests = 0;
  int64_t errors = 0;
  double seconds = 0;
  std::vector<double> latencies_ms;  // successful calls only
  std::string first_error;
};

void start_call(Call* call, const inference::ModelInferRequest& request, grpc::CompletionQueue* cq) {
  call->context = std::make_unique<grpc::ClientContext>();
  call->context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  call->response.Clear();
  call->started = Clock::now();
  call->reader = call->stub->AsyncModelInfer(call->context.get(), request, cq);
  call->reader->Finish(&call->response, &call->status, call);
}

// Keeps `calls` busy for `seconds`, then waits for those still in flight.
PhaseResult run_phase(std::vector<Call>& calls, const inference::ModelInferRequest& request, grpc::CompletionQueue* cq,
                      double seconds) {
  PhaseResult result;
  const Clock::time_point begin = Clock::now();
  const Clock::time_point end =
      begin + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (Call& call : calls) start_call(&call, request, cq);
  size_t in_flight = calls.size();
  void* tag = nullptr;
  bool ok = false;
  while (in_flight > 0 && cq->Next(&tag, &ok)) {
    Call* call = static_cast<Call*>(tag);
    const Clock::time_point now = Clock::now();
    ++result.requests;
    if (ok && call->status.ok()) {
      result.latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - call->started).count());
    } else {
      ++result.errors;
      if (result.first_error.empty()) {
        result.first_error = call->status.ok() ? "completion queue reported failure"
                                               : call->status.error_message() + " (gRPC code " +
                                                     std::to_string(static_cast<int>(call->status.error_code())) + ")";
      }
    }
    if (now < end) {
      start_call(call, request, cq);
    } else {
      --in_flight;
    }
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  return result;
}

// One ModelStreamInfer call of --streaming, carrying its share of the requests in flight. Answers come
// in request order (kiln's and Triton's, for a model that is not decoupled), so the send times queue.
struct Stream {
  enum class Event { kStarted, kRead, kWritten, kWritesDone, kFinished };
  struct Tag {
    Stream* stream;
    Event event;
  };
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientAsyncReaderWriter<inference::ModelInferRequest, inference::ModelStreamInferResponse>> rw;
  inference::ModelStreamInferResponse response;
  grpc::Status status;
  std::deque<Clock::time_point> sent;  // requests written and not yet answered, oldest first
  int to_send = 0;                     // requests waiting for the stream's one outstanding Write
  bool writing = false;
  bool closing = false;     // WritesDone sent: the server finishes the call, and the last Read fails
  bool read_ended = false;  // a Read failed; Finish once no Write is outstanding
  Tag started{this, Event::kStarted}, read{this, Event::kRead}, written{this, Event::kWritten},
      writes_done{this, Event::kWritesDone}, finished{this, Event::kFinished};
};

// Starts the next Write of `s` if one waits and none is outstanding; half-closes the stream once the
// phase is over and nothing is left to send or answer.
void write_next(Stream* s, const inference::ModelInferRequest& request, bool over) {
  if (s->writing || s->closing) return;
  if (s->to_send > 0) {
    --s->to_send;
    s->writing = true;
    s->sent.push_back(Clock::now());
    s->rw->Write(request, &s->written);
  } else if (over && s->sent.empty()) {
    s->closing = true;
    s->rw->WritesDone(&s->writes_done);
  }
}

// run_phase for --streaming: `concurrency` requests kept in flight over one stream per stub.
PhaseResult run_stream_phase(const std::vector<inference::GRPCInferenceService::Stub*>& stubs, int concurrency,
                             const inference::ModelInferRequest& request, grpc::CompletionQueue* cq, double seconds) {
  PhaseResult result;
  const Clock::time_point begin = Clock::now();
  const Clock::time_point end =
      begin + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  auto fail = [&result](const std::string& why) {
    ++result.errors;
    if (result.first_error.empty()) result.first_error = why;
  };
  std::vector<std::unique_ptr<Stream>> streams;
  for (size_t i = 0; i < stubs.size(); ++i) {
    auto s = std::make_unique<Stream>();
    s->to_send = concurrency / static_cast<int>(stubs.size()) +
                 (static_cast<int>(i) < concurrency % static_cast<int>(stubs.size()) ? 1 : 0);
    s->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60) +
                            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::duration<double>(seconds)));
    s->rw = stubs[i]->AsyncModelStreamInfer(&s->context, cq, &s->started);
    streams.push_back(std::move(s));
  }
  size_t live = streams.size();
  void* tag = nullptr;
  bool ok = false;
  while (live > 0 && cq->Next(&tag, &ok)) {
    auto* t = static_cast<Stream::Tag*>(tag);
    Stream* s = t->stream;
    const Clock::time_point now = Clock::now();
    switch (t->event) {
      case Stream::Event::kStarted:
        if (!ok) {
          s->rw->Finish(&s->status, &s->finished);
          break;
        }
        s->rw->Read(&s->response, &s->read);
        write_next(s, request, now >= end);
        break;
      case Stream::Event::kWritten:
        s->writing = false;
        if (s->read_ended) {
          s->rw->Finish(&s->status, &s->finished);
        } else if (ok) {  // a failed Write: the stream ends, and so will its Read
          write_next(s, request, now >= end);
        }
        break;
      case Stream::Event::kRead:
        if (!ok) {  // the server finished the call (or it broke): what it did not answer is lost
          for (size_t i = 0; i < s->sent.size(); ++i) fail("stream ended with requests unanswered");
          result.requests += static_cast<int64_t>(s->sent.size());
          s->sent.clear();
          s->read_ended = true;
          if (!s->writing) s->rw->Finish(&s->status, &s->finished);
          break;
        }
        ++result.requests;
        if (s->sent.empty()) {
          fail("an answer to no request");
        } else if (!s->response.error_message().empty()) {
          fail(s->response.error_message());
        } else {
          result.latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - s->sent.front()).count());
        }
        if (!s->sent.empty()) s->sent.pop_front();
        if (now < end) ++s->to_send;
        write_next(s, request, now >= end);
        s->rw->Read(&s->response, &s->read);
        break;
      case Stream::Event::kWritesDone:
        break;
      case Stream::Event::kFinished:
        if (!s->status.ok()) {
          fail(s->status.error_message() + " (gRPC code " + std::to_string(static_cast<int>(s->status.error_code())) +
               ")");
        }
        --live;
        break;
    }
  }
  result.seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  return result;
}

double percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[i];
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (std::string err = parse_options(argc, argv, &o); !err.empty()) {
    std::cerr << "error: " << err << "\n"
              << "usage: kiln_grpc_load --model NAME --shape D0,D1,... [--target HOST:PORT] [--input NAME]\n"
              << "       [--datatype FP32] [--concurrency C] [--duration S] [--warmup S] [--channels K]\n"
              << "       [--streaming 0|1]\n";
    return 1;
  }
  // The client's gRPC locks as many abseil Mutexes per call as the server's.
  kiln::serve::grpc_frontend::skip_abseil_deadlock_detection();
  const inference::ModelInferRequest request = make_request(o);
  std::vector<std::unique_ptr<inference::GRPCInferenceService::Stub>> stubs;
  for (int i = 0; i < o.channels; ++i) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one TCP connection per channel, not a shared one
    stubs.push_back(inference::GRPCInferenceService::NewStub(
        grpc::CreateCustomChannel(o.target, grpc::InsecureChannelCredentials(), args)));
  }
  std::vector<Call> calls(static_cast<size_t>(o.concurrency));
  for (size_t i = 0; i < calls.size(); ++i) calls[i].stub = stubs[i % stubs.size()].get();
  std::vector<inference::GRPCInferenceService::Stub*> stream_stubs;
  for (const auto& stub : stubs) stream_stubs.push_back(stub.get());
  grpc::CompletionQueue cq;
  auto phase = [&](double seconds) {
    return o.streaming ? run_stream_phase(stream_stubs, o.concurrency, request, &cq, seconds)
                       : run_phase(calls, request, &cq, seconds);
  };

  PhaseResult warm;
  if (o.warmup_s > 0) {
    warm = phase(o.warmup_s);
    if (warm.errors == warm.requests) {
      std::cerr << "error: every warm-up call to " << o.target << " failed: " << warm.first_error << "\n";
      return 1;
    }
  }
  PhaseResult r = phase(o.duration_s);
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }  // a completion queue must be drained after Shutdown, before it is destroyed
  std::vector<double>& lat = r.latencies_ms;
  std::sort(lat.begin(), lat.end());
  const int64_t ok_calls = r.requests - r.errors;
  std::printf(
      "{\"requests\": %lld, \"errors\": %lld, \"duration_s\": %.3f, \"rps\": %.1f, \"p50_ms\": %.3f, "
      "\"p90_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, \"concurrency\": %d, \"warmup_requests\": %lld, "
      "\"first_error\": %s}\n",
      static_cast<long long>(r.requests), static_cast<long long>(r.errors), r.seconds,
      static_cast<double>(ok_calls) / r.seconds, percentile(lat, 50), percentile(lat, 90), percentile(lat, 99),
      lat.empty() ? 0.0 : lat.back(), o.concurrency, static_cast<long long>(warm.requests),
      json_string(r.first_error).c_str());
  return ok_calls > 0 ? 0 : 1;
}
