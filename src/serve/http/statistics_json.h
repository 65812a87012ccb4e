// The JSON form of Triton's statistics extension: {"model_stats": [ {name, version, last_inference,
// inference_count, execution_count, inference_stats {success, fail, queue, compute_input,
// compute_infer, compute_output, cache_hit, cache_miss}, batch_stats [...]}, ... ]}, each duration as
// {"count": N, "ns": T}. Field names are Triton's, so tritonclient's get_inference_statistics reads it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "serve/model_version.h"

namespace kiln::serve::http {

std::string model_statistics_json(const std::vector<std::shared_ptr<ModelVersion>>& versions);

}  // namespace kiln::serve::http
