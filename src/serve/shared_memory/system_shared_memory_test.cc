#include "serve/shared_memory/system_shared_memory.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <limits>

#include "serve/shared_memory/shared_memory_tensors.h"

namespace kiln::serve {
namespace {

// A POSIX shared memory object of `size` bytes for one test, removed after it.
class ShmObject {
 public:
  explicit ShmObject(size_t size) : key_("/kiln_test_" + std::to_string(::getpid()) + "_" + std::to_string(next_++)) {
    const int fd = ::shm_open(key_.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    EXPECT_GE(fd, 0) << std::strerror(errno);
    EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT_NE(p, MAP_FAILED);
    bytes_ = static_cast<unsigned char*>(p);
    size_ = size;
    ::close(fd);
  }
  ~ShmObject() {
    ::munmap(bytes_, size_);
    ::shm_unlink(key_.c_str());
  }
  const std::string& key() const { return key_; }
  unsigned char* bytes() { return bytes_; }

 private:
  static inline int next_ = 0;
  std::string key_;
  unsigned char* bytes_ = nullptr;
  size_t size_ = 0;
};

template <typename T>
std::string error_of(const Expected<T>& e) {
  return e.ok() ? "" : e.status().message();
}

TEST(SystemSharedMemory, RegistersResolvesAndReadsAnInputAtAnUnalignedOffset) {
  ShmObject obj(8192);
  const float values[] = {1.5f, -2.f, 3.25f, 4.f};
  std::memcpy(obj.bytes() + 4100 + 8, values, sizeof(values));
  SystemSharedMemory shm;
  ASSERT_TRUE(shm.register_region({"r", obj.key(), 4100, 100}).ok());
  auto target = shm.resolve({"r", 8, 16}, "input 'x': ");
  ASSERT_TRUE(target.ok()) << target.status().message();
  auto t = tensor_from_shared_memory(*target, DataType::kFloat32, {2, 2}, "x");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(std::memcmp(t->raw(), values, sizeof(values)), 0);
  auto status = shm.status("");
  ASSERT_TRUE(status.ok());
  ASSERT_EQ(status->size(), 1u);
  EXPECT_EQ((*status)[0].name, "r");
  EXPECT_EQ((*status)[0].key, obj.key());
  EXPECT_EQ((*status)[0].offset, 4100u);
  EXPECT_EQ((*status)[0].byte_size, 100u);
}

TEST(SystemSharedMemory, RejectsRegionsOutsideTheObjectAndOverflowingNumbers) {
  ShmObject obj(64);
  SystemSharedMemory shm;
  EXPECT_NE(shm.register_region({"r", obj.key(), 0, 65}).message().find("exceeds the object's 64 bytes"),
            std::string::npos);
  EXPECT_NE(shm.register_region({"r", obj.key(), 60, 8}).message().find("exceeds"), std::string::npos);
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  EXPECT_NE(shm.register_region({"r", obj.key(), kMax, 2}).message().find("out of range"), std::string::npos);
  EXPECT_NE(shm.register_region({"r", obj.key(), 1, kMax}).message().find("out of range"), std::string::npos);
  EXPECT_NE(shm.register_region({"r", obj.key(), 0, 0}).message().find("byte_size must be positive"),
            std::string::npos);
  EXPECT_TRUE(shm.status("")->empty());
}

TEST(SystemSharedMemory, AnUnknownKeyNamesTheKeyAndTheReason) {
  SystemSharedMemory shm;
  const Status st = shm.register_region({"r", "/kiln_test_no_such_object", 0, 16});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("'/kiln_test_no_such_object'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("No such file or directory"), std::string::npos) << st.message();
}

TEST(SystemSharedMemory, RegistrationCanBeRefused) {
  ShmObject obj(64);
  SystemSharedMemory shm(SystemSharedMemory::Options{false});
  EXPECT_NE(shm.register_region({"r", obj.key(), 0, 64}).message().find("--allow-client-shm"), std::string::npos);
  EXPECT_TRUE(shm.status("")->empty());
}

TEST(SystemSharedMemory, RegisteringANameTwiceFails) {
  ShmObject obj(64);
  SystemSharedMemory shm;
  ASSERT_TRUE(shm.register_region({"r", obj.key(), 0, 64}).ok());
  EXPECT_NE(shm.register_region({"r", obj.key(), 0, 32}).message().find("already registered"), std::string::npos);
  EXPECT_EQ(shm.status("r")->at(0).byte_size, 64u);
}

TEST(SystemSharedMemory, ResolveChecksTheWindowAgainstTheRegion) {
  ShmObject obj(64);
  SystemSharedMemory shm;
  ASSERT_TRUE(shm.register_region({"r", obj.key(), 16, 32}).ok());
  EXPECT_TRUE(shm.resolve({"r", 0, 32}, "").ok());
  EXPECT_TRUE(shm.resolve({"r", 32, 0}, "").ok());
  EXPECT_NE(error_of(shm.resolve({"r", 8, 32}, "input 'x': ")).find("input 'x': shared_memory_offset 8"),
            std::string::npos);
  EXPECT_NE(error_of(shm.resolve({"r", 33, 0}, "")).find("exceeds the 32 bytes of region 'r'"), std::string::npos);
  EXPECT_FALSE(shm.resolve({"r", 1, std::numeric_limits<uint64_t>::max()}, "").ok());  // no wrap-around
  EXPECT_NE(
      error_of(shm.resolve({"nope", 0, 4}, "output 'y': ")).find("output 'y': system shared memory region 'nope'"),
      std::string::npos);
}

TEST(SystemSharedMemory, AResolvedRegionStaysMappedAfterUnregistering) {
  ShmObject obj(64);
  SystemSharedMemory shm;
  ASSERT_TRUE(shm.register_region({"r", obj.key(), 0, 64}).ok());
  auto target = shm.resolve({"r", 0, 8}, "");
  ASSERT_TRUE(target.ok());
  shm.unregister_region("r");
  shm.unregister_region("r");  // unknown names are fine
  EXPECT_EQ(shm.status("r").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(shm.resolve({"r", 0, 8}, "").ok());
  // The request that resolved it still writes into the mapping the client sees.
  auto written = write_tensor_to_shared_memory(Tensor::from_vector<int32_t>({2}, {7, 9}), *target, "y");
  ASSERT_TRUE(written.ok()) << written.status().message();
  EXPECT_EQ(*written, 8u);
  int32_t back[2];
  std::memcpy(back, obj.bytes(), sizeof(back));
  EXPECT_EQ(back[0], 7);
  EXPECT_EQ(back[1], 9);
}

TEST(SystemSharedMemory, UnregisterAllForgetsEveryRegion) {
  ShmObject obj(64);
  SystemSharedMemory shm;
  ASSERT_TRUE(shm.register_region({"a", obj.key(), 0, 32}).ok());
  ASSERT_TRUE(shm.register_region({"b", obj.key(), 32, 32}).ok());
  EXPECT_EQ(shm.status("")->size(), 2u);
  shm.unregister_all();
  EXPECT_TRUE(shm.status("")->empty());
}

TEST(SharedMemoryTensors, SizeMismatchesNameTheTensor) {
  ShmObject obj(64);
  SystemSharedMemory shm;
  ASSERT_TRUE(shm.register_region({"r", obj.key(), 0, 64}).ok());
  auto input = shm.resolve({"r", 0, 12}, "");
  EXPECT_NE(error_of(tensor_from_shared_memory(*input, DataType::kFloat32, {4}, "x"))
                .find("input 'x': shape [4] of FP32 needs 16 bytes, shared_memory_byte_size is 12"),
            std::string::npos);
  auto output = shm.resolve({"r", 60, 4}, "");
  EXPECT_NE(error_of(write_tensor_to_shared_memory(Tensor::from_vector<float>({2}, {1, 2}), *output, "y"))
                .find("output 'y': 8 bytes do not fit in shared_memory_byte_size 4 of region 'r'"),
            std::string::npos);
}

TEST(SharedMemoryTensors, BytesRoundTripThroughTheRawForm) {
  ShmObject obj(64);
  SystemSharedMemory shm;
  ASSERT_TRUE(shm.register_region({"r", obj.key(), 0, 64}).ok());
  auto t = Tensor::make(DataType::kString, {2});
  ASSERT_TRUE(t.ok());
  t->data<std::string>()[0] = "hi";
  t->data<std::string>()[1] = "";
  auto out = shm.resolve({"r", 0, 64}, "");
  auto written = write_tensor_to_shared_memory(*t, *out, "y");
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(*written, 10u);
  auto back = tensor_from_shared_memory(*shm.resolve({"r", 0, *written}, ""), DataType::kString, {2}, "x");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->data<std::string>()[0], "hi");
  EXPECT_EQ(back->data<std::string>()[1], "");
}

}  // namespace
}  // namespace kiln::serve
