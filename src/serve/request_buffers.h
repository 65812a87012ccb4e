// Where the tensors decoded from requests get their memory: a BufferPool per decoding thread.
//
// An image request's tensor (resnet18: 600 KB) is larger than the allocator's mapping threshold, so
// each one was a fresh mmap and munmap: 150 page faults to fill it and, since the worker that ran it
// frees it on another core, a TLB shootdown interrupting the cores that compute. Decoded into a pooled
// block instead, the memory of a finished request serves the next one (the worker that frees it hands
// it back to the decoding thread's pool, core/buffer_pool.h).
#pragma once

#include "core/buffer_pool.h"

namespace kiln::serve {

// Installs the calling thread's request pool for the scope: tensors created in it (the decode) draw
// from that pool. One pool per thread, created on first use, kept for the thread's life.
class ScopedRequestBuffers {
 public:
  ScopedRequestBuffers();
  ScopedRequestBuffers(const ScopedRequestBuffers&) = delete;
  ScopedRequestBuffers& operator=(const ScopedRequestBuffers&) = delete;

 private:
  ScopedBufferPool scope_;
};

}  // namespace kiln::serve
