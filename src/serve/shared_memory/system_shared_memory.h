// SystemSharedMemory: Triton's system shared memory extension, the frontend-neutral part. A client
// creates a POSIX shared memory object (shm_open), registers a window of it under a name, then names
// that region in an inference request's input or output parameters instead of sending the bytes
// through the socket. Both frontends (HTTP and gRPC) share one registry, so a region registered over
// one protocol is usable over the other, as in Triton.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/status.h"

namespace kiln::serve {

// What a client registered: `byte_size` bytes from `offset` of the POSIX shared memory object `key`.
struct SharedMemoryRegionStatus {
  std::string name;
  std::string key;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
};

// One registered region, mapped read-write. Unmapped when the last holder lets go: a request that
// resolved the region keeps its bytes mapped even if the region is unregistered meanwhile. Immutable
// once made, so any thread may use it; the bytes themselves are the client's, who may write them at
// any time (kiln copies inputs out before running and writes outputs once, after).
class SharedMemoryRegion {
 public:
  ~SharedMemoryRegion();
  SharedMemoryRegion(const SharedMemoryRegion&) = delete;
  SharedMemoryRegion& operator=(const SharedMemoryRegion&) = delete;

  const SharedMemoryRegionStatus& status() const { return status_; }
  // The region's bytes [offset, offset + byte_size) of the object.
  std::byte* data() const { return mapping_ + (status_.offset - mapping_offset_); }
  size_t size() const { return static_cast<size_t>(status_.byte_size); }

  // Maps the region; InvalidArgument naming the region and key when the object cannot be opened (with
  // the system's reason), is smaller than offset + byte_size, or the numbers overflow.
  static Expected<std::shared_ptr<const SharedMemoryRegion>> map(SharedMemoryRegionStatus status);

 private:
  SharedMemoryRegion(SharedMemoryRegionStatus status, std::byte* mapping, size_t mapping_size, uint64_t mapping_offset)
      : status_(std::move(status)), mapping_(mapping), mapping_size_(mapping_size), mapping_offset_(mapping_offset) {}

  const SharedMemoryRegionStatus status_;
  std::byte* const mapping_;   // mmap's address: the object from mapping_offset_ (page-aligned)
  const size_t mapping_size_;  // bytes mapped, for munmap
  const uint64_t mapping_offset_;
};

// Where one tensor lives inside a registered region: the shared_memory_region, shared_memory_offset
// and shared_memory_byte_size parameters of an input or a requested output.
struct SharedMemoryTensorRef {
  std::string region;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
};

// A reference resolved against the registry: the region (held alive) and the checked window in it.
struct SharedMemoryTensorTarget {
  std::shared_ptr<const SharedMemoryRegion> region;
  uint64_t offset = 0;
  uint64_t byte_size = 0;
  std::byte* data() const { return region->data() + offset; }
};

// The registry of system shared memory regions by name. Thread-safe.
class SystemSharedMemory {
 public:
  struct Options {
    // A client that may register a region may read and write any shared memory object the server's
    // user can open (another service's, too): Triton makes it opt-in (--allow-client-shm), and so
    // does `kiln serve`.
    bool allow_registration = true;
  };
  SystemSharedMemory() = default;
  explicit SystemSharedMemory(Options options) : options_(options) {}

  // Maps and records a region. InvalidArgument when registration is not allowed, the name is taken or
  // empty, byte_size is 0, or mapping fails (SharedMemoryRegion::map).
  Status register_region(SharedMemoryRegionStatus status);

  // Forgets a region (requests holding it keep their mapping until they finish). An unknown name is
  // not an error, as in Triton: clients unregister while cleaning up.
  void unregister_region(const std::string& name);
  void unregister_all();

  // Every region by name, or the one named (NotFound when it is not registered).
  Expected<std::vector<SharedMemoryRegionStatus>> status(const std::string& name) const;

  // Resolves a tensor's parameters: InvalidArgument naming `where` (e.g. "input 'x': ") when the region
  // is not registered or [offset, offset + byte_size) does not fit inside it.
  Expected<SharedMemoryTensorTarget> resolve(const SharedMemoryTensorRef& ref, std::string_view where) const;

 private:
  const Options options_{};
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const SharedMemoryRegion>> regions_;  // guarded by mu_
};

}  // namespace kiln::serve
