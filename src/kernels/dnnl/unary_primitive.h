// What the oneDNN kernels of one float32 input and one output of its shape and layout (kiln.Gelu on
// eltwise, Softmax) share: the primitive made once per input shape and cached, the fallback to the
// reference kernel where oneDNN has no implementation, and the run into a new output tensor.
#pragma once

#include <functional>
#include <memory>

#include "kernels/dnnl/common.h"

namespace kiln::dnnl_kernels {

class UnaryPrimitiveCache {
 public:
  // y = the primitive applied to x, where x and y are both seen as `md` (a dense descriptor of x's
  // elements) and the primitive for `key` comes from make_desc(md) the first time that key is seen.
  // make_desc returns any oneDNN primitive descriptor (eltwise_forward::primitive_desc...) and throws
  // dnnl::error when oneDNN has no implementation for md.
  //
  // Returns an undefined tensor when oneDNN has no implementation or the key overflowed: the caller
  // then runs its reference kernel. Fails with Internal, naming `op`, when oneDNN fails while running.
  // Thread-safe; a seen key allocates nothing but y.
  template <typename MakeDesc>
  Expected<Tensor> run(const ShapeKey& key, const dnnl::memory::desc& md, const Tensor& x, const char* op,
                       MakeDesc&& make_desc) const {
    if (key.overflow()) return Tensor();
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const Entry> e, cache_.get(key, [&] {
      return make_entry([&]() -> dnnl::primitive_desc { return make_desc(md); });
    }));
    return execute_entry(*e, md, x, op);
  }

 private:
  struct Entry {
    dnnl::primitive primitive;
    size_t scratchpad = 0;
    bool unsupported = false;  // oneDNN has no implementation for this shape
  };

  // Only on a cache miss: the std::function never touches the hot path.
  static Expected<std::shared_ptr<const Entry>> make_entry(const std::function<dnnl::primitive_desc()>& make_desc);
  static Expected<Tensor> execute_entry(const Entry& e, const dnnl::memory::desc& md, const Tensor& x, const char* op);

  ShapeCache<Entry> cache_;
};

}  // namespace kiln::dnnl_kernels
