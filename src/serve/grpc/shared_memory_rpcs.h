// The system shared memory RPCs of Triton's GRPCInferenceService (SystemSharedMemoryStatus, Register,
// Unregister) on the registry both frontends share (serve/shared_memory/system_shared_memory.h).
#pragma once

#include "grpc_predict_v2.pb.h"
#include "kiln/status.h"
#include "serve/shared_memory/system_shared_memory.h"

namespace kiln::serve::grpc_frontend {

// Every region, or the one named (NotFound when it is not registered).
Status system_shared_memory_status(const SystemSharedMemory& shared_memory,
                                   const inference::SystemSharedMemoryStatusRequest& request,
                                   inference::SystemSharedMemoryStatusResponse* response);

// InvalidArgument as SystemSharedMemory::register_region.
Status system_shared_memory_register(SystemSharedMemory& shared_memory,
                                     const inference::SystemSharedMemoryRegisterRequest& request);

// The region named, or every region when the name is empty; unknown names are not an error.
void system_shared_memory_unregister(SystemSharedMemory& shared_memory,
                                     const inference::SystemSharedMemoryUnregisterRequest& request);

}  // namespace kiln::serve::grpc_frontend
