// allocate_block's large blocks, and BufferPool: size classes, recycling, release of idle blocks, returns
// from other threads, and Tensor drawing from the installed pool. Counts allocations; times nothing.
#include "core/buffer_pool.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <thread>

#include "kiln/tensor.h"

namespace kiln {
namespace {

TEST(AllocateBlock, LargeBlocksStartOnAHugePageAndComeZeroed) {
  // Sizes around the huge-page threshold, and one that is not a multiple of the small page.
  for (size_t bytes : {kMappedBlockBytes, kHugePageBytes - 64, kHugePageBytes, 3 * kHugePageBytes + 4100}) {
    auto* block = static_cast<unsigned char*>(allocate_block(bytes));
    ASSERT_NE(block, nullptr) << bytes;
    if (bytes >= kHugePageBytes) EXPECT_EQ(reinterpret_cast<uintptr_t>(block) % kHugePageBytes, 0u) << bytes;
    EXPECT_EQ(block[0], 0) << bytes;
    EXPECT_EQ(block[bytes - 1], 0) << bytes;
    block[0] = block[bytes - 1] = 1;  // the whole block is writable
    free_block(block, bytes);
  }
}

TEST(BufferPool, SizeClassesWasteAtMostAnEighth) {
  EXPECT_EQ(BufferPool::class_bytes(1), 64u);
  EXPECT_EQ(BufferPool::class_bytes(65), 128u);
  EXPECT_EQ(BufferPool::class_bytes(4096), 4096u);
  EXPECT_EQ(BufferPool::class_bytes(4097), 4608u);  // 4096 + 4096/8
  for (size_t n : {5000u, 100000u, 3000000u, 123456789u}) {
    const size_t c = BufferPool::class_bytes(n);
    EXPECT_GE(c, n);
    EXPECT_LE(c, n + n / 8 + 64) << n;
    EXPECT_EQ(BufferPool::class_bytes(c), c) << n;  // a class size is its own class
  }
}

TEST(BufferPool, SecondRunAtTheSameSizesAllocatesNothing) {
  BufferPool pool;
  auto one_run = [&] {
    pool.begin_run();
    const BufferPool::Block a = pool.take(1000);
    const BufferPool::Block b = pool.take(300000);  // mapped from the OS
    pool.give_back(a.data, a.capacity);
    const BufferPool::Block c = pool.take(1000);  // reuses a within the run
    EXPECT_EQ(c.data, a.data);
    pool.give_back(b.data, b.capacity);
    pool.give_back(c.data, c.capacity);
    pool.end_run();
  };
  one_run();
  EXPECT_EQ(pool.system_allocations(), 2);
  for (int i = 0; i < 10; ++i) one_run();
  EXPECT_EQ(pool.system_allocations(), 2);
}

TEST(BufferPool, AFreeBlockUpToTwiceTheSizeServesBeforeANewOne) {
  BufferPool pool;
  pool.begin_run();
  const BufferPool::Block big = pool.take(10000);
  pool.give_back(big.data, big.capacity);
  const BufferPool::Block small = pool.take(6000);  // no free block of its own class
  EXPECT_EQ(small.data, big.data);
  EXPECT_EQ(small.capacity, big.capacity);
  const BufferPool::Block tiny = pool.take(100);  // nothing free within twice its size: a new block
  EXPECT_NE(tiny.data, big.data);
  pool.give_back(small.data, small.capacity);
  pool.give_back(tiny.data, tiny.capacity);
  pool.end_run();
  EXPECT_EQ(pool.system_allocations(), 2);
}

TEST(BufferPool, ReleasesBlocksIdleForSeveralRuns) {
  BufferPool pool;
  pool.begin_run();
  const BufferPool::Block a = pool.take(5000);
  pool.give_back(a.data, a.capacity);
  pool.end_run();
  EXPECT_EQ(pool.free_bytes(), BufferPool::class_bytes(5000));
  for (uint64_t i = 0; i < BufferPool::kIdleRunsBeforeRelease; ++i) {
    pool.begin_run();
    pool.end_run();
  }
  EXPECT_EQ(pool.free_bytes(), 0u);
}

// end_run skips its walk while no block can have been idle long enough: a block freed later must not
// hold back the release of one freed earlier, nor the other way round.
TEST(BufferPool, ReleasesEachBlockAfterItsOwnIdleRuns) {
  BufferPool pool;  // 4 runs
  auto one_run = [&pool](size_t give_bytes) {
    pool.begin_run();
    if (give_bytes > 0) {
      const BufferPool::Block b = pool.take(give_bytes);
      pool.give_back(b.data, b.capacity);
    }
    pool.end_run();
  };
  one_run(5000);  // run 1: A, last used in run 1
  one_run(0);
  one_run(9000);  // run 3: B
  one_run(0);
  EXPECT_EQ(pool.free_bytes(), BufferPool::class_bytes(5000) + BufferPool::class_bytes(9000));
  one_run(0);  // run 5: A idle for 4 runs
  EXPECT_EQ(pool.free_bytes(), BufferPool::class_bytes(9000));
  one_run(0);
  EXPECT_EQ(pool.free_bytes(), BufferPool::class_bytes(9000));
  one_run(0);  // run 7: B idle for 4 runs
  EXPECT_EQ(pool.free_bytes(), 0u);
}

TEST(BufferPool, TheIdleWindowIsThePools) {
  BufferPool pool(8);
  pool.begin_run();
  const BufferPool::Block a = pool.take(5000);
  pool.give_back(a.data, a.capacity);
  pool.end_run();
  for (uint64_t i = 0; i < 7; ++i) {
    pool.begin_run();
    pool.end_run();
  }
  EXPECT_EQ(pool.free_bytes(), BufferPool::class_bytes(5000));
  pool.begin_run();
  pool.end_run();
  EXPECT_EQ(pool.free_bytes(), 0u);
}

TEST(BufferPool, BlocksReturnedFromOtherThreadsAreReusedNextRun) {
  BufferPool pool;
  pool.begin_run();
  const BufferPool::Block a = pool.take(2000);
  pool.end_run();
  std::thread([&] { pool.give_back_from_any_thread(a.data, a.capacity); }).join();
  pool.begin_run();
  EXPECT_EQ(pool.take(2000).data, a.data);
  pool.give_back(a.data, a.capacity);
  pool.end_run();
  EXPECT_EQ(pool.system_allocations(), 1);
}

TEST(BufferPool, TensorsDrawFromTheInstalledPoolAndComeBackZeroed) {
  auto pool = std::make_shared<BufferPool>();
  Tensor kept;
  {
    const ScopedBufferPool use(pool);
    Tensor t(DataType::kFloat32, {1000});
    t.data<float>()[7] = 42;
    kept = Tensor(DataType::kFloat32, {10});  // outlives the run, like an output given to a caller
  }
  EXPECT_EQ(pool->system_allocations(), 2);
  {
    const ScopedBufferPool use(pool);
    Tensor t(DataType::kFloat32, {1000});  // the block of the first run's t, zeroed again
    EXPECT_EQ(t.data<float>()[7], 0);
  }
  EXPECT_EQ(pool->system_allocations(), 2);
  kept = Tensor();  // given back without the pool installed: through the return list
  {
    const ScopedBufferPool use(pool);
    Tensor t(DataType::kFloat32, {10});
  }
  EXPECT_EQ(pool->system_allocations(), 2);
}

TEST(BufferPool, UninitializedTensorsSkipTheZeroFill) {
  auto pool = std::make_shared<BufferPool>();
  const void* first = nullptr;
  {
    const ScopedBufferPool use(pool);
    Tensor t(DataType::kFloat32, {1000});
    t.data<float>()[7] = 42;
    first = t.raw();
  }
  {
    const ScopedBufferPool use(pool);
    // Same block, last run's bytes kept: the kernel that asked for it overwrites every element.
    Tensor t(DataType::kFloat32, {1000}, Tensor::Init::kUninitialized);
    ASSERT_EQ(t.raw(), first);
    EXPECT_EQ(t.data<float>()[7], 42);
  }
  EXPECT_EQ(pool->system_allocations(), 1);
}

TEST(BufferPool, OutputsOutliveThePool) {
  Tensor kept;
  {
    auto pool = std::make_shared<BufferPool>();
    const ScopedBufferPool use(pool);
    kept = Tensor(DataType::kFloat32, {4});
    kept.data<float>()[3] = 5;
  }
  EXPECT_EQ(kept.data<float>()[3], 5);  // the tensor keeps its pool alive
}

}  // namespace
}  // namespace kiln
