#include "kernels/dnnl/conv_transpose_product.h"

#include <algorithm>
#include <mutex>
#include <optional>
#include <string>

#include "kernels/dnnl/common.h"
#include "kernels/dnnl/conv_primitive.h"
#include "kernels/dnnl/run_memories.h"
#include "kernels/vec/col2im.h"
#include "kernels/vec/parallel_chunks.h"

namespace kiln::dnnl_kernels {
namespace {

using dnnl::memory;

// W^T as oneDNN's [1, M * kh * kw, C] over ONNX's W [C, M, kh, kw] in place.
memory::desc transposed_weights_desc(const Shape& w) {
  const int64_t c = w[0], rows = w[1] * w[2] * w[3];
  return memory::desc({1, rows, c}, memory::data_type::f32, memory::dims{rows * c, 1, rows});
}

// The product for a chunk of images: oneDNN's primitive over them, the memories a run points at its
// buffers (so a run creates none), and col2im for its result's layout.
struct Product {
  int64_t images = 0;  // 0: no such chunk
  dnnl::matmul primitive;
  memory weights;  // W^T (or W, for one pixel) in the layout this primitive picked
  size_t scratchpad = 0;
  RunMemories<2> memories;  // kImagesSlot: the X operand; kColumnsSlot: the result
  std::optional<vec::Col2Im> col2im;
};
constexpr size_t kImagesSlot = 0, kColumnsSlot = 1;

// One input shape. An input of one pixel: a product X W ([images, C] x [C, M * k]) per chunk, whose
// result rows are the images' columns. Otherwise a product W^T X per chunk, the chunk's X side by side
// as [C, images * H * W]. A batch goes in chunks of `full.images`, then one of `tail.images`.
struct ProductEntry {
  bool use_reference = false;  // oneDNN has no product for this shape, or the geometry is bad
  int64_t out_h = 0, out_w = 0;
  bool one_pixel = false;
  Product full, tail;
  size_t col_bytes = 0, images_bytes = 0;  // a full chunk's result, and its X side by side
};

// The images one product takes: as many as keep its result within kColumnsBytes (it stays in cache for
// col2im), so that W^T, often the largest operand, is read once per chunk rather than once per image
// (DCGAN's 512 -> 256 layer: 8.4 MB of W^T against 256 KB of result per image).
constexpr int64_t kColumnsBytes = int64_t{2} << 20;
int64_t images_per_product(int64_t images, int64_t col_elements_per_image) {
  return std::clamp<int64_t>(kColumnsBytes / (col_elements_per_image * 4), 1, images);
}

// Output elements per thread below which col2im stays on the calling thread (parallel_chunks.h).
constexpr int64_t kCol2ImGrain = int64_t{1} << 14;

class ConvTransposeProduct : public Kernel {
 public:
  ConvTransposeProduct(std::unique_ptr<Kernel> reference, ref::ConvTransposeAttrs attrs,
                       std::unique_ptr<PackedWeights> wt, std::optional<vec::UnaryFn> activation)
      : reference_(std::move(reference)), attrs_(std::move(attrs)), wt_(std::move(wt)), activation_(activation) {}

  bool releases_constant(size_t i) const override { return i == 1 && wt_->released(); }

  Status run(KernelContext& ctx) const override {
    if (!all_float32_nonempty(ctx, {0, 2})) return fallback(ctx);
    // W reads as absent once the plan freed it; any other W than the constant goes to the reference.
    if (ctx.tensor(1).defined() && !wt_->stand_for(ctx.tensor(1))) return fallback(ctx);
    const Tensor& x = ctx.tensor(0);
    if (x.rank() != 4) return fallback(ctx);
    const int64_t m = wt_->shape()[1];
    const bool has_bias = ctx.has_input(2);
    if (has_bias && (ctx.tensor(2).rank() != 1 || ctx.tensor(2).dim(0) != m)) return fallback(ctx);
    ShapeKey key;
    key.add(x.shape());
    KILN_ASSIGN_OR_RETURN(std::shared_ptr<const ProductEntry> e, cache_.get(key, [&] { return make_entry(x); }));
    if (e->use_reference) return fallback(ctx);  // for a bad geometry, the reference names the problem
    const int64_t n = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3), out_plane = e->out_h * e->out_w;
    Tensor y(DataType::kFloat32, {n, m, e->out_h, e->out_w}, Tensor::Init::kUninitialized);
    const float* bias = has_bias ? ctx.tensor(2).data<float>() : nullptr;
    try {
      float* col = static_cast<float*>(thread_buffer(ScratchSlot::kColumns, e->col_bytes));
      float* side_by_side = e->one_pixel || e->full.images == 1
                                ? nullptr
                                : static_cast<float*>(thread_buffer(ScratchSlot::kImages, e->images_bytes));
      for (int64_t i = 0; i < n;) {
        const Product& p = n - i >= e->full.images ? e->full : e->tail;
        const float* images = x.data<float>() + i * c * hw;
        if (side_by_side != nullptr) {  // [images, C, H * W] -> [C, images * H * W]
          for (int64_t ch = 0; ch < c; ++ch) {
            for (int64_t j = 0; j < p.images; ++j) {
              std::copy_n(images + (j * c + ch) * hw, hw, side_by_side + (ch * p.images + j) * hw);
            }
          }
          images = side_by_side;
        }
        RunMemories<2>::Lease memories(p.memories);
        ExecArgs args;
        const memory& b = memories.bind(kImagesSlot, images);
        args.add(DNNL_ARG_SRC, e->one_pixel ? b : p.weights);
        args.add(DNNL_ARG_WEIGHTS, e->one_pixel ? p.weights : b);
        args.add(DNNL_ARG_DST, memories.bind(kColumnsSlot, col));
        execute(p.primitive, args, p.scratchpad);
        float* out = y.data<float>() + i * m * out_plane;
        const bool done = vec::for_each_row_chunk_with_scratch(
            p.images * m, out_plane, kCol2ImGrain, ScratchSlot::kCol2ImPhases,
            static_cast<size_t>(p.col2im->phase_floats()), [&](int64_t begin, int64_t end, float* phases) {
              p.col2im->run(col, bias, out, begin, end, phases);
              // The planes just written, while they are in cache.
              float* planes = out + begin * out_plane;
              if (activation_) vec::unary_apply(*activation_, planes, planes, (end - begin) * out_plane);
            });
        if (!done) return Status::ResourceExhausted("ConvTranspose: no memory for col2im's planes");
        i += p.images;
      }
    } catch (const dnnl::error& err) {
      return Status::Internal(std::string("oneDNN matmul for ConvTranspose failed: ") + err.what());
    }
    ctx.set_output(0, Value(std::move(y)));
    return Status::OK();
  }

 private:
  Status fallback(KernelContext& ctx) const { return run_reference(*reference_, ctx, 1, wt_.get()); }

  // W as [C, M * k], the weights of the one-pixel product, packed from W^T on first use (only a
  // node that sees one-pixel inputs holds this second copy). Throws dnnl::error.
  const PackedWeights& row_weights() const {
    std::call_once(rows_once_, [this] {
      const Tensor w = wt_->unpack();
      const int64_t c = w.dim(0), rows = w.dim(1) * w.dim(2) * w.dim(3);
      auto packed = std::make_unique<PackedWeights>(w, plain_desc({c, rows}), w);
      const dnnl::matmul::primitive_desc pd(
          dnnl::matmul::desc(plain_desc({1, c}),
                             memory::desc({c, rows}, memory::data_type::f32, memory::format_tag::any),
                             plain_desc({1, rows})),
          base_attr(), cpu_engine());
      packed->in_layout(pd.weights_desc());
      packed->release_source();
      rows_ = std::move(packed);
    });
    if (!rows_) throw dnnl::error(dnnl_runtime_error, "the one-pixel weights could not be packed");
    return *rows_;
  }

  // Made on a shape's first run, so that a seen shape works its geometry out no more.
  Expected<std::shared_ptr<const ProductEntry>> make_entry(const Tensor& x) const {
    auto e = std::make_shared<ProductEntry>();
    const auto g = ref::conv_transpose_geometry(attrs_, x.shape(), wt_->shape());
    if (!g.ok() || g->out_size() == 0) {
      e->use_reference = true;
      return std::shared_ptr<const ProductEntry>(std::move(e));
    }
    e->out_h = g->out[0];
    e->out_w = g->out[1];
    const Shape& w = wt_->shape();
    const int64_t n = x.dim(0), c = x.dim(1), hw = x.dim(2) * x.dim(3), rows = w[1] * w[2] * w[3];
    e->one_pixel = hw == 1;
    const int64_t chunk = images_per_product(n, rows * hw);
    try {
      make_product(*e, x, *g, chunk, &e->full);
      if (n % chunk != 0) make_product(*e, x, *g, n % chunk, &e->tail);
    } catch (const dnnl::error&) {
      e = std::make_shared<ProductEntry>();
      e->use_reference = true;  // oneDNN has no product for this shape
      return std::shared_ptr<const ProductEntry>(std::move(e));
    }
    if (e->use_reference) return std::shared_ptr<const ProductEntry>(std::move(e));
    e->col_bytes = static_cast<size_t>(rows * hw * chunk) * sizeof(float);
    e->images_bytes = static_cast<size_t>(c * hw * chunk) * sizeof(float);
    return std::shared_ptr<const ProductEntry>(std::move(e));
  }

  // The product of `images` images into *p (with e.one_pixel set), or e.use_reference set where oneDNN
  // has only its reference matmul. Throws dnnl::error.
  void make_product(ProductEntry& e, const Tensor& x, const ref::WindowGeometry& g, int64_t images, Product* p) const {
    const Shape& w = wt_->shape();
    const int64_t c = x.dim(1), h = x.dim(2), wd = x.dim(3), rows = w[1] * w[2] * w[3];
    const memory::dim columns = e.one_pixel ? images : images * h * wd;
    const memory::desc any_weights({c, rows}, memory::data_type::f32, memory::format_tag::any);
    const memory::desc any_transposed({1, rows, c}, memory::data_type::f32, memory::format_tag::any);
    const memory::desc x_md = e.one_pixel ? plain_desc({images, c}) : plain_desc({1, c, columns});
    const memory::desc col_md = e.one_pixel ? plain_desc({images, rows}) : plain_desc({1, rows, columns});
    const dnnl::matmul::primitive_desc pd(
        e.one_pixel ? dnnl::matmul::desc(x_md, any_weights, col_md) : dnnl::matmul::desc(any_transposed, x_md, col_md),
        base_attr(), cpu_engine());
    if (is_ref_impl(pd)) {
      e.use_reference = true;
      return;
    }
    p->images = images;
    p->primitive = dnnl::matmul(pd);
    p->scratchpad = pd.scratchpad_desc().get_size();
    p->memories.init(kImagesSlot, x_md);
    p->memories.init(kColumnsSlot, col_md);
    p->weights = e.one_pixel ? row_weights().in_layout(pd.weights_desc()) : wt_->in_layout(pd.src_desc());
    p->col2im.emplace(vec::Col2ImGeometry{.channels = w[1],
                                          .in_h = h,
                                          .in_w = wd,
                                          .out_h = g.out[0],
                                          .out_w = g.out[1],
                                          .kernel_h = w[2],
                                          .kernel_w = w[3],
                                          .stride_h = g.stride[0],
                                          .stride_w = g.stride[1],
                                          .dilation_h = g.dilation[0],
                                          .dilation_w = g.dilation[1],
                                          .pad_top = g.pad_begin[0],
                                          .pad_left = g.pad_begin[1],
                                          .row_stride = e.one_pixel ? 1 : columns,
                                          .image_stride = e.one_pixel ? rows : h * wd});
  }

  std::unique_ptr<Kernel> reference_;
  ref::ConvTransposeAttrs attrs_;
  std::unique_ptr<PackedWeights> wt_;
  std::optional<vec::UnaryFn> activation_;
  mutable std::once_flag rows_once_;
  mutable std::unique_ptr<PackedWeights> rows_;
  ShapeCache<ProductEntry> cache_;
};

}  // namespace

bool conv_transpose_product_applies(const ref::ConvTransposeAttrs& attrs, const Tensor& w) {
  return attrs.group == 1 && w.dtype() == DataType::kFloat32 && w.rank() == 4 && w.size() > 0;
}

std::unique_ptr<PackedWeights> pack_transposed_weights(const Tensor& w) {
  try {
    // Packed for a 16x16 image (the layout hardly depends on it; another is made when a shape asks).
    auto wt = std::make_unique<PackedWeights>(w, transposed_weights_desc(w.shape()), w);
    const int64_t rows = w.dim(1) * w.dim(2) * w.dim(3);
    const dnnl::matmul::primitive_desc pd(
        dnnl::matmul::desc(memory::desc({1, rows, w.dim(0)}, memory::data_type::f32, memory::format_tag::any),
                           plain_desc({1, w.dim(0), 256}), plain_desc({1, rows, 256})),
        base_attr(), cpu_engine());
    wt->in_layout(pd.src_desc());
    wt->release_source();
    return wt;
  } catch (const dnnl::error&) {
    return nullptr;
  }
}

std::unique_ptr<Kernel> make_conv_transpose_product(std::unique_ptr<Kernel> reference, ref::ConvTransposeAttrs attrs,
                                                    std::unique_ptr<PackedWeights> wt,
                                                    std::optional<vec::UnaryFn> activation) {
  return std::make_unique<ConvTransposeProduct>(std::move(reference), std::move(attrs), std::move(wt), activation);
}

}  // namespace kiln::dnnl_kernels
