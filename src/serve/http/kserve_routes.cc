#include "serve/http/kserve_routes.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <boost/asio/post.hpp>
#include <charconv>
#include <vector>

#include "serve/datatype_names.h"
#include "serve/http/content_coding.h"
#include "serve/http/http_status.h"
#include "serve/http/infer_codec.h"
#include "serve/http/request_path.h"
#include "serve/http/shared_memory_routes.h"
#include "serve/http/statistics_json.h"
#include "serve/request_buffers.h"

namespace kiln::serve::http {

namespace bhttp = boost::beast::http;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

namespace {

HttpResponse json_ok(const rapidjson::StringBuffer& buffer) {
  return json_response(200, std::string(buffer.GetString(), buffer.GetSize()));
}

void write_tensors(Writer& w, const char* key, const std::vector<TensorConfig>& list) {
  w.Key(key);
  w.StartArray();
  for (const TensorConfig& t : list) {
    w.StartObject();
    w.Key("name");
    w.String(t.name);
    w.Key("datatype");
    std::string_view dt = kserve_datatype_name(t.dtype);
    w.String(dt.data(), static_cast<rapidjson::SizeType>(dt.size()));
    w.Key("shape");
    w.StartArray();
    for (int64_t d : t.dims) w.Int64(d);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
}

HttpResponse model_metadata(const std::vector<std::shared_ptr<ModelVersion>>& versions, const ModelVersion& mv) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("name");
  w.String(mv.name());
  w.Key("versions");
  w.StartArray();
  for (const auto& v : versions) w.String(std::to_string(v->version()));
  w.EndArray();
  w.Key("platform");
  w.String(mv.config().platform);
  write_tensors(w, "inputs", mv.config().inputs);
  write_tensors(w, "outputs", mv.config().outputs);
  w.EndObject();
  return json_ok(buffer);
}

// Triton's model configuration endpoint, in its JSON form (perf_analyzer and tritonclient read it):
// the effective config, config.pbtxt completed from the model.
HttpResponse model_config(const ModelVersion& mv) {
  const ModelConfig& c = mv.config();
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  w.Key("name");
  w.String(c.name);
  w.Key("platform");
  w.String(c.platform);
  w.Key("version_policy");
  w.StartObject();
  switch (c.version_policy.kind) {
    case VersionPolicy::Kind::kLatest:
      w.Key("latest");
      w.StartObject();
      w.Key("num_versions");
      w.Int64(c.version_policy.num_versions);
      w.EndObject();
      break;
    case VersionPolicy::Kind::kAll:
      w.Key("all");
      w.StartObject();
      w.EndObject();
      break;
    case VersionPolicy::Kind::kSpecific:
      w.Key("specific");
      w.StartObject();
      w.Key("versions");
      w.StartArray();
      for (int64_t v : c.version_policy.versions) w.Int64(v);
      w.EndArray();
      w.EndObject();
      break;
  }
  w.EndObject();
  w.Key("max_batch_size");
  w.Int64(c.max_batch_size);
  for (const auto& [key, list] : {std::pair{"input", &c.inputs}, std::pair{"output", &c.outputs}}) {
    w.Key(key);
    w.StartArray();
    for (const TensorConfig& t : *list) {
      w.StartObject();
      w.Key("name");
      w.String(t.name);
      w.Key("data_type");
      w.String("TYPE_" +
               std::string(kserve_datatype_name(t.dtype) == "BYTES" ? "STRING" : kserve_datatype_name(t.dtype)));
      w.Key("dims");
      w.StartArray();
      // Config dims exclude the batch dimension when the model batches.
      for (size_t i = c.max_batch_size > 0 ? 1 : 0; i < t.dims.size(); ++i) w.Int64(t.dims[i]);
      w.EndArray();
      if (t.optional) {
        w.Key("optional");
        w.Bool(true);
      }
      if (!t.label_filename.empty()) {
        w.Key("label_filename");
        w.String(t.label_filename);
      }
      w.EndObject();
    }
    w.EndArray();
  }
  if (c.dynamic_batching) {
    w.Key("dynamic_batching");
    w.StartObject();
    w.Key("preferred_batch_size");
    w.StartArray();
    for (int64_t p : c.preferred_batch_sizes) w.Int64(p);
    w.EndArray();
    w.Key("max_queue_delay_microseconds");
    w.Int64(c.max_queue_delay_us);
    w.EndObject();
  }
  w.Key("instance_group");
  w.StartArray();
  w.StartObject();
  w.Key("count");
  w.Int64(mv.instance_count());  // after the cap of --threads
  w.Key("kind");
  w.String("KIND_CPU");
  w.EndObject();
  w.EndArray();
  w.Key("default_model_filename");
  w.String(c.default_model_filename);
  // kiln's own: the intra-op threads each run computes on (0: all cores); see docs/protocol.md.
  w.Key("parameters");
  w.StartObject();
  w.Key("intra_op_threads");
  w.StartObject();
  w.Key("string_value");
  w.String(std::to_string(mv.intra_op_threads()));
  w.EndObject();
  w.EndObject();
  w.EndObject();
  return json_ok(buffer);
}

HttpResponse flag_response(const char* key, bool value, unsigned status_if_false) {
  return json_response(value ? 200 : status_if_false,
                       std::string("{\"") + key + "\":" + (value ? "true" : "false") + "}");
}

// An empty version (".../versions//infer") is the latest, as Triton reads it: 0.
Expected<int64_t> parse_version(const std::string& text) {
  if (text.empty()) return int64_t{0};
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v <= 0) {
    return Status::InvalidArgument("version '" + text + "' is not a positive integer");
  }
  return v;
}

std::string_view field_value(const HttpRequest& request, bhttp::field name) {
  auto it = request.find(name);
  return it == request.end() ? std::string_view() : std::string_view(it->value().data(), it->value().size());
}

// Below this size a compressed answer saves a few hundred bytes at most, while each zlib stream costs
// about 256 KiB of state to set up; such answers go out as they are, which Accept-Encoding allows.
constexpr size_t kMinCompressedBytes = 1024;

// Wraps `inner` so that answers of kMinCompressedBytes or more go out in `coding`.
Responder compressing(ContentCoding coding, Responder inner) {
  if (coding == ContentCoding::kIdentity) return inner;
  return [coding, inner = std::move(inner)](HttpResponse res) {
    if (res.body().size() >= kMinCompressedBytes) {
      res.body() = encode_content(res.body(), coding);
      const std::string_view name = content_coding_name(coding);
      res.set(bhttp::field::content_encoding, boost::beast::string_view(name.data(), name.size()));
    }
    res.set(bhttp::field::vary, "Accept-Encoding");
    inner(std::move(res));
  };
}

// Replaces a gzip or deflate body by its decoded bytes (at most `max_bytes`), so that the routes,
// and Inference-Header-Content-Length, see the body the client encoded.
Status decode_request_body(HttpRequest& request, size_t max_bytes) {
  if (request.find(bhttp::field::content_encoding) == request.end()) return Status::OK();
  KILN_ASSIGN_OR_RETURN(const ContentCoding coding,
                        parse_content_encoding(field_value(request, bhttp::field::content_encoding)));
  if (coding != ContentCoding::kIdentity) {
    KILN_ASSIGN_OR_RETURN(request.body(), decode_content(request.body(), coding, max_bytes));
  }
  request.erase(bhttp::field::content_encoding);
  return Status::OK();
}

// A body that cannot be decoded: 415 for a coding kiln does not know (RFC 9110 section 15.5.16), 413
// for one that decodes past the size limit, 400 for corrupt data.
HttpResponse content_coding_error(const Status& status) {
  HttpResponse res = error_response(status);
  if (status.code() == StatusCode::kUnimplemented) res.result(bhttp::status::unsupported_media_type);
  if (status.code() == StatusCode::kResourceExhausted) res.result(bhttp::status::payload_too_large);
  return res;
}

// Triton's trace and logging extensions, which kiln does not have; it names what it has instead.
HttpResponse unsupported_extension(const std::string& name) {
  return error_response(Status::Unimplemented(
      "kiln does not support Triton's " + name +
      " extension; it logs one line per request with --access-log and counts every step in its metrics"));
}

}  // namespace

KServeRoutes::KServeRoutes(ModelRepository* repository, ServeMetrics* metrics, boost::asio::io_context& ioc,
                           RoutesOptions options)
    : repository_(repository), metrics_(metrics), ioc_(ioc), options_(std::move(options)) {}

void KServeRoutes::handle(HttpRequest&& request, Responder respond, ClientGone client_gone) {
  std::shared_ptr<AccessRecord> record;
  if (options_.access_log) {
    record = std::make_shared<AccessRecord>();
    record->method = std::string(request.method_string());
    record->target = std::string(request.target());
    record->bytes_in = request.body().size();
    // The record is complete when the response exists; log it then, on whichever thread that is.
    respond = [record, sink = options_.access_log, start = Clock::now(), inner = std::move(respond)](HttpResponse res) {
      record->status = res.result_int();
      record->bytes_out = res.body().size();
      record->latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      sink(*record);
      inner(std::move(res));
    };
  }
  try {
    if (std::string_view accept = field_value(request, bhttp::field::accept_encoding); !accept.empty()) {
      respond = compressing(choose_response_coding(accept), std::move(respond));
    }
    if (Status st = decode_request_body(request, options_.max_request_bytes); !st.ok()) {
      return respond(content_coding_error(st));
    }
    route(std::move(request), respond, client_gone, record);
  } catch (const std::exception& e) {
    // respond may already have been moved from only by infer(), which does not throw after that.
    if (respond) respond(error_response(Status::Internal(std::string("internal error: ") + e.what())));
  }
}

void KServeRoutes::route(HttpRequest&& request, Responder& respond, ClientGone& client_gone,
                         const std::shared_ptr<AccessRecord>& record) {
  const std::string_view target(request.target().data(), request.target().size());
  auto parts = split_request_path(target);
  if (!parts.ok()) return respond(error_response(parts.status()));
  const std::vector<std::string>& p = *parts;
  const bool get = request.method() == bhttp::verb::get;
  const bool post = request.method() == bhttp::verb::post;
  auto reply = [&](HttpResponse res) { respond(std::move(res)); };
  auto method_not_allowed = [&] {
    auto res = json_response(405, "{\"error\":\"method not allowed for " + std::string(request.target()) + "\"}");
    reply(std::move(res));
  };
  if (p.empty() || p[0] != "v2") {
    return reply(error_response(Status::NotFound("unknown endpoint " + std::string(request.target()))));
  }
  if (p.size() == 1) {
    if (!get) return method_not_allowed();
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    w.Key("name");
    w.String("kiln");
    w.Key("version");
    w.String(options_.server_version);
    w.Key("extensions");
    w.StartArray();
    w.String("binary_tensor_data");
    w.String("model_repository");
    w.String("statistics");
    w.String("model_configuration");
    w.String("classification");
    w.String("system_shared_memory");
    w.EndArray();
    w.EndObject();
    return reply(json_ok(buffer));
  }
  if (p[1] == "health" && p.size() == 3) {
    if (!get) return method_not_allowed();
    if (p[2] == "live") return reply(flag_response("live", true, 200));
    if (p[2] == "ready") return reply(flag_response("ready", repository_->ready(), 503));
  }
  if (p[1] == "repository" && p.size() >= 3) {
    if (!post) return method_not_allowed();
    if (p.size() == 3 && p[2] == "index") {
      rapidjson::StringBuffer buffer;
      Writer w(buffer);
      w.StartArray();
      for (const ModelIndexEntry& e : repository_->index()) {
        w.StartObject();
        w.Key("name");
        w.String(e.name);
        if (e.version > 0) {
          w.Key("version");
          w.String(std::to_string(e.version));
        }
        w.Key("state");
        w.String(e.state);
        if (!e.reason.empty()) {
          w.Key("reason");
          w.String(e.reason);
        }
        w.EndObject();
      }
      w.EndArray();
      return reply(json_ok(buffer));
    }
    if (p.size() == 5 && p[2] == "models" && (p[4] == "load" || p[4] == "unload")) {
      // Loading blocks this I/O thread for the load's duration; acceptable for an administrative call.
      Status st = p[4] == "load" ? repository_->load(p[3]) : repository_->unload(p[3]);
      return reply(st.ok() ? json_response(200, "{}") : error_response(st));
    }
  }
  if (p[1] == "systemsharedmemory" || p[1] == "cudasharedmemory") {
    return reply(shared_memory_route(*options_.shared_memory, p, get, post, target, request.body()));
  }
  if ((p[1] == "trace" && p.size() == 3 && p[2] == "setting") || (p[1] == "logging" && p.size() == 2)) {
    return reply(unsupported_extension(p[1]));
  }
  if (p[1] == "models" && p.size() == 3 && p[2] == "stats") {
    if (!get) return method_not_allowed();
    auto all = repository_->select("", 0);
    if (!all.ok()) return reply(error_response(all.status()));
    return reply(json_response(200, model_statistics_json(*all)));
  }
  if (p[1] == "models" && p.size() >= 3) {
    const std::string& model = p[2];
    if (record != nullptr) record->model = model;
    int64_t version = 0;
    size_t rest = 3;
    if (p.size() >= 5 && p[3] == "versions") {
      auto v = parse_version(p[4]);
      if (!v.ok()) return reply(error_response(v.status()));
      version = *v;
      rest = 5;
    }
    const std::string action = p.size() == rest ? "" : p.size() == rest + 1 ? p[rest] : "?";
    if (p.size() == rest + 2 && p[rest] == "trace" && p[rest + 1] == "setting") {
      return reply(unsupported_extension("trace"));
    }
    if (action == "infer") {
      if (!post) return method_not_allowed();
      return infer(model, version, std::move(request), std::move(respond), std::move(client_gone), record);
    }
    if (action == "stats") {
      if (!get) return method_not_allowed();
      auto selected = repository_->select(model, version);
      if (!selected.ok()) return reply(error_response(selected.status()));
      return reply(json_response(200, model_statistics_json(*selected)));
    }
    if (action == "ready") {
      if (!get) return method_not_allowed();
      auto mv = repository_->find(model, version);
      if (!mv.ok()) return reply(error_response(mv.status()));
      rapidjson::StringBuffer buffer;
      Writer w(buffer);
      w.StartObject();
      w.Key("name");
      w.String((*mv)->name());
      w.Key("ready");
      w.Bool(true);
      w.EndObject();
      return reply(json_ok(buffer));
    }
    if (action.empty() || action == "config") {
      if (!get) return method_not_allowed();
      auto mv = repository_->find(model, version);
      if (!mv.ok()) return reply(error_response(mv.status()));
      if (action == "config") return reply(model_config(**mv));
      auto all = repository_->versions(model);
      if (!all.ok()) return reply(error_response(all.status()));
      return reply(model_metadata(*all, **mv));
    }
  }
  reply(error_response(Status::NotFound("unknown endpoint " + std::string(request.target()))));
}

void KServeRoutes::infer(const std::string& model, int64_t version, HttpRequest&& http_request, Responder respond,
                         ClientGone client_gone, std::shared_ptr<AccessRecord> record) {
  std::optional<size_t> header_length;
  if (auto it = http_request.find("Inference-Header-Content-Length"); it != http_request.end()) {
    size_t n = 0;
    std::string_view v(it->value().data(), it->value().size());
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size()) {
      return respond(error_response(
          Status::InvalidArgument("Inference-Header-Content-Length '" + std::string(v) + "' is not a byte count")));
    }
    header_length = n;
  }
  // Look the model up before decoding so an unknown model costs no parsing; ModelRepository::infer
  // looks again, which covers a reload in between.
  if (auto mv = repository_->find(model, version); !mv.ok()) return respond(error_response(mv.status()));
  auto decoded = [&] {
    const ScopedRequestBuffers buffers;
    return decode_infer_request(http_request.body(), header_length, *options_.shared_memory);
  }();
  if (!decoded.ok()) {
    return respond(error_response(decoded.status().with_context("model '" + model + "'")));
  }
  // Everything the completion needs, in one allocation that the completion owns: the callback
  // carries only its address, which std::function stores without allocating.
  struct Pending {
    DecodedInferRequest decoded;
    Responder respond;
    ServeMetrics* metrics;
    std::shared_ptr<AccessRecord> record;

    void complete(Expected<InferenceResponse>& result) {
      metrics->inflight_requests().Decrement();
      if (record != nullptr && result.ok()) record->version = result->version;
      try {
        if (!result.ok()) return respond(error_response(result.status()));
        auto encoded = encode_infer_response(*result, decoded);
        if (!encoded.ok()) return respond(error_response(encoded.status()));
        HttpResponse res = json_response(200, std::move(encoded->body));
        if (encoded->header_length) {
          res.set(bhttp::field::content_type, "application/octet-stream");
          res.set("Inference-Header-Content-Length", std::to_string(*encoded->header_length));
        }
        respond(std::move(res));
      } catch (const std::exception& e) {
        respond(error_response(Status::Internal(std::string("internal error: ") + e.what())));
      }
    }
  };
  auto pending = std::make_unique<Pending>(Pending{std::move(decoded).value(), std::move(respond), metrics_, record});
  DecodedInferRequest& d = pending->decoded;
  if (record != nullptr) record->request_id = d.request.id;
  InferenceRequest request = std::move(d.request);
  request.model = model;
  request.version = version;
  std::chrono::microseconds timeout = options_.default_timeout;
  if (d.timeout_us) timeout = std::chrono::microseconds(std::min(*d.timeout_us, kMaxRequestTimeoutUs));
  if (timeout.count() > 0) request.deadline = Clock::now() + timeout;
  request.cancelled = std::move(client_gone);
  metrics_->inflight_requests().Increment();
  boost::asio::io_context* ioc = &ioc_;
  Pending* owned = pending.get();
  // On OK the core calls back exactly once (and owns `owned` until then); otherwise never.
  Status st = repository_->infer(std::move(request), [owned, ioc](Expected<InferenceResponse> result) {
    std::unique_ptr<Pending> p(owned);
    // A run inline on the I/O thread that submitted it (a small model) completes here, before
    // infer() returns: encode and answer now. A worker thread hands the encoding to an I/O thread
    // and returns at once, so that it goes back to computing.
    if (ioc->get_executor().running_in_this_thread()) return p->complete(result);
    boost::asio::post(*ioc, [p = std::move(p), result = std::move(result)]() mutable { p->complete(result); });
  });
  if (st.ok()) {
    pending.release();  // the callback has it
    return;
  }
  metrics_->inflight_requests().Decrement();
  pending->respond(error_response(st));
}

}  // namespace kiln::serve::http
