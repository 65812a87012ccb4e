#include "serve/grpc/shared_memory_rpcs.h"

namespace kiln::serve::grpc_frontend {

Status system_shared_memory_status(const SystemSharedMemory& shared_memory,
                                   const inference::SystemSharedMemoryStatusRequest& request,
                                   inference::SystemSharedMemoryStatusResponse* response) {
  KILN_ASSIGN_OR_RETURN(const std::vector<SharedMemoryRegionStatus> regions, shared_memory.status(request.name()));
  for (const SharedMemoryRegionStatus& r : regions) {
    auto& out = (*response->mutable_regions())[r.name];
    out.set_name(r.name);
    out.set_key(r.key);
    out.set_offset(r.offset);
    out.set_byte_size(r.byte_size);
  }
  return Status::OK();
}

Status system_shared_memory_register(SystemSharedMemory& shared_memory,
                                     const inference::SystemSharedMemoryRegisterRequest& request) {
  return shared_memory.register_region({request.name(), request.key(), request.offset(), request.byte_size()});
}

void system_shared_memory_unregister(SystemSharedMemory& shared_memory,
                                     const inference::SystemSharedMemoryUnregisterRequest& request) {
  if (request.name().empty()) return shared_memory.unregister_all();
  shared_memory.unregister_region(request.name());
}

}  // namespace kiln::serve::grpc_frontend
