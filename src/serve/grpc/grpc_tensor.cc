#include "serve/grpc/grpc_tensor.h"

#include <charconv>
#include <limits>
#include <optional>
#include <vector>

#include "serve/datatype_names.h"
#include "serve/raw_tensor.h"

namespace kiln::serve::grpc_frontend {

namespace {

std::string prefix(const std::string& input) { return "input '" + input + "': "; }

// Copies a repeated contents field into a tensor of element type T, checking count and range.
template <typename T, typename Field>
Expected<Tensor> from_field(const Field& field, DataType dtype, const Shape& shape, const std::string& input,
                            int64_t count, const char* field_name) {
  if (field.size() != count) {
    return Status::InvalidArgument(prefix(input) + "shape " + shape_to_string(shape) + " needs " +
                                   std::to_string(count) + " elements, " + field_name + " has " +
                                   std::to_string(field.size()));
  }
  // Every element is written below or the tensor is dropped with the error: no zero-fill first.
  KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::make(dtype, shape, Tensor::Init::kUninitialized));
  T* out = t.data<T>();
  for (int64_t i = 0; i < count; ++i) {
    const auto v = field.Get(static_cast<int>(i));
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) {
        return Status::InvalidArgument(prefix(input) + "element " + std::to_string(i) + " is not a valid " +
                                       std::string(kserve_datatype_name(dtype)));
      }
    }
    out[i] = static_cast<T>(v);
  }
  return t;
}

Expected<Tensor> from_contents(const inference::InferTensorContents& c, DataType dtype, const Shape& shape,
                               const std::string& input) {
  KILN_ASSIGN_OR_RETURN(int64_t count, checked_element_count(shape, input));
  switch (dtype) {
    case DataType::kBool:
      return from_field<bool>(c.bool_contents(), dtype, shape, input, count, "bool_contents");
    case DataType::kInt8:
      return from_field<int8_t>(c.int_contents(), dtype, shape, input, count, "int_contents");
    case DataType::kInt16:
      return from_field<int16_t>(c.int_contents(), dtype, shape, input, count, "int_contents");
    case DataType::kInt32:
      return from_field<int32_t>(c.int_contents(), dtype, shape, input, count, "int_contents");
    case DataType::kInt64:
      return from_field<int64_t>(c.int64_contents(), dtype, shape, input, count, "int64_contents");
    case DataType::kUInt8:
      return from_field<uint8_t>(c.uint_contents(), dtype, shape, input, count, "uint_contents");
    case DataType::kUInt16:
      return from_field<uint16_t>(c.uint_contents(), dtype, shape, input, count, "uint_contents");
    case DataType::kUInt32:
      return from_field<uint32_t>(c.uint_contents(), dtype, shape, input, count, "uint_contents");
    case DataType::kUInt64:
      return from_field<uint64_t>(c.uint64_contents(), dtype, shape, input, count, "uint64_contents");
    case DataType::kFloat32:
      return from_field<float>(c.fp32_contents(), dtype, shape, input, count, "fp32_contents");
    case DataType::kFloat64:
      return from_field<double>(c.fp64_contents(), dtype, shape, input, count, "fp64_contents");
    case DataType::kString: {
      if (c.bytes_contents_size() != count) {
        return Status::InvalidArgument(prefix(input) + "shape " + shape_to_string(shape) + " needs " +
                                       std::to_string(count) + " elements, bytes_contents has " +
                                       std::to_string(c.bytes_contents_size()));
      }
      KILN_ASSIGN_OR_RETURN(Tensor t, Tensor::make(dtype, shape));
      for (int64_t i = 0; i < count; ++i) t.data<std::string>()[i] = c.bytes_contents(static_cast<int>(i));
      return t;
    }
    default:
      // The protocol has no typed field for FP16 and BF16.
      return Status::InvalidArgument(prefix(input) + std::string(kserve_datatype_name(dtype)) +
                                     " has no typed contents field; send it in raw_input_contents");
  }
}

Expected<uint64_t> uint64_param(const inference::InferParameter& p, const std::string& where, const char* key) {
  if (p.parameter_choice_case() == inference::InferParameter::kUint64Param) return p.uint64_param();
  if (p.parameter_choice_case() == inference::InferParameter::kInt64Param && p.int64_param() >= 0) {
    return static_cast<uint64_t>(p.int64_param());
  }
  return Status::InvalidArgument(where + "parameter '" + key + "' must be an int64 >= 0");
}

// Triton's shared-memory parameters of an input or requested output, when it has them.
Expected<std::optional<SharedMemoryTensorRef>> shared_memory_ref(
    const google::protobuf::Map<std::string, inference::InferParameter>& params, const std::string& where) {
  const auto region = params.find("shared_memory_region");
  const auto size = params.find("shared_memory_byte_size");
  const auto offset = params.find("shared_memory_offset");
  if (region == params.end()) {
    if (size != params.end() || offset != params.end()) {
      return Status::InvalidArgument(where +
                                     "shared_memory_byte_size and shared_memory_offset need parameter "
                                     "'shared_memory_region'");
    }
    return std::optional<SharedMemoryTensorRef>();
  }
  if (region->second.parameter_choice_case() != inference::InferParameter::kStringParam) {
    return Status::InvalidArgument(where + "parameter 'shared_memory_region' must be a string");
  }
  if (size == params.end()) {
    return Status::InvalidArgument(where + "parameter 'shared_memory_region' needs 'shared_memory_byte_size'");
  }
  SharedMemoryTensorRef ref;
  ref.region = region->second.string_param();
  KILN_ASSIGN_OR_RETURN(ref.byte_size, uint64_param(size->second, where, "shared_memory_byte_size"));
  if (offset != params.end()) {
    KILN_ASSIGN_OR_RETURN(ref.offset, uint64_param(offset->second, where, "shared_memory_offset"));
  }
  return std::optional<SharedMemoryTensorRef>(std::move(ref));
}

}  // namespace

Expected<int64_t> parse_model_version(const std::string& text) {
  if (text.empty()) return int64_t{0};
  int64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v <= 0) {
    return Status::InvalidArgument("version '" + text + "' is not a positive integer");
  }
  return v;
}

Expected<InferenceRequest> decode_model_infer(const inference::ModelInferRequest& request,
                                              const SystemSharedMemory& shared_memory,
                                              SharedMemoryOutputs* shared_memory_outputs) {
  InferenceRequest out;
  out.model = request.model_name();
  KILN_ASSIGN_OR_RETURN(out.version, parse_model_version(request.model_version()));
  out.id = request.id();
  std::vector<std::optional<SharedMemoryTensorRef>> shm(static_cast<size_t>(request.inputs_size()));
  int in_body = 0;  // inputs not in shared memory: raw_input_contents has one entry for each
  for (int i = 0; i < request.inputs_size(); ++i) {
    const auto& in = request.inputs(i);
    KILN_ASSIGN_OR_RETURN(shm[static_cast<size_t>(i)], shared_memory_ref(in.parameters(), prefix(in.name())));
    if (!shm[static_cast<size_t>(i)]) ++in_body;
  }
  const bool raw = request.raw_input_contents_size() > 0;
  if (raw && request.raw_input_contents_size() != in_body) {
    return Status::InvalidArgument("raw_input_contents has " + std::to_string(request.raw_input_contents_size()) +
                                   " entries for " + std::to_string(in_body) + " inputs not in shared memory");
  }
  int next_raw = 0;
  for (int i = 0; i < request.inputs_size(); ++i) {
    const auto& in = request.inputs(i);
    auto dtype = data_type_from_kserve_name(in.datatype());
    if (!dtype) return Status::InvalidArgument(prefix(in.name()) + "unknown datatype '" + in.datatype() + "'");
    Shape shape(in.shape().begin(), in.shape().end());
    Tensor t;
    if (const auto& ref = shm[static_cast<size_t>(i)]) {
      if (in.has_contents()) {
        return Status::InvalidArgument(prefix(in.name()) + "has both contents and 'shared_memory_region'");
      }
      KILN_ASSIGN_OR_RETURN(const SharedMemoryTensorTarget source, shared_memory.resolve(*ref, prefix(in.name())));
      KILN_ASSIGN_OR_RETURN(t, tensor_from_shared_memory(source, *dtype, shape, in.name()));
    } else if (raw) {
      if (in.has_contents()) {
        return Status::InvalidArgument(prefix(in.name()) + "has both contents and raw_input_contents");
      }
      KILN_ASSIGN_OR_RETURN(t, tensor_from_raw(request.raw_input_contents(next_raw++), *dtype, shape, in.name()));
    } else {
      KILN_ASSIGN_OR_RETURN(t, from_contents(in.contents(), *dtype, shape, in.name()));
    }
    out.inputs.push_back({in.name(), Value(std::move(t))});
  }
  for (const auto& o : request.outputs()) {
    if (auto c = o.parameters().find("classification"); c != o.parameters().end()) {
      if (c->second.parameter_choice_case() != inference::InferParameter::kInt64Param || c->second.int64_param() <= 0) {
        return Status::InvalidArgument("output '" + o.name() +
                                       "': parameter 'classification' must be a positive int64");
      }
      out.classification[o.name()] = c->second.int64_param();
    }
    const std::string where = "output '" + o.name() + "': ";
    KILN_ASSIGN_OR_RETURN(const std::optional<SharedMemoryTensorRef> ref, shared_memory_ref(o.parameters(), where));
    if (ref) {
      KILN_ASSIGN_OR_RETURN((*shared_memory_outputs)[o.name()], shared_memory.resolve(*ref, where));
    }
    out.requested_outputs.push_back(o.name());
  }
  if (auto it = request.parameters().find("timeout"); it != request.parameters().end()) {
    const auto& p = it->second;
    if (p.parameter_choice_case() != inference::InferParameter::kInt64Param || p.int64_param() < 0) {
      return Status::InvalidArgument("parameter 'timeout' must be a non-negative int64 (microseconds)");
    }
    if (p.int64_param() > 0) {
      out.deadline = Clock::now() + std::chrono::microseconds(std::min<int64_t>(p.int64_param(), kMaxRequestTimeoutUs));
    }
  }
  return out;
}

Status encode_model_infer(const InferenceResponse& response, const SharedMemoryOutputs& shared_memory_outputs,
                          inference::ModelInferResponse* out) {
  out->set_model_name(response.model);
  out->set_model_version(std::to_string(response.version));
  out->set_id(response.id);
  for (const NamedValue& nv : response.outputs) {
    const Tensor& t = nv.value.tensor();
    auto* o = out->add_outputs();
    o->set_name(nv.name);
    o->set_datatype(std::string(kserve_datatype_name(t.dtype())));
    for (int64_t d : t.shape()) o->add_shape(d);
    std::string* raw = out->add_raw_output_contents();
    if (auto shm = shared_memory_outputs.find(nv.name); shm != shared_memory_outputs.end()) {
      KILN_ASSIGN_OR_RETURN(const uint64_t written, write_tensor_to_shared_memory(t, shm->second, nv.name));
      auto& params = *o->mutable_parameters();
      params["shared_memory_region"].set_string_param(shm->second.region->status().name);
      params["shared_memory_byte_size"].set_int64_param(static_cast<int64_t>(written));
      if (shm->second.offset != 0) {
        params["shared_memory_offset"].set_int64_param(static_cast<int64_t>(shm->second.offset));
      }
      continue;
    }
    append_raw_tensor(t, raw);
  }
  return Status::OK();
}

}  // namespace kiln::serve::grpc_frontend
