// Where the tensors decoded from requests get their memory: a BufferPool per decoding thread.
//
// An image request's tensor (resnet18: 600 KB) is larger than the allocator's mapping threshold, so
// each one was a fresh mmap and munmap: 150 page faults to fill it and, since the worker that ran it
// frees it on another core, a TLB shootdown interrupting the cores that compute. Decoded into a pooled
// block instead, the memory of a finished request serves the next one (the worker that frees it hands
// it back to the decoding thread's pool, core/buffer_pool.h).
//
// A request pool keeps a free block for kRequestIdleDecodes of its thread's decodes, not the engine's
// few runs: the I/O threads share the connections, so the next request of a connection is often decoded
// on the other thread, and each pool's share of the requests in flight drifts. With the engine's window
// a pool gave back blocks it needed again a few decodes later: resnet18 over HTTP at 16 connections
// (kiln serve --threads 2) took 42 page faults per request, about 0.4 ms of an I/O thread's CPU on a
// core the model computes on; with this window it takes a fresh block only when the in-flight count
// grows. The cost: a block stays in its thread's pool for kRequestIdleDecodes of that thread's
// decodes, and for as long as the thread decodes nothing (an I/O thread gone quiet keeps its blocks).
#pragma once

#include <cstdint>

#include "core/buffer_pool.h"

namespace kiln::serve {

inline constexpr uint64_t kRequestIdleDecodes = 256;

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
