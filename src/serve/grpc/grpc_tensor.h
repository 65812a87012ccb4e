// ModelInferRequest / ModelInferResponse (KServe v2 gRPC) to and from the core's native types.
// Inputs come as typed contents or as raw_input_contents (serve/raw_tensor.h); outputs always go back
// as raw_output_contents, as Triton answers, so every datatype (FP16, BF16 included) round-trips.
#pragma once

#include "grpc_predict_v2.pb.h"
#include "kiln/status.h"
#include "serve/inference_request.h"

namespace kiln::serve::grpc_frontend {

// Decodes a request; InvalidArgument naming the input or output and the reason for anything malformed.
Expected<InferenceRequest> decode_model_infer(const inference::ModelInferRequest& request);

// Fills `out` from the core's response.
void encode_model_infer(const InferenceResponse& response, inference::ModelInferResponse* out);

// "" -> 0 (latest); otherwise a positive integer, or InvalidArgument.
Expected<int64_t> parse_model_version(const std::string& text);

}  // namespace kiln::serve::grpc_frontend
