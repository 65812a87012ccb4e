// ModelInferRequest / ModelInferResponse (KServe v2 gRPC) to and from the core's native types.
// Inputs come as typed contents, as raw_input_contents (serve/raw_tensor.h), or from system shared
// memory (Triton's shared_memory_* parameters); outputs go back as raw_output_contents, as Triton
// answers, so every datatype (FP16, BF16 included) round-trips, or into shared memory when requested.
#pragma once

#include "grpc_predict_v2.pb.h"
#include "kiln/status.h"
#include "serve/inference_request.h"
#include "serve/shared_memory/shared_memory_tensors.h"

namespace kiln::serve::grpc_frontend {

// Decodes a request; InvalidArgument naming the input or output and the reason for anything malformed.
// Tensors naming a shared memory region are resolved in `shared_memory`: inputs are copied out of it,
// requested outputs are added to `*shared_memory_outputs`. raw_input_contents then holds one entry per
// input that is not in shared memory, in order (as tritonclient sends them).
Expected<InferenceRequest> decode_model_infer(const inference::ModelInferRequest& request,
                                              const SystemSharedMemory& shared_memory,
                                              SharedMemoryOutputs* shared_memory_outputs);

// Fills `out` from the core's response. Outputs in `shared_memory_outputs` are written there and
// answered with their shared-memory parameters and an empty raw entry; InvalidArgument naming the
// output when one does not fit.
Status encode_model_infer(const InferenceResponse& response, const SharedMemoryOutputs& shared_memory_outputs,
                          inference::ModelInferResponse* out);

// "" -> 0 (latest); otherwise a positive integer, or InvalidArgument.
Expected<int64_t> parse_model_version(const std::string& text);

}  // namespace kiln::serve::grpc_frontend
