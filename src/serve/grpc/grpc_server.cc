#include "serve/grpc/grpc_server.h"

#include <grpcpp/grpcpp.h>

#include "grpc_predict_v2.grpc.pb.h"
#include "serve/datatype_names.h"
#include "serve/grpc/abseil_deadlock_detection.h"
#include "serve/grpc/grpc_status.h"
#include "serve/grpc/grpc_tensor.h"
#include "serve/grpc/shared_memory_rpcs.h"
#include "serve/grpc/stream_infer_call.h"
#include "serve/grpc/unary_call_queues.h"
#include "serve/request_buffers.h"

namespace kiln::serve::grpc_frontend {

namespace {

void add_tensors(const std::vector<TensorConfig>& list,
                 google::protobuf::RepeatedPtrField<inference::ModelMetadataResponse::TensorMetadata>* out) {
  for (const TensorConfig& t : list) {
    auto* m = out->Add();
    m->set_name(t.name);
    m->set_datatype(std::string(kserve_datatype_name(t.dtype)));
    for (int64_t d : t.dims) m->add_shape(d);
  }
}

void fill_duration(const DurationStatistic& d, inference::StatisticDuration* out) {
  out->set_count(d.count);
  out->set_ns(d.ns);
}

void fill_statistics(const ModelVersion& mv, inference::ModelStatistics* out) {
  const ModelStatisticsSnapshot s = mv.statistics();
  out->set_name(mv.name());
  out->set_version(std::to_string(mv.version()));
  out->set_last_inference(s.last_inference_ms);
  out->set_inference_count(s.inference_count);
  out->set_execution_count(s.execution_count);
  inference::InferStatistics* inf = out->mutable_inference_stats();
  fill_duration(s.success, inf->mutable_success());
  fill_duration(s.fail, inf->mutable_fail());
  fill_duration(s.queue, inf->mutable_queue());
  fill_duration(s.compute_input, inf->mutable_compute_input());
  fill_duration(s.compute_infer, inf->mutable_compute_infer());
  fill_duration(s.compute_output, inf->mutable_compute_output());
  inf->mutable_cache_hit();  // present and zero, as Triton sends them without a cache
  inf->mutable_cache_miss();
  for (const BatchStatistics& b : s.batch_stats) {
    inference::InferBatchStatistics* bo = out->add_batch_stats();
    bo->set_batch_size(b.batch_size);
    fill_duration(b.compute_input, bo->mutable_compute_input());
    fill_duration(b.compute_infer, bo->mutable_compute_infer());
    fill_duration(b.compute_output, bo->mutable_compute_output());
  }
}

// Triton's TYPE_* enum for a tensor's data type (BYTES is TYPE_STRING there).
inference::DataType config_data_type(DataType dtype) {
  const std::string_view kserve = kserve_datatype_name(dtype);
  inference::DataType out = inference::TYPE_INVALID;
  inference::DataType_Parse("TYPE_" + std::string(kserve == "BYTES" ? "STRING" : kserve), &out);
  return out;
}

// The effective config (config.pbtxt completed from the model), as the HTTP frontend's /config.
void fill_config(const ModelVersion& mv, inference::ModelConfig* out) {
  const ModelConfig& c = mv.config();
  out->set_name(c.name);
  out->set_platform(c.platform);
  switch (c.version_policy.kind) {
    case VersionPolicy::Kind::kLatest:
      out->mutable_version_policy()->mutable_latest()->set_num_versions(
          static_cast<uint32_t>(c.version_policy.num_versions));
      break;
    case VersionPolicy::Kind::kAll:
      out->mutable_version_policy()->mutable_all();
      break;
    case VersionPolicy::Kind::kSpecific:
      for (int64_t v : c.version_policy.versions) out->mutable_version_policy()->mutable_specific()->add_versions(v);
      break;
  }
  out->set_max_batch_size(static_cast<int32_t>(c.max_batch_size));
  // Config dims exclude the batch dimension when the model batches.
  const size_t first_dim = c.max_batch_size > 0 ? 1 : 0;
  for (const TensorConfig& t : c.inputs) {
    inference::ModelInput* in = out->add_input();
    in->set_name(t.name);
    in->set_data_type(config_data_type(t.dtype));
    for (size_t i = first_dim; i < t.dims.size(); ++i) in->add_dims(t.dims[i]);
    in->set_optional(t.optional);
  }
  for (const TensorConfig& t : c.outputs) {
    inference::ModelOutput* o = out->add_output();
    o->set_name(t.name);
    o->set_data_type(config_data_type(t.dtype));
    for (size_t i = first_dim; i < t.dims.size(); ++i) o->add_dims(t.dims[i]);
    o->set_label_filename(t.label_filename);
  }
  if (c.dynamic_batching) {
    inference::ModelDynamicBatching* db = out->mutable_dynamic_batching();
    for (int64_t p : c.preferred_batch_sizes) db->add_preferred_batch_size(static_cast<int32_t>(p));
    db->set_max_queue_delay_microseconds(static_cast<uint64_t>(c.max_queue_delay_us));
  }
  inference::ModelInstanceGroup* group = out->add_instance_group();
  group->set_count(mv.instance_count());
  group->set_kind(inference::ModelInstanceGroup::KIND_CPU);
  out->set_default_model_filename(c.default_model_filename);
  (*out->mutable_parameters())["intra_op_threads"].set_string_value(std::to_string(mv.intra_op_threads()));
}

// The earlier of the request's deadline and the call's own (a client's gRPC timeout), on the steady
// clock the scheduler uses.
Clock::time_point earliest_deadline(Clock::time_point request_deadline, std::chrono::system_clock::time_point call) {
  if (call == std::chrono::system_clock::time_point::max()) return request_deadline;
  const auto left = call - std::chrono::system_clock::now();
  if (left > std::chrono::hours(24)) return request_deadline;  // as good as none; avoids overflow
  return std::min(request_deadline, Clock::now() + std::chrono::duration_cast<Clock::duration>(left));
}

}  // namespace

class GrpcServer::Service final : public AsyncService {
 public:
  Service(ModelRepository* repository, ServeMetrics* metrics, GrpcOptions options)
      : repository_(repository), metrics_(metrics), options_(std::move(options)) {}

  Status server_live(const inference::ServerLiveRequest&, inference::ServerLiveResponse* res) {
    res->set_live(true);
    return Status::OK();
  }

  Status server_ready(const inference::ServerReadyRequest&, inference::ServerReadyResponse* res) {
    res->set_ready(repository_->ready());
    return Status::OK();
  }

  Status model_ready(const inference::ModelReadyRequest& req, inference::ModelReadyResponse* res) {
    auto version = parse_model_version(req.version());
    if (!version.ok()) return version.status();
    auto mv = repository_->find(req.name(), *version);
    // Triton answers ready=false (not an error) for a model that is known but not ready.
    if (!mv.ok() && mv.status().code() != StatusCode::kUnavailable) return mv.status();
    res->set_ready(mv.ok());
    return Status::OK();
  }

  Status server_metadata(const inference::ServerMetadataRequest&, inference::ServerMetadataResponse* res) {
    res->set_name("kiln");
    res->set_version(options_.server_version);
    res->add_extensions("model_repository");
    res->add_extensions("statistics");
    res->add_extensions("model_configuration");
    res->add_extensions("classification");
    res->add_extensions("system_shared_memory");
    return Status::OK();
  }

  Status model_metadata(const inference::ModelMetadataRequest& req, inference::ModelMetadataResponse* res) {
    auto version = parse_model_version(req.version());
    if (!version.ok()) return version.status();
    auto mv = repository_->find(req.name(), *version);
    if (!mv.ok()) return mv.status();
    auto all = repository_->versions(req.name());
    if (!all.ok()) return all.status();
    res->set_name((*mv)->name());
    for (const auto& v : *all) res->add_versions(std::to_string(v->version()));
    res->set_platform((*mv)->config().platform);
    add_tensors((*mv)->config().inputs, res->mutable_inputs());
    add_tensors((*mv)->config().outputs, res->mutable_outputs());
    return Status::OK();
  }

  // On a completion queue's thread (unary_call_queues.h); the call is finished now or by the batcher.
  void model_infer(UnaryCall<inference::ModelInferRequest, inference::ModelInferResponse>* call) {
    infer(call->request(), call->context(), call->cancelled(),
          [call](Expected<InferenceResponse> result, const SharedMemoryOutputs& shm_outputs) {
            if (!result.ok()) return call->finish(to_grpc(result.status()));
            call->finish(to_grpc(encode_model_infer(*result, shm_outputs, call->response())));  // a copy per output
          });
  }

  // One request of ModelInfer or ModelStreamInfer, on a completion queue's thread: `done` gets the
  // result and the outputs to write into shared memory exactly once, on a worker, or here before infer
  // returns (a small model's inline run, or a request that does not decode). Nothing of `req` is kept.
  template <class Done>
  void infer(const inference::ModelInferRequest& req, const grpc::ServerContext& context,
             std::shared_ptr<Cancellation> cancelled, Done done) {
    SharedMemoryOutputs shm_outputs;
    auto request = [&] {
      const ScopedRequestBuffers buffers;
      return decode_model_infer(req, *options_.shared_memory, &shm_outputs);
    }();
    if (!request.ok()) return done(request.status().with_context("model '" + req.model_name() + "'"), shm_outputs);
    if (request->deadline == Clock::time_point::max() && options_.default_timeout.count() > 0) {
      request->deadline = Clock::now() + options_.default_timeout;
    }
    request->deadline = earliest_deadline(request->deadline, context.deadline());
    request->cancelled = std::move(cancelled);
    metrics_->inflight_requests().Increment();
    ServeMetrics* metrics = metrics_;
    // On OK the scheduler calls its copy of `done` exactly once; otherwise this one answers.
    Status st = repository_->infer(
        std::move(*request), [done, metrics, shm_outputs](Expected<InferenceResponse> result) {
          metrics->inflight_requests().Decrement();
          done(std::move(result), shm_outputs);
        });
    if (!st.ok()) {
      metrics_->inflight_requests().Decrement();
      done(st, shm_outputs);
    }
  }

  Status model_statistics(const inference::ModelStatisticsRequest& req, inference::ModelStatisticsResponse* res) {
    auto version = parse_model_version(req.version());  // "": every loaded version
    if (!version.ok()) return version.status();
    auto selected = repository_->select(req.name(), *version);
    if (!selected.ok()) return selected.status();
    for (const auto& mv : *selected) fill_statistics(*mv, res->add_model_stats());
    return Status::OK();
  }

  Status model_config(const inference::ModelConfigRequest& req, inference::ModelConfigResponse* res) {
    auto version = parse_model_version(req.version());
    if (!version.ok()) return version.status();
    auto mv = repository_->find(req.name(), *version);
    if (!mv.ok()) return mv.status();
    fill_config(**mv, res->mutable_config());
    return Status::OK();
  }

  Status repository_index(const inference::RepositoryIndexRequest& req, inference::RepositoryIndexResponse* res) {
    for (const ModelIndexEntry& e : repository_->index()) {
      if (req.ready() && e.state != "READY") continue;
      auto* m = res->add_models();
      m->set_name(e.name);
      if (e.version > 0) m->set_version(std::to_string(e.version));
      m->set_state(e.state);
      m->set_reason(e.reason);
    }
    return Status::OK();
  }

  // Load and unload block a completion queue's thread for their duration, as the HTTP frontend's block
  // an I/O thread.
  Status repository_model_load(const inference::RepositoryModelLoadRequest& req,
                               inference::RepositoryModelLoadResponse*) {
    return repository_->load(req.model_name());
  }

  Status repository_model_unload(const inference::RepositoryModelUnloadRequest& req,
                                 inference::RepositoryModelUnloadResponse*) {
    return repository_->unload(req.model_name());
  }

  Status system_shared_memory_status(const inference::SystemSharedMemoryStatusRequest& req,
                                     inference::SystemSharedMemoryStatusResponse* res) {
    return grpc_frontend::system_shared_memory_status(*options_.shared_memory, req, res);
  }

  Status system_shared_memory_register(const inference::SystemSharedMemoryRegisterRequest& req,
                                       inference::SystemSharedMemoryRegisterResponse*) {
    return grpc_frontend::system_shared_memory_register(*options_.shared_memory, req);
  }

  Status system_shared_memory_unregister(const inference::SystemSharedMemoryUnregisterRequest& req,
                                         inference::SystemSharedMemoryUnregisterResponse*) {
    grpc_frontend::system_shared_memory_unregister(*options_.shared_memory, req);
    return Status::OK();
  }

 private:
  ModelRepository* const repository_;
  ServeMetrics* const metrics_;
  const GrpcOptions options_;
};

GrpcServer::GrpcServer(ModelRepository* repository, ServeMetrics* metrics, GrpcOptions options)
    : max_message_bytes_(options.max_message_bytes), threads_(options.threads) {
  service_ = std::make_unique<Service>(repository, metrics, std::move(options));
}

GrpcServer::~GrpcServer() { shutdown(std::chrono::milliseconds(0)); }

namespace {

// A handler that answers at once with what `method` returns.
template <class Request, class Response>
typename UnaryCall<Request, Response>::Handler at_once(GrpcServer::Service* service,
                                                       Status (GrpcServer::Service::*method)(const Request&,
                                                                                             Response*)) {
  return [service, method](UnaryCall<Request, Response>* call) {
    call->finish(to_grpc((service->*method)(call->request(), call->response())));
  };
}

}  // namespace

Status GrpcServer::start(const std::string& address, int port) {
  skip_abseil_deadlock_detection();
  grpc::ServerBuilder builder;
  // IPv6 literals need brackets in a gRPC target.
  const std::string host = address.find(':') != std::string::npos ? "[" + address + "]" : address;
  builder.AddListeningPort(host + ":" + std::to_string(port), grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(service_.get());
  builder.SetMaxReceiveMessageSize(max_message_bytes_);
  builder.SetMaxSendMessageSize(-1);  // responses are as large as the model makes them
  Service* s = service_.get();
  call_queues_ = std::make_unique<UnaryCallQueues>(s, &builder, threads_);
  UnaryCallQueues& q = *call_queues_;
  // Many ModelInfer calls arrive at once; the rest are rare.
  q.add(
      &AsyncService::RequestModelInfer, [s](auto* call) { s->model_infer(call); }, /*ahead=*/16);
  auto stream = std::make_unique<StreamInferCall::Kind>();
  stream->service = s;
  stream->submit = [s](const inference::ModelInferRequest& request, const grpc::ServerContext& context,
                       std::shared_ptr<Cancellation> cancelled,
                       StreamInferDone done) { s->infer(request, context, std::move(cancelled), std::move(done)); };
  stream->ahead = 4;
  q.add(std::move(stream));
  q.add(&AsyncService::RequestServerLive, at_once(s, &Service::server_live));
  q.add(&AsyncService::RequestServerReady, at_once(s, &Service::server_ready));
  q.add(&AsyncService::RequestModelReady, at_once(s, &Service::model_ready));
  q.add(&AsyncService::RequestServerMetadata, at_once(s, &Service::server_metadata));
  q.add(&AsyncService::RequestModelMetadata, at_once(s, &Service::model_metadata));
  q.add(&AsyncService::RequestModelStatistics, at_once(s, &Service::model_statistics));
  q.add(&AsyncService::RequestModelConfig, at_once(s, &Service::model_config));
  q.add(&AsyncService::RequestRepositoryIndex, at_once(s, &Service::repository_index));
  q.add(&AsyncService::RequestRepositoryModelLoad, at_once(s, &Service::repository_model_load));
  q.add(&AsyncService::RequestRepositoryModelUnload, at_once(s, &Service::repository_model_unload));
  q.add(&AsyncService::RequestSystemSharedMemoryStatus, at_once(s, &Service::system_shared_memory_status));
  q.add(&AsyncService::RequestSystemSharedMemoryRegister, at_once(s, &Service::system_shared_memory_register));
  q.add(&AsyncService::RequestSystemSharedMemoryUnregister, at_once(s, &Service::system_shared_memory_unregister));
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    server_.reset();
    call_queues_.reset();
    return Status::IOError("cannot listen for gRPC on " + host + ":" + std::to_string(port));
  }
  call_queues_->start();
  return Status::OK();
}

void GrpcServer::shutdown(std::chrono::milliseconds grace) {
  if (server_ == nullptr) return;
  call_queues_->stop();
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  call_queues_->join();  // every call accepted has had its answer or been cancelled by Shutdown
  server_->Wait();
  server_.reset();
  call_queues_.reset();  // the completion queues go after the server that used them
}

}  // namespace kiln::serve::grpc_frontend
