#include "kernels/dnnl/channel_block.h"

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "kernels/blocked_layout.h"

namespace kiln::dnnl_kernels {
namespace {

// True if `isa` includes every feature of `base` (oneDNN's ISA values are nested bit masks).
bool includes(dnnl::cpu_isa isa, dnnl::cpu_isa base) {
  const auto i = static_cast<unsigned>(isa), b = static_cast<unsigned>(base);
  return (i & b) == b;
}

}  // namespace

int64_t choose_channel_block(dnnl::cpu_isa isa, const char* env, std::string* warning) {
  warning->clear();
  int64_t block = 0;
  if (includes(isa, dnnl::cpu_isa::avx512_core)) {
    block = 16;
  } else if (includes(isa, dnnl::cpu_isa::sse41)) {
    block = 8;
  }
  if (env == nullptr) return block;
  const std::string_view v(env);
  const int64_t asked = v == "0" ? 0 : v == "8" ? 8 : v == "16" ? 16 : -1;
  if (asked < 0 || asked > block) {
    *warning = "kiln: ignoring KILN_CHANNEL_BLOCK=" + std::string(v) +
               ": expected 0 (plain layout), 8 or 16, at most " + std::to_string(block) +
               " (what oneDNN's instruction set here runs fast)";
    return block;
  }
  return asked;
}

int64_t process_channel_block() {
  static const int64_t block = [] {
    std::string warning;
    const int64_t b = choose_channel_block(dnnl::get_effective_cpu_isa(), std::getenv("KILN_CHANNEL_BLOCK"), &warning);
    if (!warning.empty()) std::fprintf(stderr, "%s\n", warning.c_str());
    return b;
  }();
  return block;
}

int64_t nominal_channel_block() {
  const int64_t block = process_channel_block();
  return block > 0 ? block : kDefaultChannelBlock;
}

}  // namespace kiln::dnnl_kernels
