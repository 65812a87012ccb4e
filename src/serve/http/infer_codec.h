// The KServe v2 inference request and response bodies over HTTP: JSON tensors, and the binary tensor
// data extension (a JSON header of Inference-Header-Content-Length bytes, then each binary tensor's
// bytes in order, sized by its "binary_data_size" parameter).
//
// Decoding checks everything a client controls (datatype names, shapes against data sizes, element
// types and ranges, binary section bounds) before allocating, so a malformed body costs no more than
// its own size and yields InvalidArgument naming the input and the reason.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "kiln/status.h"
#include "serve/inference_request.h"
#include "serve/shared_memory/shared_memory_tensors.h"

namespace kiln::serve::http {

struct DecodedInferRequest {
  InferenceRequest request;
  // Which outputs to send in binary form: the "binary_data" parameter of each requested output, or
  // the request's "binary_data_output" parameter for the rest.
  bool binary_output_default = false;
  std::map<std::string, bool> binary_output;
  std::optional<int64_t> timeout_us;  // the request's "timeout" parameter (Triton's), if given
  // Requested outputs with Triton's shared-memory parameters: written there, sent without data.
  SharedMemoryOutputs shared_memory_outputs;
};

// `header_length`: the Inference-Header-Content-Length header's value, when present (the JSON is then
// body[0, header_length) and the rest is binary tensor data). Inputs and outputs that name a region in
// their shared_memory_region parameter are resolved in `shared_memory` (InvalidArgument naming the
// tensor when the region is unknown or too small).
Expected<DecodedInferRequest> decode_infer_request(std::string_view body, std::optional<size_t> header_length,
                                                   const SystemSharedMemory& shared_memory);

struct EncodedInferResponse {
  std::string body;
  std::optional<size_t> header_length;  // set when any output is binary: the JSON part's length
};

// Outputs in `request.shared_memory_outputs` are written to their region (InvalidArgument naming the
// output when it does not fit) and answered with their shared-memory parameters instead of data.
Expected<EncodedInferResponse> encode_infer_response(const InferenceResponse& response,
                                                     const DecodedInferRequest& request);

}  // namespace kiln::serve::http
