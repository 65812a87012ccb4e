// ScopedRequestBuffers: request tensors come from the decoding thread's pool, and the block of a
// finished request, freed on another thread, serves the next one.
#include "serve/request_buffers.h"

#include <gtest/gtest.h>

#include <thread>

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
