#include "serve/model_config.h"

#include "serve/text_format.h"

namespace kiln::serve {

std::optional<DataType> data_type_from_config_name(std::string_view name) {
  static const std::pair<std::string_view, DataType> kNames[] = {
      {"TYPE_BOOL", DataType::kBool},     {"TYPE_UINT8", DataType::kUInt8},   {"TYPE_UINT16", DataType::kUInt16},
      {"TYPE_UINT32", DataType::kUInt32}, {"TYPE_UINT64", DataType::kUInt64}, {"TYPE_INT8", DataType::kInt8},
      {"TYPE_INT16", DataType::kInt16},   {"TYPE_INT32", DataType::kInt32},   {"TYPE_INT64", DataType::kInt64},
      {"TYPE_FP16", DataType::kFloat16},  {"TYPE_FP32", DataType::kFloat32},  {"TYPE_FP64", DataType::kFloat64},
      {"TYPE_BF16", DataType::kBFloat16}, {"TYPE_STRING", DataType::kString},
  };
  for (const auto& [n, t] : kNames) {
    if (n == name) return t;
  }
  return std::nullopt;
}

namespace {

Expected<int64_t> int_field(const TextMessage& m, const std::string& field, int64_t fallback,
                            const std::string& where) {
  const TextValue* v = m.last(field);
  if (v == nullptr) return fallback;
  return v->as_int(where + field);
}

const TextMessage* message_field(const TextMessage& m, const std::string& field) {
  const TextValue* v = m.last(field);
  return v != nullptr && v->kind == TextValue::Kind::kMessage ? v->message.get() : nullptr;
}

Expected<std::vector<TensorConfig>> tensor_list(const TextMessage& m, const std::string& field,
                                                const std::string& where) {
  std::vector<TensorConfig> out;
  for (const TextValue& v : m.values(field)) {
    if (v.kind != TextValue::Kind::kMessage) return Status::InvalidArgument(where + field + ": expected a message");
    TensorConfig t;
    if (const TextValue* n = v.message->last("name")) t.name = n->text;
    if (t.name.empty()) return Status::InvalidArgument(where + field + ": an entry has no name");
    const std::string here = where + field + " '" + t.name + "': ";
    if (const TextValue* dt = v.message->last("data_type")) {
      auto type = data_type_from_config_name(dt->text);
      if (!type) return Status::InvalidArgument(here + "unknown data_type '" + dt->text + "'");
      t.dtype = *type;
    }
    for (const TextValue& d : v.message->values("dims")) {
      KILN_ASSIGN_OR_RETURN(int64_t dim, d.as_int(here + "dims"));
      if (dim < -1) return Status::InvalidArgument(here + "dims must be -1 or >= 0, got " + d.text);
      t.dims.push_back(dim);
    }
    if (const TextValue* opt = v.message->last("optional")) {
      KILN_ASSIGN_OR_RETURN(t.optional, opt->as_bool(here + "optional"));
    }
    if (const TextValue* labels = v.message->last("label_filename")) {
      if (labels->kind != TextValue::Kind::kString) {
        return Status::InvalidArgument(here + "label_filename: expected a quoted file name");
      }
      t.label_filename = labels->text;
    }
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

Expected<ModelConfig> parse_model_config(std::string_view text, std::string_view source) {
  KILN_ASSIGN_OR_RETURN(TextMessage m, parse_text_format(text, source));
  const std::string where = std::string(source) + ": ";
  ModelConfig c;
  if (const TextValue* v = m.last("name")) c.name = v->text;
  std::string platform;
  if (const TextValue* v = m.last("platform")) platform = v->text;
  if (const TextValue* v = m.last("backend")) platform = platform.empty() ? v->text : platform;
  if (!platform.empty() && platform != "onnxruntime_onnx" && platform != "onnxruntime" && platform != "onnx" &&
      platform != "kiln") {
    return Status::Unimplemented(where + "platform/backend '" + platform + "' is not ONNX; kiln serves ONNX models");
  }
  if (m.last("max_batch_size") != nullptr) {
    KILN_ASSIGN_OR_RETURN(c.max_batch_size, int_field(m, "max_batch_size", 0, where));
    if (c.max_batch_size < 0) return Status::InvalidArgument(where + "max_batch_size must be >= 0");
    c.max_batch_size_set = true;
  }
  KILN_ASSIGN_OR_RETURN(c.inputs, tensor_list(m, "input", where));
  KILN_ASSIGN_OR_RETURN(c.outputs, tensor_list(m, "output", where));
  if (const TextMessage* db = message_field(m, "dynamic_batching")) {
    c.dynamic_batching = true;
    for (const TextValue& v : db->values("preferred_batch_size")) {
      KILN_ASSIGN_OR_RETURN(int64_t n, v.as_int(where + "dynamic_batching.preferred_batch_size"));
      if (n <= 0) return Status::InvalidArgument(where + "preferred_batch_size must be > 0");
      c.preferred_batch_sizes.push_back(n);
    }
    KILN_ASSIGN_OR_RETURN(c.max_queue_delay_us,
                          int_field(*db, "max_queue_delay_microseconds", 0, where + "dynamic_batching."));
    if (c.max_queue_delay_us < 0) return Status::InvalidArgument(where + "max_queue_delay_microseconds must be >= 0");
  }
  // Triton allows several instance groups; kiln runs on the CPU only, so their counts add up.
  const auto& groups = m.values("instance_group");
  if (!groups.empty()) {
    c.instance_count = 0;
    for (const TextValue& g : groups) {
      if (g.kind != TextValue::Kind::kMessage)
        return Status::InvalidArgument(where + "instance_group: expected a message");
      KILN_ASSIGN_OR_RETURN(int64_t n, int_field(*g.message, "count", 1, where + "instance_group."));
      if (n <= 0) return Status::InvalidArgument(where + "instance_group.count must be > 0");
      c.instance_count += n;
    }
  }
  if (const TextMessage* vp = message_field(m, "version_policy")) {
    if (const TextMessage* latest = message_field(*vp, "latest")) {
      c.version_policy.kind = VersionPolicy::Kind::kLatest;
      KILN_ASSIGN_OR_RETURN(c.version_policy.num_versions,
                            int_field(*latest, "num_versions", 1, where + "version_policy.latest."));
      if (c.version_policy.num_versions <= 0) return Status::InvalidArgument(where + "num_versions must be > 0");
    } else if (message_field(*vp, "all") != nullptr) {
      c.version_policy.kind = VersionPolicy::Kind::kAll;
    } else if (const TextMessage* spec = message_field(*vp, "specific")) {
      c.version_policy.kind = VersionPolicy::Kind::kSpecific;
      for (const TextValue& v : spec->values("versions")) {
        KILN_ASSIGN_OR_RETURN(int64_t n, v.as_int(where + "version_policy.specific.versions"));
        c.version_policy.versions.push_back(n);
      }
    } else {
      return Status::InvalidArgument(where + "version_policy must be latest, all or specific");
    }
  }
  if (const TextValue* v = m.last("default_model_filename")) c.default_model_filename = v->text;
  return c;
}

namespace {

// The dims a client sees for a model I/O, given whether the model batches.
std::vector<int64_t> served_dims(const IoInfo& io) { return io.has_shape ? io.dims : std::vector<int64_t>{}; }

Status complete_list(const std::string& model, const char* kind, const std::vector<IoInfo>& from_model,
                     int64_t max_batch, std::vector<TensorConfig>* list) {
  for (const TensorConfig& t : *list) {
    bool found = false;
    for (const IoInfo& io : from_model) found = found || io.name == t.name;
    if (!found) {
      return Status::InvalidArgument("model '" + model + "': config " + kind + " '" + t.name + "' is not a " + kind +
                                     " of the ONNX model");
    }
  }
  std::vector<TensorConfig> out;
  for (const IoInfo& io : from_model) {
    if (io.kind != IoInfo::Kind::kTensor) {
      return Status::Unimplemented("model '" + model + "': " + kind + " '" + io.name +
                                   "' is not a tensor; kiln serve handles tensor inputs and outputs only");
    }
    const TensorConfig* stated = nullptr;
    for (const TensorConfig& t : *list) {
      if (t.name == io.name) stated = &t;
    }
    TensorConfig t;
    t.name = io.name;
    t.dtype = io.dtype;
    t.optional = io.has_default;
    t.dims = served_dims(io);
    const std::string here = "model '" + model + "': " + kind + " '" + io.name + "': ";
    if (max_batch > 0 && (t.dims.empty() || (t.dims[0] != -1))) {
      return Status::InvalidArgument(here + "max_batch_size is " + std::to_string(max_batch) +
                                     " but the model's first dimension is not dynamic");
    }
    if (stated != nullptr) {
      if (stated->dtype != DataType::kUndefined && stated->dtype != io.dtype) {
        return Status::InvalidArgument(here + "config data_type is " + std::string(data_type_name(stated->dtype)) +
                                       " but the model has " + std::string(data_type_name(io.dtype)));
      }
      // Config dims exclude the batch dimension when the model batches (Triton's convention).
      std::vector<int64_t> dims = stated->dims;
      if (max_batch > 0) dims.insert(dims.begin(), -1);
      if (!stated->dims.empty() || max_batch == 0) {
        if (io.has_shape && dims.size() != t.dims.size()) {
          return Status::InvalidArgument(here + "config dims have rank " + std::to_string(stated->dims.size()) +
                                         " but the model's shape is " + shape_to_string(t.dims));
        }
        for (size_t i = 0; io.has_shape && i < dims.size(); ++i) {
          if (t.dims[i] != -1 && dims[i] != -1 && dims[i] != t.dims[i]) {
            return Status::InvalidArgument(here + "config dims " + shape_to_string(dims) +
                                           " disagree with the model's shape " + shape_to_string(t.dims));
          }
          if (t.dims[i] == -1) t.dims[i] = dims[i];  // a config may pin a dynamic dim
        }
        if (!io.has_shape) t.dims = dims;
      }
      t.optional = t.optional || stated->optional;
      t.label_filename = stated->label_filename;
      t.labels = stated->labels;
    }
    out.push_back(std::move(t));
  }
  *list = std::move(out);
  return Status::OK();
}

}  // namespace

Status complete_model_config(const Session& session, ModelConfig* config) {
  if (!config->max_batch_size_set) {
    // Batch when every input and output has a dynamic first dimension, as Triton's auto-complete does.
    bool batchable = !session.inputs().empty();
    for (const auto* list : {&session.inputs(), &session.outputs()}) {
      for (const IoInfo& io : *list) {
        batchable = batchable && io.has_shape && !io.dims.empty() && io.dims[0] == -1;
      }
    }
    config->max_batch_size = batchable ? kDefaultMaxBatchSize : 0;
    if (batchable && !config->dynamic_batching) config->dynamic_batching = true;
  }
  KILN_RETURN_IF_ERROR(complete_list(config->name, "input", session.inputs(), config->max_batch_size, &config->inputs));
  KILN_RETURN_IF_ERROR(
      complete_list(config->name, "output", session.outputs(), config->max_batch_size, &config->outputs));
  return Status::OK();
}

}  // namespace kiln::serve
