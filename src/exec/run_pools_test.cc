// RunPools: concurrent leases get distinct pools, a lone caller keeps reusing one, and a pool left idle
// is emptied by later leases. Counts bytes; times nothing.
#include "exec/run_pools.h"

#include <gtest/gtest.h>

#include "kiln/tensor.h"

namespace kiln {
namespace {

TEST(RunPools, ConcurrentLeasesGetDistinctPoolsAndALoneCallerTheSameOne) {
  RunPools pools;
  std::shared_ptr<BufferPool> first;
  {
    const RunPools::Lease a = pools.lease();
    const RunPools::Lease b = pools.lease();
    EXPECT_NE(a.pool(), b.pool());
    first = a.pool();
  }
  EXPECT_EQ(pools.lease().pool(), first);
  EXPECT_EQ(pools.lease().pool(), first);
}

TEST(RunPools, CountsTheSystemAllocationsOfEverySlot) {
  RunPools pools;
  EXPECT_EQ(pools.system_allocations(), 0);
  {
    const RunPools::Lease a = pools.lease();
    const RunPools::Lease b = pools.lease();
    for (const RunPools::Lease* lease : {&a, &b}) {
      const ScopedBufferPool use(lease->pool());
      Tensor t(DataType::kFloat32, {1000});
    }
  }
  EXPECT_EQ(pools.system_allocations(), 2);
  {
    const RunPools::Lease a = pools.lease();
    const ScopedBufferPool use(a.pool());
    Tensor t(DataType::kFloat32, {1000});  // the block the first run gave back
  }
  EXPECT_EQ(pools.system_allocations(), 2);
}

TEST(RunPools, MoreLeasesThanSlotsStillGetAPoolEach) {
  RunPools pools;
  std::vector<RunPools::Lease> held;
  for (size_t i = 0; i < RunPools::kSlots + 3; ++i) held.push_back(pools.lease());
  for (size_t i = 1; i < held.size(); ++i) EXPECT_NE(held[i].pool(), held[i - 1].pool());
}

TEST(RunPools, APoolLeftIdleIsEmptiedByLaterLeases) {
  RunPools pools;
  std::shared_ptr<BufferPool> burst;
  {
    const RunPools::Lease a = pools.lease();
    const RunPools::Lease b = pools.lease();  // a second, concurrent run
    burst = b.pool();
    const ScopedBufferPool use(b.pool());
    Tensor t(DataType::kFloat32, {1000});
  }
  EXPECT_GT(burst->free_bytes(), 0u);
  for (uint64_t i = 0; i < RunPools::kIdleLeasesBeforeEmpty + RunPools::kSlots; ++i) {
    const RunPools::Lease lone = pools.lease();
  }
  EXPECT_EQ(burst->free_bytes(), 0u);
}

}  // namespace
}  // namespace kiln
