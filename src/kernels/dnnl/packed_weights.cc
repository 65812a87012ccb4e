#include "kernels/dnnl/packed_weights.h"

#include "kernels/dnnl/common.h"

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

}  // namespace kiln::dnnl_kernels
