#include "kernels/dnnl/serial_below.h"

#include <gtest/gtest.h>
#include <omp.h>

namespace kiln::dnnl_kernels {
namespace {

TEST(SerialBelow, SmallWorkRunsOnOneThreadAndRestoresTheTeam) {
  const int saved = omp_get_max_threads();
  omp_set_num_threads(2);
  {
    const SerialBelow serial(100, 1000);
    EXPECT_EQ(omp_get_max_threads(), 1);
  }
  EXPECT_EQ(omp_get_max_threads(), 2);
  {
    const SerialBelow serial(1000, 1000);  // at the threshold: the whole team
    EXPECT_EQ(omp_get_max_threads(), 2);
  }
  omp_set_num_threads(saved);
}

}  // namespace
}  // namespace kiln::dnnl_kernels
