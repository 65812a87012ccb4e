// ScopedRequestBuffers: request tensors come from the decoding thread's pool, and the block of a
// finished request, freed on another thread, serves the next one.
#include "serve/request_buffers.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "kiln/tensor.h"

namespace kiln::serve {
namespace {

TEST(RequestBuffers, AFinishedRequestsBlockServesTheNext) {
  const Shape image{1, 3, 224, 224};  // 600 KB: past the size that would be a fresh mapping each time
  const void* first = nullptr;
  {
    Tensor t = [&] {
      const ScopedRequestBuffers buffers;
      return Tensor(DataType::kFloat32, image, Tensor::Init::kUninitialized);
    }();
    first = t.raw();
    std::thread worker([t = std::move(t)]() mutable { t = Tensor(); });  // freed where the request ran
    worker.join();
  }
  const ScopedRequestBuffers buffers;
  const Tensor next(DataType::kFloat32, image, Tensor::Init::kUninitialized);
  EXPECT_EQ(next.raw(), first);
}

// The requests of a burst, freed together, serve the next burst even after many small decodes between
// them (the other I/O thread took the connections meanwhile): no fresh, faulting mapping per request.
// A block that went back to the system would come back as a fresh zeroed mapping, maybe at the same
// address, so the test marks each block's last element and looks for the mark.
TEST(RequestBuffers, ABurstsBlocksOutlastTheEnginesIdleWindow) {
  const Shape image{1, 3, 224, 224};
  const int64_t last = shape_size(image) - 1;
  std::vector<Tensor> burst;
  for (int i = 0; i < 8; ++i) {
    const ScopedRequestBuffers buffers;
    burst.emplace_back(DataType::kFloat32, image, Tensor::Init::kUninitialized);
    burst.back().data<float>()[last] = 42.f;
  }
  std::thread([burst = std::move(burst)]() mutable { burst.clear(); }).join();
  for (uint64_t i = 0; i < 4 * BufferPool::kIdleRunsBeforeRelease; ++i) {
    const ScopedRequestBuffers buffers;
    const Tensor small(DataType::kFloat32, Shape{1, 4}, Tensor::Init::kUninitialized);
  }
  for (int i = 0; i < 8; ++i) {
    const ScopedRequestBuffers buffers;
    burst.emplace_back(DataType::kFloat32, image, Tensor::Init::kUninitialized);
    EXPECT_EQ(burst.back().data<float>()[last], 42.f) << "request " << i << " got a fresh block";
  }
}

TEST(RequestBuffers, ThePoolIsInstalledOnlyForTheScope) {
  EXPECT_EQ(ScopedBufferPool::current(), nullptr);
  {
    const ScopedRequestBuffers buffers;
    EXPECT_NE(ScopedBufferPool::current(), nullptr);
  }
  EXPECT_EQ(ScopedBufferPool::current(), nullptr);
}

}  // namespace
}  // namespace kiln::serve
