#include "kernels/dnnl/channel_block.h"

#include <gtest/gtest.h>

namespace kiln::dnnl_kernels {
namespace {

using dnnl::cpu_isa;

int64_t choose(cpu_isa isa, const char* env, std::string* warning) { return choose_channel_block(isa, env, warning); }

TEST(ChannelBlock, FollowsOneDnnsInstructionSet) {
  std::string warning;
  EXPECT_EQ(choose(cpu_isa::avx512_core_amx, nullptr, &warning), 16);
  EXPECT_EQ(choose(cpu_isa::avx512_core, nullptr, &warning), 16);
  EXPECT_EQ(choose(cpu_isa::avx2_vnni, nullptr, &warning), 8);
  EXPECT_EQ(choose(cpu_isa::avx2, nullptr, &warning), 8);
  EXPECT_EQ(choose(cpu_isa::sse41, nullptr, &warning), 8);
  EXPECT_EQ(choose(cpu_isa::all, nullptr, &warning), 0);
  EXPECT_TRUE(warning.empty());
}

TEST(ChannelBlock, EnvironmentMayOnlyLowerIt) {
  std::string warning;
  EXPECT_EQ(choose(cpu_isa::avx512_core, "8", &warning), 8);
  EXPECT_EQ(choose(cpu_isa::avx512_core, "0", &warning), 0);
  EXPECT_EQ(choose(cpu_isa::avx512_core, "16", &warning), 16);
  EXPECT_EQ(choose(cpu_isa::avx2, "0", &warning), 0);
  EXPECT_TRUE(warning.empty());
  EXPECT_EQ(choose(cpu_isa::avx2, "16", &warning), 8);
  EXPECT_NE(warning.find("KILN_CHANNEL_BLOCK=16"), std::string::npos) << warning;
  for (const char* bad : {"4", "", "8c", "32"}) {
    EXPECT_EQ(choose(cpu_isa::avx512_core, bad, &warning), 16) << bad;
    EXPECT_NE(warning.find("ignoring KILN_CHANNEL_BLOCK"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace kiln::dnnl_kernels
