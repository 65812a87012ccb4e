#include "serve/grpc/grpc_server.h"

#include <grpcpp/grpcpp.h>

#include "grpc_predict_v2.grpc.pb.h"
#include "serve/datatype_names.h"
#include "serve/grpc/grpc_tensor.h"

namespace kiln::serve::grpc_frontend {

namespace {

grpc::Status to_grpc(const Status& st) {
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  switch (st.code()) {
    case StatusCode::kOk:
      return grpc::Status::OK;
    case StatusCode::kInvalidArgument:
    case StatusCode::kCorruption:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case StatusCode::kNotFound:
      code = grpc::StatusCode::NOT_FOUND;
      break;
    case StatusCode::kUnimplemented:
      code = grpc::StatusCode::UNIMPLEMENTED;
      break;
    case StatusCode::kFailedPrecondition:
      code = grpc::StatusCode::FAILED_PRECONDITION;
      break;
    case StatusCode::kResourceExhausted:
      code = grpc::StatusCode::RESOURCE_EXHAUSTED;
      break;
    case StatusCode::kUnavailable:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    default:
      break;
  }
  return grpc::Status(code, st.message());
}

grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* ctx, const Status& st) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(to_grpc(st));
  return reactor;
}

void add_tensors(const std::vector<TensorConfig>& list,
                 google::protobuf::RepeatedPtrField<inference::ModelMetadataResponse::TensorMetadata>* out) {
  for (const TensorConfig& t : list) {
    auto* m = out->Add();
    m->set_name(t.name);
    m->set_datatype(std::string(kserve_datatype_name(t.dtype)));
    for (int64_t d : t.dims) m->add_shape(d);
  }
}

}  // namespace

class GrpcServer::Service final : public inference::GRPCInferenceService::CallbackService {
 public:
  Service(ModelRepository* repository, ServeMetrics* metrics, GrpcOptions options)
      : repository_(repository), metrics_(metrics), options_(std::move(options)) {}

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* ctx, const inference::ServerLiveRequest*,
                                       inference::ServerLiveResponse* res) override {
    res->set_live(true);
    return finish(ctx, Status::OK());
  }

  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* ctx, const inference::ServerReadyRequest*,
                                        inference::ServerReadyResponse* res) override {
    res->set_ready(repository_->ready());
    return finish(ctx, Status::OK());
  }

  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* ctx, const inference::ModelReadyRequest* req,
                                       inference::ModelReadyResponse* res) override {
    auto version = parse_model_version(req->version());
    if (!version.ok()) return finish(ctx, version.status());
    auto mv = repository_->find(req->name(), *version);
    // Triton answers ready=false (not an error) for a model that is known but not ready.
    if (!mv.ok() && mv.status().code() != StatusCode::kUnavailable) return finish(ctx, mv.status());
    res->set_ready(mv.ok());
    return finish(ctx, Status::OK());
  }

  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* ctx, const inference::ServerMetadataRequest*,
                                           inference::ServerMetadataResponse* res) override {
    res->set_name("kiln");
    res->set_version(options_.server_version);
    res->add_extensions("model_repository");
    return finish(ctx, Status::OK());
  }

  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* ctx, const inference::ModelMetadataRequest* req,
                                          inference::ModelMetadataResponse* res) override {
    auto version = parse_model_version(req->version());
    if (!version.ok()) return finish(ctx, version.status());
    auto mv = repository_->find(req->name(), *version);
    if (!mv.ok()) return finish(ctx, mv.status());
    auto all = repository_->versions(req->name());
    if (!all.ok()) return finish(ctx, all.status());
    res->set_name((*mv)->name());
    for (const auto& v : *all) res->add_versions(std::to_string(v->version()));
    res->set_platform((*mv)->config().platform);
    add_tensors((*mv)->config().inputs, res->mutable_inputs());
    add_tensors((*mv)->config().outputs, res->mutable_outputs());
    return finish(ctx, Status::OK());
  }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx, const inference::ModelInferRequest* req,
                                       inference::ModelInferResponse* res) override {
    auto request = decode_model_infer(*req);
    if (!request.ok()) return finish(ctx, request.status().with_context("model '" + req->model_name() + "'"));
    if (request->deadline == Clock::time_point::max() && options_.default_timeout.count() > 0) {
      request->deadline = Clock::now() + options_.default_timeout;
    }
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    metrics_->inflight_requests().Increment();
    ServeMetrics* metrics = metrics_;
    // On OK the scheduler calls back exactly once, on its thread; encoding is a copy per output.
    Status st = repository_->infer(std::move(*request), [reactor, res, metrics](Expected<InferenceResponse> result) {
      metrics->inflight_requests().Decrement();
      if (!result.ok()) return reactor->Finish(to_grpc(result.status()));
      encode_model_infer(*result, res);
      reactor->Finish(grpc::Status::OK);
    });
    if (!st.ok()) {
      metrics_->inflight_requests().Decrement();
      reactor->Finish(to_grpc(st));
    }
    return reactor;
  }

  grpc::ServerUnaryReactor* RepositoryIndex(grpc::CallbackServerContext* ctx,
                                            const inference::RepositoryIndexRequest* req,
                                            inference::RepositoryIndexResponse* res) override {
    for (const ModelIndexEntry& e : repository_->index()) {
      if (req->ready() && e.state != "READY") continue;
      auto* m = res->add_models();
      m->set_name(e.name);
      if (e.version > 0) m->set_version(std::to_string(e.version));
      m->set_state(e.state);
      m->set_reason(e.reason);
    }
    return finish(ctx, Status::OK());
  }

  // Load and unload block a gRPC callback thread for their duration, like the HTTP frontend's.
  grpc::ServerUnaryReactor* RepositoryModelLoad(grpc::CallbackServerContext* ctx,
                                                const inference::RepositoryModelLoadRequest* req,
                                                inference::RepositoryModelLoadResponse*) override {
    return finish(ctx, repository_->load(req->model_name()));
  }

  grpc::ServerUnaryReactor* RepositoryModelUnload(grpc::CallbackServerContext* ctx,
                                                  const inference::RepositoryModelUnloadRequest* req,
                                                  inference::RepositoryModelUnloadResponse*) override {
    return finish(ctx, repository_->unload(req->model_name()));
  }

 private:
  ModelRepository* const repository_;
  ServeMetrics* const metrics_;
  const GrpcOptions options_;
};

GrpcServer::GrpcServer(ModelRepository* repository, ServeMetrics* metrics, GrpcOptions options)
    : max_message_bytes_(options.max_message_bytes) {
  service_ = std::make_unique<Service>(repository, metrics, std::move(options));
}

GrpcServer::~GrpcServer() { shutdown(std::chrono::milliseconds(0)); }

Status GrpcServer::start(const std::string& address, int port) {
  grpc::ServerBuilder builder;
  // IPv6 literals need brackets in a gRPC target.
  const std::string host = address.find(':') != std::string::npos ? "[" + address + "]" : address;
  builder.AddListeningPort(host + ":" + std::to_string(port), grpc::InsecureServerCredentials(), &port_);
  builder.RegisterService(service_.get());
  builder.SetMaxReceiveMessageSize(max_message_bytes_);
  builder.SetMaxSendMessageSize(-1);  // responses are as large as the model makes them
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    server_.reset();
    return Status::IOError("cannot listen for gRPC on " + host + ":" + std::to_string(port));
  }
  return Status::OK();
}

void GrpcServer::shutdown(std::chrono::milliseconds grace) {
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now() + grace);
  server_->Wait();
  server_.reset();
}

}  // namespace kiln::serve::grpc_frontend
