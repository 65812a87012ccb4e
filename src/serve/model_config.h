// ModelConfig: what kiln reads from a Triton config.pbtxt, completed from the model itself.
//
// Fields that matter here: name, platform/backend, max_batch_size, input/output (name, data_type,
// dims; an output's label_filename), dynamic_batching {preferred_batch_size,
// max_queue_delay_microseconds}, instance_group count, version_policy latest/all/specific,
// default_model_filename. Everything else in the file is ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/data_type.h"
#include "kiln/session.h"
#include "kiln/status.h"

namespace kiln::serve {

// A model input or output as served: the full shape a client sends or receives, the batch dimension
// included (as -1) when the model batches.
struct TensorConfig {
  std::string name;
  DataType dtype = DataType::kUndefined;
  std::vector<int64_t> dims;  // -1 for a dynamic dimension
  bool optional = false;      // an input backed by an initializer may be omitted
  // An output's class names (Triton's label_filename, a file in the model's folder, one label a line):
  // classification answers "value:index:label" with them. The repository reads the file at load.
  std::string label_filename;
  std::vector<std::string> labels;
};

struct VersionPolicy {
  enum class Kind { kLatest, kAll, kSpecific };
  Kind kind = Kind::kLatest;
  int64_t num_versions = 1;       // for kLatest
  std::vector<int64_t> versions;  // for kSpecific
};

struct ModelConfig {
  std::string name;
  std::string platform = "onnxruntime_onnx";  // Triton's name for ONNX models; kiln serves only these
  // > 0: inputs and outputs carry a leading batch dimension and requests may be merged up to this many
  // rows. 0: the model does not batch; shapes are exactly the model's.
  int64_t max_batch_size = 0;
  bool max_batch_size_set = false;  // false: infer it from the model
  std::vector<TensorConfig> inputs;
  std::vector<TensorConfig> outputs;
  bool dynamic_batching = false;
  std::vector<int64_t> preferred_batch_sizes;
  int64_t max_queue_delay_us = 0;
  int64_t instance_count = 1;
  VersionPolicy version_policy;
  std::string default_model_filename = "model.onnx";
};

// Max batch size given to a model without a config whose inputs and outputs all have a dynamic first
// dimension; Triton's auto-complete uses the same default.
inline constexpr int64_t kDefaultMaxBatchSize = 4;

// Parses config.pbtxt text. `source` names the file in errors. Fails with InvalidArgument naming the
// field on a value of the wrong kind (a string for max_batch_size, an unknown data_type).
Expected<ModelConfig> parse_model_config(std::string_view text, std::string_view source);

// Completes `config` from the loaded model, as Triton's auto-complete does: fills in inputs and
// outputs the config omits, infers max_batch_size when unset, and checks that what the config states
// agrees with the model (names exist, data types match, fixed dims agree). Errors name the model.
Status complete_model_config(const Session& session, ModelConfig* config);

// "TYPE_FP32" -> kFloat32 (Triton's config spelling); nullopt when unknown.
std::optional<DataType> data_type_from_config_name(std::string_view name);

}  // namespace kiln::serve
