#include "kernels/dnnl/packed_weights.h"

#include "kernels/dnnl/common.h"
#include "kernels/dnnl/matmul_primitive.h"

namespace kiln::dnnl_kernels {

dnnl::memory PackedWeights::in_layout(const dnnl::memory::desc& md) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const dnnl::memory& m : packed_) {
    if (m.get_desc() == md) return m;
  }
  dnnl::memory plain = wrap(plain_, source_.raw());
  dnnl::memory packed(md, cpu_engine());
  dnnl::reorder(plain, packed).execute(thread_stream(), plain, packed);
  thread_stream().wait();
  packed_.push_back(packed);
  return packed;
}

void prepack(const PackedWeights& packed, int64_t K, int64_t N, bool bias, const dnnl::primitive_attr& attr) {
  try {
    const dnnl::memory::desc biasmd = bias ? plain_desc({1, N}) : dnnl::memory::desc();
    const dnnl::matmul::desc d(plain_desc({1, K}), any_desc({K, N}), biasmd, plain_desc({1, N}));
    packed.in_layout(dnnl::matmul::primitive_desc(d, attr, cpu_engine()).weights_desc());
  } catch (const dnnl::error&) {
    // No implementation for this nominal shape: the first run's shape packs for itself.
  }
}

}  // namespace kiln::dnnl_kernels
