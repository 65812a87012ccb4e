#include "serve/shared_memory/system_shared_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

namespace kiln::serve {

namespace {

std::string describe(const SharedMemoryRegionStatus& s) {
  return "system shared memory region '" + s.name + "' (key '" + s.key + "')";
}

// Closes a descriptor on every way out.
struct FdCloser {
  int fd;
  ~FdCloser() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

SharedMemoryRegion::~SharedMemoryRegion() { ::munmap(mapping_, mapping_size_); }

Expected<std::shared_ptr<const SharedMemoryRegion>> SharedMemoryRegion::map(SharedMemoryRegionStatus status) {
  const std::string what = describe(status);
  if (status.byte_size == 0) return Status::InvalidArgument(what + ": byte_size must be positive");
  // offset + byte_size is client-given: check before adding, and again against off_t's range.
  if (status.offset > std::numeric_limits<uint64_t>::max() - status.byte_size ||
      status.offset + status.byte_size > static_cast<uint64_t>(std::numeric_limits<off_t>::max())) {
    return Status::InvalidArgument(what + ": offset " + std::to_string(status.offset) + " + byte_size " +
                                   std::to_string(status.byte_size) + " is out of range");
  }
  const int fd = ::shm_open(status.key.c_str(), O_RDWR, 0);
  if (fd < 0) {
    return Status::InvalidArgument(what + ": cannot open the shared memory object: " + std::strerror(errno));
  }
  FdCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return Status::InvalidArgument(what + ": cannot stat the shared memory object: " + std::strerror(errno));
  }
  const uint64_t end = status.offset + status.byte_size;
  if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) < end) {
    return Status::InvalidArgument(what + ": offset " + std::to_string(status.offset) + " + byte_size " +
                                   std::to_string(status.byte_size) + " exceeds the object's " +
                                   std::to_string(st.st_size) + " bytes");
  }
  // mmap wants a page-aligned file offset: map from the page holding `offset`.
  const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t mapping_offset = status.offset - status.offset % page;
  const auto mapping_size = static_cast<size_t>(end - mapping_offset);
  void* p = ::mmap(nullptr, mapping_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(mapping_offset));
  if (p == MAP_FAILED) return Status::InvalidArgument(what + ": cannot map it: " + std::strerror(errno));
  return std::shared_ptr<const SharedMemoryRegion>(
      new SharedMemoryRegion(std::move(status), static_cast<std::byte*>(p), mapping_size, mapping_offset));
}

Status SystemSharedMemory::register_region(SharedMemoryRegionStatus status) {
  if (!options_.allow_registration) {
    return Status::InvalidArgument("system shared memory region '" + status.name +
                                   "': this server does not let clients register shared memory (kiln serve "
                                   "--allow-client-shm enables it); send tensors in the request body");
  }
  if (status.name.empty()) return Status::InvalidArgument("a system shared memory region needs a name");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (regions_.count(status.name) != 0) {
      return Status::InvalidArgument("system shared memory region '" + status.name +
                                     "' is already registered; unregister it first");
    }
  }
  // Map outside the lock (a system call per page table); recheck the name when inserting.
  const std::string name = status.name;
  KILN_ASSIGN_OR_RETURN(auto region, SharedMemoryRegion::map(std::move(status)));
  std::lock_guard<std::mutex> lock(mu_);
  if (!regions_.emplace(name, std::move(region)).second) {
    return Status::InvalidArgument("system shared memory region '" + name +
                                   "' is already registered; unregister it first");
  }
  return Status::OK();
}

void SystemSharedMemory::unregister_region(const std::string& name) {
  std::shared_ptr<const SharedMemoryRegion> dropped;  // unmapped after the lock is released
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = regions_.find(name); it != regions_.end()) {
    dropped = std::move(it->second);
    regions_.erase(it);
  }
}

void SystemSharedMemory::unregister_all() {
  std::map<std::string, std::shared_ptr<const SharedMemoryRegion>> dropped;
  std::lock_guard<std::mutex> lock(mu_);
  dropped.swap(regions_);
}

Expected<std::vector<SharedMemoryRegionStatus>> SystemSharedMemory::status(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SharedMemoryRegionStatus> out;
  if (name.empty()) {
    for (const auto& [n, region] : regions_) out.push_back(region->status());
    return out;
  }
  auto it = regions_.find(name);
  if (it == regions_.end()) {
    return Status::NotFound("system shared memory region '" + name + "' is not registered");
  }
  out.push_back(it->second->status());
  return out;
}

Expected<SharedMemoryTensorTarget> SystemSharedMemory::resolve(const SharedMemoryTensorRef& ref,
                                                               std::string_view where) const {
  std::shared_ptr<const SharedMemoryRegion> region;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = regions_.find(ref.region); it != regions_.end()) region = it->second;
  }
  if (region == nullptr) {
    return Status::InvalidArgument(std::string(where) + "system shared memory region '" + ref.region +
                                   "' is not registered");
  }
  const uint64_t size = region->status().byte_size;
  if (ref.offset > size || ref.byte_size > size - ref.offset) {
    return Status::InvalidArgument(std::string(where) + "shared_memory_offset " + std::to_string(ref.offset) +
                                   " + shared_memory_byte_size " + std::to_string(ref.byte_size) + " exceeds the " +
                                   std::to_string(size) + " bytes of region '" + ref.region + "'");
  }
  return SharedMemoryTensorTarget{std::move(region), ref.offset, ref.byte_size};
}

}  // namespace kiln::serve
