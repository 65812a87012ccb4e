#include "serve/http/shared_memory_routes.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "serve/http/http_status.h"

namespace kiln::serve::http {

namespace {

namespace bhttp = boost::beast::http;

// The register request's body: {"key": string, "offset": uint, "byte_size": uint}; offset may be absent.
Expected<SharedMemoryRegionStatus> parse_register_body(const std::string& name, std::string_view body) {
  const std::string where = "register system shared memory region '" + name + "': ";
  rapidjson::Document doc;
  // Iterative: a body of nested '[' must not recurse once per level and overflow the stack.
  doc.Parse<rapidjson::kParseIterativeFlag>(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return Status::InvalidArgument(where + "the body must be a JSON object {\"key\", \"offset\", \"byte_size\"}");
  }
  const rapidjson::Value& root = doc;  // const iterators: rapidjson's mutable ones compare ambiguously in C++20
  SharedMemoryRegionStatus s;
  s.name = name;
  auto key = root.FindMember("key");
  if (key == root.MemberEnd() || !key->value.IsString())
    return Status::InvalidArgument(where + "'key' must be a string");
  s.key.assign(key->value.GetString(), key->value.GetStringLength());
  auto byte_size = root.FindMember("byte_size");
  if (byte_size == root.MemberEnd() || !byte_size->value.IsUint64()) {
    return Status::InvalidArgument(where + "'byte_size' must be an integer >= 0");
  }
  s.byte_size = byte_size->value.GetUint64();
  if (auto offset = root.FindMember("offset"); offset != root.MemberEnd()) {
    if (!offset->value.IsUint64()) return Status::InvalidArgument(where + "'offset' must be an integer >= 0");
    s.offset = offset->value.GetUint64();
  }
  return s;
}

HttpResponse status_json(const std::vector<SharedMemoryRegionStatus>& regions) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
  w.StartArray();
  for (const SharedMemoryRegionStatus& r : regions) {
    w.StartObject();
    w.Key("name");
    w.String(r.name);
    w.Key("key");
    w.String(r.key);
    w.Key("offset");
    w.Uint64(r.offset);
    w.Key("byte_size");
    w.Uint64(r.byte_size);
    w.EndObject();
  }
  w.EndArray();
  return json_response(200, std::string(buffer.GetString(), buffer.GetSize()));
}

// CUDA shared memory needs a GPU; kiln runs on the CPU. Clients clean up CUDA regions unconditionally,
// so status and unregister succeed with nothing to report.
HttpResponse cuda_shared_memory(const std::string& region, const std::string& action) {
  if (action == "register") {
    return error_response(Status::Unimplemented("CUDA shared memory region '" + region +
                                                "': kiln runs on the CPU and has no CUDA shared memory; register "
                                                "system shared memory (/v2/systemsharedmemory) or send tensors in "
                                                "the request body"));
  }
  if (action == "unregister") return json_response(200, "{}");
  if (!region.empty()) {
    return error_response(Status::NotFound("CUDA shared memory region '" + region +
                                           "' is not registered (kiln has no CUDA shared memory)"));
  }
  return json_response(200, "[]");
}

}  // namespace

HttpResponse shared_memory_route(SystemSharedMemory& shared_memory, const std::vector<std::string>& p, bool get,
                                 bool post, std::string_view target, std::string_view body) {
  std::string region;
  std::string action;
  if (p.size() == 3) action = p[2];
  if (p.size() == 5 && p[2] == "region") {
    region = p[3];
    action = p[4];
  }
  const bool known = action == "status" || action == "unregister" || (action == "register" && !region.empty());
  if (!known) return error_response(Status::NotFound("unknown endpoint " + std::string(target)));
  if ((action == "status") != get || (action != "status") != post) {
    HttpResponse res = error_response(Status::InvalidArgument("method not allowed for " + std::string(target)));
    res.result(bhttp::status::method_not_allowed);
    return res;
  }
  if (p[1] == "cudasharedmemory") return cuda_shared_memory(region, action);
  if (action == "register") {
    auto status = parse_register_body(region, body);
    if (!status.ok()) return error_response(status.status());
    Status st = shared_memory.register_region(std::move(status).value());
    return st.ok() ? json_response(200, "{}") : error_response(st);
  }
  if (action == "unregister") {
    if (region.empty()) {
      shared_memory.unregister_all();
    } else {
      shared_memory.unregister_region(region);
    }
    return json_response(200, "{}");
  }
  auto regions = shared_memory.status(region);
  return regions.ok() ? status_json(*regions) : error_response(regions.status());
}

}  // namespace kiln::serve::http
