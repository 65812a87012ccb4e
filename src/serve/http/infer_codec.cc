#include "serve/http/infer_codec.h"

#include <rapidjson/error/en.h>

#include <algorithm>

#include "serve/datatype_names.h"
#include "serve/http/tensor_codec.h"
#include "serve/raw_tensor.h"

namespace kiln::serve::http {

namespace {

Expected<bool> bool_param(const rapidjson::Value& params, const char* key, std::string_view where) {
  auto it = params.FindMember(key);
  if (it == params.MemberEnd()) return false;
  if (!it->value.IsBool())
    return Status::InvalidArgument(std::string(where) + "parameter '" + key + "' must be a boolean");
  return it->value.GetBool();
}

// Reads the parameters object of `v` (absent or null: nullptr).
Expected<const rapidjson::Value*> parameters(const rapidjson::Value& v, std::string_view where) {
  auto it = v.FindMember("parameters");
  if (it == v.MemberEnd() || it->value.IsNull()) return static_cast<const rapidjson::Value*>(nullptr);
  if (!it->value.IsObject()) return Status::InvalidArgument(std::string(where) + "'parameters' must be an object");
  return &it->value;
}

Expected<std::string> string_member(const rapidjson::Value& v, const char* key, std::string_view where) {
  auto it = v.FindMember(key);
  if (it == v.MemberEnd() || !it->value.IsString()) {
    return Status::InvalidArgument(std::string(where) + "'" + key + "' must be a string");
  }
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

Expected<uint64_t> uint64_param(const rapidjson::Value& v, const char* key, std::string_view where) {
  if (!v.IsUint64())
    return Status::InvalidArgument(std::string(where) + "parameter '" + key + "' must be an integer >= 0");
  return v.GetUint64();
}

// Triton's shared-memory parameters of an input or requested output, when it has them.
Expected<std::optional<SharedMemoryTensorRef>> shared_memory_ref(const rapidjson::Value* params,
                                                                 std::string_view where) {
  if (params == nullptr) return std::optional<SharedMemoryTensorRef>();
  const auto end = params->MemberEnd();
  const auto region = params->FindMember("shared_memory_region");
  const auto size = params->FindMember("shared_memory_byte_size");
  const auto offset = params->FindMember("shared_memory_offset");
  if (region == end) {
    if (size != end || offset != end) {
      return Status::InvalidArgument(std::string(where) +
                                     "shared_memory_byte_size and shared_memory_offset need "
                                     "parameter 'shared_memory_region'");
    }
    return std::optional<SharedMemoryTensorRef>();
  }
  if (!region->value.IsString()) {
    return Status::InvalidArgument(std::string(where) + "parameter 'shared_memory_region' must be a string");
  }
  if (size == end) {
    return Status::InvalidArgument(std::string(where) +
                                   "parameter 'shared_memory_region' needs "
                                   "'shared_memory_byte_size'");
  }
  SharedMemoryTensorRef ref;
  ref.region.assign(region->value.GetString(), region->value.GetStringLength());
  KILN_ASSIGN_OR_RETURN(ref.byte_size, uint64_param(size->value, "shared_memory_byte_size", where));
  if (offset != end) {
    KILN_ASSIGN_OR_RETURN(ref.offset, uint64_param(offset->value, "shared_memory_offset", where));
  }
  return std::optional<SharedMemoryTensorRef>(std::move(ref));
}

}  // namespace

Expected<DecodedInferRequest> decode_infer_request(std::string_view body, std::optional<size_t> header_length,
                                                   const SystemSharedMemory& shared_memory) {
  size_t json_size = body.size();
  if (header_length) {
    if (*header_length > body.size()) {
      return Status::InvalidArgument("Inference-Header-Content-Length " + std::to_string(*header_length) +
                                     " exceeds the body's " + std::to_string(body.size()) + " bytes");
    }
    json_size = *header_length;
  }
  // The document's values and the parser's stacks come from buffers on this thread's stack, so a
  // small request parses without a malloc; a larger one spills into heap chunks. (rapidjson's
  // default mallocs a 64 KiB chunk per document, and freeing it made malloc consolidate its heap on
  // every request: perf, bench/serve/run.py tiny.)
  using Pool = rapidjson::MemoryPoolAllocator<>;
  alignas(16) char value_space[8192];
  alignas(16) char stack_space[4096];
  Pool values(value_space, sizeof(value_space));
  Pool stacks(stack_space, sizeof(stack_space));
  rapidjson::GenericDocument<rapidjson::UTF8<>, Pool, Pool> doc(&values, 1024, &stacks);
  // Iterative parsing: a body of nested '[' must not recurse once per level and overflow the stack.
  doc.Parse<rapidjson::kParseNanAndInfFlag | rapidjson::kParseIterativeFlag>(body.data(), json_size);
  if (doc.HasParseError()) {
    return Status::InvalidArgument(std::string("malformed JSON at offset ") + std::to_string(doc.GetErrorOffset()) +
                                   ": " + rapidjson::GetParseError_En(doc.GetParseError()));
  }
  if (!doc.IsObject()) return Status::InvalidArgument("the request body must be a JSON object");
  DecodedInferRequest out;
  if (auto it = doc.FindMember("id"); it != doc.MemberEnd()) {
    if (!it->value.IsString()) return Status::InvalidArgument("'id' must be a string");
    out.request.id = it->value.GetString();
  }
  KILN_ASSIGN_OR_RETURN(const rapidjson::Value* params, parameters(doc, ""));
  if (params != nullptr) {
    KILN_ASSIGN_OR_RETURN(out.binary_output_default, bool_param(*params, "binary_data_output", ""));
    if (auto t = params->FindMember("timeout"); t != params->MemberEnd()) {
      if (!t->value.IsInt64() || t->value.GetInt64() < 0) {
        return Status::InvalidArgument("parameter 'timeout' must be a non-negative integer (microseconds)");
      }
      out.timeout_us = t->value.GetInt64();
    }
  }
  auto inputs = doc.FindMember("inputs");
  if (inputs == doc.MemberEnd() || !inputs->value.IsArray()) {
    return Status::InvalidArgument("'inputs' must be an array");
  }
  std::string_view binary = body.substr(json_size);
  size_t binary_pos = 0;
  for (const rapidjson::Value& in : inputs->value.GetArray()) {
    if (!in.IsObject()) return Status::InvalidArgument("each entry of 'inputs' must be an object");
    KILN_ASSIGN_OR_RETURN(std::string name, string_member(in, "name", "an input: "));
    const std::string where = "input '" + name + "': ";
    KILN_ASSIGN_OR_RETURN(std::string datatype, string_member(in, "datatype", where));
    auto dtype = data_type_from_kserve_name(datatype);
    if (!dtype) return Status::InvalidArgument(where + "unknown datatype '" + datatype + "'");
    auto shape_it = in.FindMember("shape");
    if (shape_it == in.MemberEnd() || !shape_it->value.IsArray()) {
      return Status::InvalidArgument(where + "'shape' must be an array of integers");
    }
    Shape shape;
    for (const auto& d : shape_it->value.GetArray()) {
      if (!d.IsInt64() || d.GetInt64() < 0) return Status::InvalidArgument(where + "'shape' must hold integers >= 0");
      shape.push_back(d.GetInt64());
    }
    KILN_ASSIGN_OR_RETURN(const rapidjson::Value* in_params, parameters(in, where));
    KILN_ASSIGN_OR_RETURN(const std::optional<SharedMemoryTensorRef> shm, shared_memory_ref(in_params, where));
    std::optional<size_t> binary_size;
    if (in_params != nullptr) {
      if (auto b = in_params->FindMember("binary_data_size"); b != in_params->MemberEnd()) {
        if (!b->value.IsUint64()) return Status::InvalidArgument(where + "'binary_data_size' must be an integer >= 0");
        binary_size = static_cast<size_t>(b->value.GetUint64());
      }
    }
    auto data = in.FindMember("data");
    // "data": null is absent (the KServe SDK writes it beside an empty binary tensor).
    if (data != in.MemberEnd() && data->value.IsNull()) data = in.MemberEnd();
    Tensor tensor;
    if (shm) {
      if (data != in.MemberEnd() || binary_size) {
        return Status::InvalidArgument(where + "has 'shared_memory_region' and also 'data' or 'binary_data_size'");
      }
      KILN_ASSIGN_OR_RETURN(const SharedMemoryTensorTarget source, shared_memory.resolve(*shm, where));
      KILN_ASSIGN_OR_RETURN(tensor, tensor_from_shared_memory(source, *dtype, shape, name));
    } else if (binary_size) {
      if (data != in.MemberEnd()) return Status::InvalidArgument(where + "has both 'data' and 'binary_data_size'");
      if (!header_length) {
        return Status::InvalidArgument(where + "'binary_data_size' needs the Inference-Header-Content-Length header");
      }
      if (*binary_size > binary.size() - binary_pos) {
        return Status::InvalidArgument(where + "binary_data_size " + std::to_string(*binary_size) + " exceeds the " +
                                       std::to_string(binary.size() - binary_pos) + " bytes left in the body");
      }
      KILN_ASSIGN_OR_RETURN(tensor, tensor_from_raw(binary.substr(binary_pos, *binary_size), *dtype, shape, name));
      binary_pos += *binary_size;
    } else {
      if (data == in.MemberEnd()) return Status::InvalidArgument(where + "has neither 'data' nor 'binary_data_size'");
      KILN_ASSIGN_OR_RETURN(tensor, tensor_from_json(data->value, *dtype, shape, name));
    }
    out.request.inputs.push_back({std::move(name), Value(std::move(tensor))});
  }
  if (binary_pos != binary.size()) {
    return Status::InvalidArgument(std::to_string(binary.size() - binary_pos) +
                                   " bytes of binary data follow the inputs' binary_data_size total");
  }
  if (auto outputs = doc.FindMember("outputs"); outputs != doc.MemberEnd()) {
    if (!outputs->value.IsArray()) return Status::InvalidArgument("'outputs' must be an array");
    for (const rapidjson::Value& o : outputs->value.GetArray()) {
      if (!o.IsObject()) return Status::InvalidArgument("each entry of 'outputs' must be an object");
      KILN_ASSIGN_OR_RETURN(std::string name, string_member(o, "name", "an output: "));
      const std::string where = "output '" + name + "': ";
      KILN_ASSIGN_OR_RETURN(const rapidjson::Value* o_params, parameters(o, where));
      KILN_ASSIGN_OR_RETURN(const std::optional<SharedMemoryTensorRef> shm, shared_memory_ref(o_params, where));
      if (shm) {
        KILN_ASSIGN_OR_RETURN(out.shared_memory_outputs[name], shared_memory.resolve(*shm, where));
      }
      if (o_params != nullptr) {
        if (auto c = o_params->FindMember("classification"); c != o_params->MemberEnd()) {
          if (!c->value.IsInt64() || c->value.GetInt64() <= 0) {
            return Status::InvalidArgument(where + "parameter 'classification' must be a positive integer");
          }
          out.request.classification[name] = c->value.GetInt64();
        }
        if (o_params->HasMember("binary_data")) {
          KILN_ASSIGN_OR_RETURN(out.binary_output[name], bool_param(*o_params, "binary_data", where));
        }
      }
      out.request.requested_outputs.push_back(std::move(name));
    }
  }
  return out;
}

Expected<EncodedInferResponse> encode_infer_response(const InferenceResponse& response,
                                                     const DecodedInferRequest& request) {
  EncodedInferResponse out;
  out.body.reserve(256);
  StringOutput body{&out.body};
  alignas(16) char level_space[1024];  // the writer's nesting stack: no malloc
  rapidjson::MemoryPoolAllocator<> levels(level_space, sizeof(level_space));
  JsonWriter w(body, &levels);
  std::string binary;
  w.StartObject();
  w.Key("model_name");
  w.String(response.model);
  w.Key("model_version");
  w.String(std::to_string(response.version));
  if (!response.id.empty()) {
    w.Key("id");
    w.String(response.id);
  }
  w.Key("outputs");
  w.StartArray();
  for (const NamedValue& nv : response.outputs) {
    if (!nv.value.is_tensor()) return Status::Internal("output '" + nv.name + "' is not a tensor");
    const Tensor& t = nv.value.tensor();
    w.StartObject();
    w.Key("name");
    w.String(nv.name);
    w.Key("datatype");
    std::string_view dt = kserve_datatype_name(t.dtype());
    w.String(dt.data(), static_cast<rapidjson::SizeType>(dt.size()));
    w.Key("shape");
    w.StartArray();
    for (int64_t d : t.shape()) w.Int64(d);
    w.EndArray();
    if (auto shm = request.shared_memory_outputs.find(nv.name); shm != request.shared_memory_outputs.end()) {
      KILN_ASSIGN_OR_RETURN(const uint64_t written, write_tensor_to_shared_memory(t, shm->second, nv.name));
      w.Key("parameters");
      w.StartObject();
      w.Key("shared_memory_region");
      w.String(shm->second.region->status().name);
      w.Key("shared_memory_byte_size");
      w.Uint64(written);
      if (shm->second.offset != 0) {
        w.Key("shared_memory_offset");
        w.Uint64(shm->second.offset);
      }
      w.EndObject();
      w.EndObject();
      continue;
    }
    auto it = request.binary_output.find(nv.name);
    const bool as_binary = it != request.binary_output.end() ? it->second : request.binary_output_default;
    if (as_binary) {
      w.Key("parameters");
      w.StartObject();
      w.Key("binary_data_size");
      w.Uint64(append_raw_tensor(t, &binary));
      w.EndObject();
    } else {
      w.Key("data");
      write_tensor_json(t, &w);
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  if (!binary.empty() ||
      std::any_of(request.binary_output.begin(), request.binary_output.end(),
                  [](const auto& kv) { return kv.second; }) ||
      request.binary_output_default) {
    out.header_length = out.body.size();
    out.body += binary;
  }
  return out;
}

}  // namespace kiln::serve::http
