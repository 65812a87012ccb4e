// RunMemories: a run binds the entry's memories when they are free and its own when another run holds them.
#include "kernels/dnnl/run_memories.h"

#include <gtest/gtest.h>

namespace kiln::dnnl_kernels {
namespace {

TEST(RunMemories, ALeaseBindsTheSharedMemoryWhenFreeAndItsOwnWhenTaken) {
  RunMemories<1> memories;
  memories.init(0, plain_desc({4}));
  float a[4] = {}, b[4] = {};
  dnnl_memory_t first_handle = nullptr;
  {
    RunMemories<1>::Lease first(memories);
    const dnnl::memory& m = first.bind(0, a);
    first_handle = m.get();
    EXPECT_EQ(m.get_data_handle(), a);
    RunMemories<1>::Lease second(memories);  // another thread on the same shape
    const dnnl::memory& n = second.bind(0, b);
    EXPECT_NE(n.get(), first_handle);
    EXPECT_EQ(n.get_data_handle(), b);
    EXPECT_EQ(m.get_data_handle(), a);
  }
  RunMemories<1>::Lease again(memories);  // both released: the shared one is free again
  const dnnl::memory& m = again.bind(0, b);
  EXPECT_EQ(m.get(), first_handle);
  EXPECT_EQ(m.get_data_handle(), b);
}

}  // namespace
}  // namespace kiln::dnnl_kernels
