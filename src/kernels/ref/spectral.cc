// DFT and STFT (opset 17).
//
// Transforms are computed in double precision and rounded to the element type once, so that float
// results match numpy's double-precision FFT to within float rounding (single-precision FFTs lose the
// ONNX cases' tolerance on long or large-valued signals). Lengths that are powers of two use a radix-2
// FFT; other lengths use Bluestein's algorithm on top of it, so every length costs O(n log n).
#include <cmath>
#include <complex>
#include <numbers>

#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

using Complex = std::complex<double>;

// e^{sign * 2 pi i k / n}, with k reduced mod n so that large k loses no precision.
Complex twiddle(int64_t k, int64_t n, int sign) {
  const double angle = sign * 2 * std::numbers::pi * static_cast<double>(k % n) / static_cast<double>(n);
  return {std::cos(angle), std::sin(angle)};
}

// In-place radix-2 FFT of a power-of-two length; sign -1 is the forward transform.
void fft_pow2(std::vector<Complex>& a, int sign) {
  const size_t n = a.size();
  for (size_t i = 1, j = 0; i < n; ++i) {
    size_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i], a[j]);
  }
  for (size_t len = 2; len <= n; len <<= 1) {
    for (size_t i = 0; i < n; i += len) {
      for (size_t k = 0; k < len / 2; ++k) {
        const Complex w = twiddle(static_cast<int64_t>(k), static_cast<int64_t>(len), sign);
        const Complex u = a[i + k], v = a[i + k + len / 2] * w;
        a[i + k] = u + v;
        a[i + k + len / 2] = u - v;
      }
    }
  }
}

// Unnormalized DFT of any length: X[k] = sum_j x[j] e^{sign 2 pi i jk / n}.
void dft(std::vector<Complex>& x, int sign) {
  const int64_t n = static_cast<int64_t>(x.size());
  if (n <= 1) return;
  if ((n & (n - 1)) == 0) {
    fft_pow2(x, sign);
    return;
  }
  // Bluestein: jk = (j^2 + k^2 - (k - j)^2) / 2 turns the DFT into a convolution with a chirp.
  size_t m = 1;
  while (m < static_cast<size_t>(2 * n - 1)) m <<= 1;
  std::vector<Complex> chirp(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    // j^2 mod 2n keeps the angle exact for long signals.
    const int64_t j2 = (j * j) % (2 * n);
    chirp[static_cast<size_t>(j)] = twiddle(j2, 2 * n, sign);
  }
  std::vector<Complex> a(m), b(m);
  for (int64_t j = 0; j < n; ++j) a[static_cast<size_t>(j)] = x[static_cast<size_t>(j)] * chirp[static_cast<size_t>(j)];
  b[0] = std::conj(chirp[0]);
  for (int64_t j = 1; j < n; ++j) b[static_cast<size_t>(j)] = b[m - static_cast<size_t>(j)] = std::conj(chirp[static_cast<size_t>(j)]);
  fft_pow2(a, -1);
  fft_pow2(b, -1);
  for (size_t i = 0; i < m; ++i) a[i] *= b[i];
  fft_pow2(a, 1);
  const double scale = 1.0 / static_cast<double>(m);
  for (int64_t k = 0; k < n; ++k) x[static_cast<size_t>(k)] = a[static_cast<size_t>(k)] * scale * chirp[static_cast<size_t>(k)];
}

// Reads a one-element int32/int64 tensor.
Expected<int64_t> read_length(const Tensor& t, const char* what) {
  if (t.size() != 1) return Status::InvalidArgument(std::string(what) + " must be a scalar, got shape " + shape_to_string(t.shape()));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> v, read_int_list(t.reshaped({1}), what));
  return v[0];
}

constexpr int64_t kMaxLength = int64_t{1} << 30;

// Loads element i of a [.., 1 or 2] real/complex tensor (flat index of its first component).
template <typename T>
Complex load(const T* p, int64_t flat, bool complex_input) {
  const double re = static_cast<double>(static_cast<ComputeType<T>>(p[flat]));
  const double im = complex_input ? static_cast<double>(static_cast<ComputeType<T>>(p[flat + 1])) : 0.0;
  return {re, im};
}

class DftKernel : public Kernel {
 public:
  DftKernel(int64_t axis, bool inverse, bool onesided) : axis_(axis), inverse_(inverse), onesided_(onesided) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    if (x.rank() < 2 || (x.dim(x.rank() - 1) != 1 && x.dim(x.rank() - 1) != 2)) {
      return Status::InvalidArgument("input must end in a dimension of 1 (real) or 2 (complex), got shape " +
                                     shape_to_string(x.shape()));
    }
    const int64_t rank = x.rank();
    // The last dimension holds the components; the axis is one of the others.
    KILN_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axis_, rank));
    if (axis == rank - 1) return Status::InvalidArgument("axis " + std::to_string(axis_) + " is the complex dimension");
    const bool complex_input = x.dim(rank - 1) == 2;
    if (onesided_ && complex_input) return Status::InvalidArgument("onesided needs a real input");
    const int64_t in_len = x.dim(axis);
    int64_t n = in_len;
    if (ctx.has_input(1) && ctx.tensor(1).defined()) {
      KILN_ASSIGN_OR_RETURN(n, read_length(ctx.tensor(1), "dft_length"));
      if (n <= 0 || n > kMaxLength) return Status::InvalidArgument("dft_length must be positive, got " + std::to_string(n));
    }
    const int64_t out_len = onesided_ ? n / 2 + 1 : n;
    Shape out_shape = x.shape();
    out_shape[static_cast<size_t>(axis)] = out_len;
    out_shape.back() = 2;
    KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::make(x.dtype(), out_shape));
    if (n == 0 || y.size() == 0) {
      ctx.set_output(0, std::move(y));
      return Status::OK();
    }
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= x.dim(d);
    for (int64_t d = axis + 1; d < rank - 1; ++d) inner *= x.dim(d);
    const int64_t comps = x.dim(rank - 1);
    KILN_RETURN_IF_ERROR(visit_type(FloatTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* xs = x.data<T>();
      T* ys = y.data<T>();
      std::vector<Complex> buf(static_cast<size_t>(n));
      const double norm = inverse_ ? 1.0 / static_cast<double>(n) : 1.0;
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          std::fill(buf.begin(), buf.end(), Complex());
          for (int64_t k = 0; k < std::min(n, in_len); ++k) {
            buf[static_cast<size_t>(k)] = load(xs, ((o * in_len + k) * inner + i) * comps, complex_input);
          }
          dft(buf, inverse_ ? 1 : -1);
          for (int64_t k = 0; k < out_len; ++k) {
            const Complex v = buf[static_cast<size_t>(k)] * norm;
            const int64_t at = ((o * out_len + k) * inner + i) * 2;
            ys[at] = T(static_cast<ComputeType<T>>(v.real()));
            ys[at + 1] = T(static_cast<ComputeType<T>>(v.imag()));
          }
        }
      }
      return Status::OK();
    }));
    ctx.set_output(0, std::move(y));
    return Status::OK();
  }

 private:
  int64_t axis_;
  bool inverse_, onesided_;
};

Expected<std::unique_ptr<Kernel>> make_dft(const KernelBuildContext& b) {
  const int64_t onesided = b.node.attr_int("onesided", 0), inverse = b.node.attr_int("inverse", 0);
  if ((onesided != 0 && onesided != 1) || (inverse != 0 && inverse != 1)) {
    return Status::InvalidArgument("onesided and inverse must be 0 or 1");
  }
  return std::unique_ptr<Kernel>(std::make_unique<DftKernel>(b.node.attr_int("axis", 1), inverse == 1, onesided == 1));
}

// STFT: frames of frame_length samples every frame_step samples, each windowed and transformed.
class StftKernel : public Kernel {
 public:
  explicit StftKernel(bool onesided) : onesided_(onesided) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& x = ctx.tensor(0);
    if (x.rank() != 3 || (x.dim(2) != 1 && x.dim(2) != 2)) {
      return Status::InvalidArgument("signal must have shape [batch, length, 1 or 2], got " + shape_to_string(x.shape()));
    }
    const bool complex_input = x.dim(2) == 2;
    KILN_ASSIGN_OR_RETURN(const int64_t step, read_length(ctx.tensor(1), "frame_step"));
    if (step <= 0) return Status::InvalidArgument("frame_step must be positive, got " + std::to_string(step));
    const Tensor* window = ctx.has_input(2) && ctx.tensor(2).defined() ? &ctx.tensor(2) : nullptr;
    int64_t len = -1;
    if (window) {
      if (window->rank() != 1) return Status::InvalidArgument("window must be 1-D, got shape " + shape_to_string(window->shape()));
      len = window->dim(0);
    }
    if (ctx.has_input(3) && ctx.tensor(3).defined()) {
      KILN_ASSIGN_OR_RETURN(const int64_t fl, read_length(ctx.tensor(3), "frame_length"));
      if (len >= 0 && fl != len) {
        return Status::InvalidArgument("frame_length " + std::to_string(fl) + " differs from the window length " +
                                       std::to_string(len));
      }
      len = fl;
    }
    if (len < 0) return Status::InvalidArgument("one of window and frame_length is required");
    if (len == 0 || len > kMaxLength) return Status::InvalidArgument("frame length must be positive, got " + std::to_string(len));
    if (onesided_ && complex_input) return Status::InvalidArgument("onesided needs a real signal");
    const int64_t batch = x.dim(0), sig_len = x.dim(1);
    if (sig_len < len) {
      return Status::InvalidArgument("signal of length " + std::to_string(sig_len) + " is shorter than a frame of " +
                                     std::to_string(len));
    }
    const int64_t frames = (sig_len - len) / step + 1;
    const int64_t bins = onesided_ ? len / 2 + 1 : len;
    std::vector<double> win(static_cast<size_t>(len), 1.0);
    if (window) {
      KILN_RETURN_IF_ERROR(visit_type(FloatTypes{}, window->dtype(), [&](auto tag) {
        using W = typename decltype(tag)::type;
        for (int64_t i = 0; i < len; ++i) win[static_cast<size_t>(i)] = static_cast<double>(static_cast<ComputeType<W>>(window->data<W>()[i]));
        return Status::OK();
      }));
    }
    KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::make(x.dtype(), {batch, frames, bins, 2}));
    const int64_t comps = x.dim(2);
    KILN_RETURN_IF_ERROR(visit_type(FloatTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* xs = x.data<T>();
      T* ys = y.data<T>();
      std::vector<Complex> buf(static_cast<size_t>(len));
      for (int64_t b = 0; b < batch; ++b) {
        for (int64_t f = 0; f < frames; ++f) {
          for (int64_t k = 0; k < len; ++k) {
            buf[static_cast<size_t>(k)] = load(xs, (b * sig_len + f * step + k) * comps, complex_input) * win[static_cast<size_t>(k)];
          }
          dft(buf, -1);
          for (int64_t k = 0; k < bins; ++k) {
            const int64_t at = ((b * frames + f) * bins + k) * 2;
            ys[at] = T(static_cast<ComputeType<T>>(buf[static_cast<size_t>(k)].real()));
            ys[at + 1] = T(static_cast<ComputeType<T>>(buf[static_cast<size_t>(k)].imag()));
          }
        }
      }
      return Status::OK();
    }));
    ctx.set_output(0, std::move(y));
    return Status::OK();
  }

 private:
  bool onesided_;
};

Expected<std::unique_ptr<Kernel>> make_stft(const KernelBuildContext& b) {
  const int64_t onesided = b.node.attr_int("onesided", 1);
  if (onesided != 0 && onesided != 1) return Status::InvalidArgument("onesided must be 0 or 1");
  return std::unique_ptr<Kernel>(std::make_unique<StftKernel>(onesided == 1));
}

}  // namespace

KILN_REGISTER_KERNEL("", "DFT", 17, kMaxOpset, make_dft);
KILN_REGISTER_KERNEL("", "STFT", 17, kMaxOpset, make_stft);

}  // namespace kiln::ref
