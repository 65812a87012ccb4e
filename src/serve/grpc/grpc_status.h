// kiln's Status to gRPC's: the one place the gRPC frontend maps error codes.
#pragma once

#include <grpcpp/support/status.h>

#include "kiln/status.h"

namespace kiln::serve::grpc_frontend {

// OK for OK; otherwise the gRPC code of the same meaning (INTERNAL for codes gRPC has no peer of) and
// the same message.
grpc::Status to_grpc(const Status& st);

}  // namespace kiln::serve::grpc_frontend
