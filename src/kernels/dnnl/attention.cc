// kiln.Attention (see src/kernels/ref/attention.cc for the contract), float32, on plain loops around
// oneDNN's sgemm: for each (batch, head, block of query rows) one thread computes the score tile
// scale * Q K^T (at most kTileFloats floats, [rows, Sk]), adds the mask, takes the softmax in place
// (vec/softmax_loops.h) and multiplies by V straight into the output's [B, Sq, H, Dv] layout. Nothing of size
// [B, H, Sq, Sk] is ever materialized, and Q, K, V are read where they are: the head split and the
// transposes of the unfused graph become strides.
//
// Work items are spread over the run's OpenMP team (ScopedRunThreads sets its size); sgemm sees it
// is inside a parallel region and runs on its calling thread, so regions never nest. Anything else
// (other types, ranks or shapes that do not line up, a mask that needs more than Add's broadcast to
// [B, H, Sq, Sk], empty tensors) goes to the reference composition, so answers and errors agree.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

#include "kernels/dnnl/common.h"
#include "kernels/vec/softmax_loops.h"

namespace kiln::dnnl_kernels {
namespace {

// Score tile budget per thread: 64 KiB keeps the tile in L2 next to its K and V panels.
constexpr int64_t kTileFloats = 16384;

// The calling thread's score tile, grown on demand and kept (a seen shape allocates nothing).
float* thread_tile(int64_t floats) {
  thread_local std::vector<float> tile;
  if (static_cast<int64_t>(tile.size()) < floats) tile.resize(static_cast<size_t>(floats));
  return tile.data();
}

struct MaskView {
  const float* data = nullptr;
  int64_t stride[4] = {0, 0, 0, 0};  // per [B, H, Sq, Sk] dimension; 0 where broadcast
};

// The mask's strides over [B, H, Sq, Sk], or false when Add would broadcast it to anything else.
bool view_mask(const Tensor& m, const int64_t (&full)[4], MaskView* view) {
  if (m.rank() > 4) return false;
  const int64_t pad = 4 - m.rank();
  int64_t stride = 1;
  for (int64_t d = 3; d >= 0; --d) {
    const int64_t size = d < pad ? 1 : m.dim(d - pad);
    if (size != 1 && size != full[d]) return false;
    view->stride[d] = size == 1 ? 0 : stride;
    stride *= size;
  }
  view->data = m.data<float>();
  return true;
}

class DnnlAttentionKernel : public Kernel {
 public:
  DnnlAttentionKernel(std::unique_ptr<Kernel> reference, float scale)
      : reference_(std::move(reference)), scale_(scale) {}

  Status run(KernelContext& ctx) const override {
    if (!ctx.has_input(0) || !ctx.has_input(1) || !ctx.has_input(2) || !all_float32_nonempty(ctx, {0, 1, 2, 3})) {
      return reference_->run(ctx);
    }
    const Tensor& q = ctx.tensor(0);
    const Tensor& k = ctx.tensor(1);
    const Tensor& v = ctx.tensor(2);
    if (q.rank() != 4 || k.rank() != 4 || v.rank() != 4) return reference_->run(ctx);
    const int64_t batch = q.dim(0), sq = q.dim(1), heads = q.dim(2), d = q.dim(3);
    const int64_t sk = k.dim(1), dv = v.dim(3);
    if (k.dim(0) != batch || k.dim(2) != heads || k.dim(3) != d || v.dim(0) != batch || v.dim(1) != sk ||
        v.dim(2) != heads) {
      return reference_->run(ctx);  // MatMul's broadcasts or its error
    }
    MaskView mask;
    if (ctx.has_input(3)) {
      const int64_t full[4] = {batch, heads, sq, sk};
      if (!view_mask(ctx.tensor(3), full, &mask)) return reference_->run(ctx);
    }
    // The second sgemm of each work item writes its rows of every head whole (beta = 0).
    Tensor y(DataType::kFloat32, {batch, sq, heads, dv}, Tensor::Init::kUninitialized);
    const int64_t rows_per_block = std::min(sq, std::max<int64_t>(16, kTileFloats / sk));
    const int64_t blocks = (sq + rows_per_block - 1) / rows_per_block;
    const int64_t items = batch * heads * blocks;
    const float* qd = q.data<float>();
    const float* kd = k.data<float>();
    const float* vd = v.data<float>();
    float* yd = y.data<float>();
    std::atomic<bool> failed{false};
    const int threads = omp_in_parallel() ? 1 : static_cast<int>(std::min<int64_t>(omp_get_max_threads(), items));
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      if (failed.load(std::memory_order_relaxed)) continue;
      const int64_t block = item % blocks, h = (item / blocks) % heads, b = item / (blocks * heads);
      const int64_t r0 = block * rows_per_block, rows = std::min(rows_per_block, sq - r0);
      try {
        float* tile = thread_tile(rows_per_block * sk);
        // Row i of head h: Q[b, r0 + i, h, :], leading dimension H * D (likewise K, V and Y).
        const float* qp = qd + ((b * sq + r0) * heads + h) * d;
        const float* kp = kd + (b * sk * heads + h) * d;
        const float* vp = vd + (b * sk * heads + h) * dv;
        float* yp = yd + ((b * sq + r0) * heads + h) * dv;
        if (dnnl_sgemm('N', 'T', rows, sk, d, scale_, qp, heads * d, kp, heads * d, 0.f, tile, sk) != dnnl_success) {
          failed = true;
          continue;
        }
        vec::RowMask row_mask;
        if (mask.data != nullptr) {
          row_mask = {mask.data + b * mask.stride[0] + h * mask.stride[1] + r0 * mask.stride[2], mask.stride[2],
                      mask.stride[3]};
        }
        vec::masked_softmax_rows(tile, rows, sk, row_mask);
        if (dnnl_sgemm('N', 'N', rows, dv, sk, 1.f, tile, sk, vp, heads * dv, 0.f, yp, heads * dv) != dnnl_success) {
          failed = true;
        }
      } catch (...) {  // the tile's allocation; nothing may leave an OpenMP region
        failed = true;
      }
    }
    if (failed) return Status::ResourceExhausted("attention: oneDNN sgemm or the score tile allocation failed");
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  std::unique_ptr<Kernel> reference_;
  float scale_;
};

// oneDNN's sgemm generates its jit kernels (packing and compute, per transposition and beta) the first
// time a call needs them, once per process. The load's warm-up runs a model at sequence length 1, where
// these calls take sgemm's small-matrix paths, so the first real run paid the generation: bert_base's
// first run at sequence 128 spent 104 ms in its 12 Attention nodes against 5 ms in the next run (1
// thread, loaded 2-core host). One call per transposition this kernel uses, at a size past those paths,
// moves that work to the load. Thread-safe; the results are discarded.
void generate_sgemm_kernels() {
  static std::once_flag once;
  std::call_once(once, [] {
    constexpr int64_t kRows = 64, kCols = 64, kDepth = 64;
    std::vector<float> a(kRows * kDepth, 0.f), b(kDepth * kCols, 0.f), c(kRows * kCols);
    (void)dnnl_sgemm('N', 'T', kRows, kCols, kDepth, 1.f, a.data(), kDepth, b.data(), kDepth, 0.f, c.data(), kCols);
    (void)dnnl_sgemm('N', 'N', kRows, kCols, kDepth, 1.f, a.data(), kDepth, b.data(), kCols, 0.f, c.data(), kCols);
  });
}

Expected<std::unique_ptr<Kernel>> make_attention(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Kernel> reference, build_reference(b));
  generate_sgemm_kernels();
  return std::unique_ptr<Kernel>(
      std::make_unique<DnnlAttentionKernel>(std::move(reference), b.node.attr_float("scale", 1.0f)));
}

}  // namespace

KILN_REGISTER_KERNEL_PRIORITY("kiln", "Attention", 1, 1, kDnnlPriority, make_attention);

}  // namespace kiln::dnnl_kernels
