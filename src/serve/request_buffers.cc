#include "serve/request_buffers.h"

#include <memory>

namespace kiln::serve {

namespace {

const std::shared_ptr<BufferPool>& thread_pool() {
  thread_local const std::shared_ptr<BufferPool> pool = std::make_shared<BufferPool>(kRequestIdleDecodes);
  return pool;
}

}  // namespace

ScopedRequestBuffers::ScopedRequestBuffers() : scope_(thread_pool()) {}

}  // namespace kiln::serve
