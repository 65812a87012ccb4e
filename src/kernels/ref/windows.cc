// Spectral window generators (opset 17): BlackmanWindow, HammingWindow, HannWindow, and MelWeightMatrix.
//
// All are computed in double and converted to output_datatype once. The ONNX test generators use 3.1415
// for pi; true pi stays well within the tests' tolerance and is what the paper and numpy define.
#include <cmath>
#include <numbers>

#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

// The numeric output types that output_datatype may name.
using WindowOutputTypes = NumericTypes;

Expected<DataType> parse_output_datatype(const ir::Node& n) {
  const int64_t code = n.attr_int("output_datatype", static_cast<int64_t>(DataType::kFloat32));
  const std::optional<DataType> dt = code >= 0 && code <= INT32_MAX ? data_type_from_onnx(static_cast<int32_t>(code)) : std::nullopt;
  if (!dt || *dt == DataType::kString || *dt == DataType::kBool || *dt == DataType::kUndefined ||
      *dt == DataType::kComplex64 || *dt == DataType::kComplex128) {
    return Status::InvalidArgument("output_datatype " + std::to_string(code) + " is not a real numeric type");
  }
  return *dt;
}

Tensor make_output(DataType dtype, Shape shape, const std::vector<double>& values) {
  Tensor y(dtype, std::move(shape));
  (void)visit_type(WindowOutputTypes{}, dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* out = y.data<T>();
    for (size_t i = 0; i < values.size(); ++i) out[i] = convert_element<T>(values[i]);
    return Status::OK();
  });
  return y;
}

// Reads a scalar (or one-element) int32/int64 input.
Expected<int64_t> read_int_scalar(const KernelContext& ctx, size_t i, const char* what) {
  KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
  const Tensor& t = ctx.tensor(i);
  if (t.size() != 1) return Status::InvalidArgument(std::string(what) + " must be a scalar, got shape " + shape_to_string(t.shape()));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> v, read_int_list(t.reshaped({1}), what));
  return v[0];
}

// A generalized cosine window: sum_k (-1)^k a_k cos(2 pi k n / N).
class CosineWindowKernel : public Kernel {
 public:
  CosineWindowKernel(std::vector<double> coeffs, bool periodic, DataType dtype)
      : coeffs_(std::move(coeffs)), periodic_(periodic), dtype_(dtype) {}

  Status run(KernelContext& ctx) const override {
    KILN_ASSIGN_OR_RETURN(const int64_t size, read_int_scalar(ctx, 0, "size"));
    if (size < 0) return Status::InvalidArgument("size must not be negative, got " + std::to_string(size));
    if (size > (int64_t{1} << 28)) return Status::InvalidArgument("size " + std::to_string(size) + " is too large");
    const double denom = static_cast<double>(periodic_ ? size : size - 1);
    std::vector<double> w(static_cast<size_t>(size));
    for (int64_t n = 0; n < size; ++n) {
      if (denom == 0) {  // a symmetric window of one sample is its peak, as in numpy
        w[static_cast<size_t>(n)] = 1.0;
        continue;
      }
      double v = 0;
      for (size_t k = 0; k < coeffs_.size(); ++k) {
        const double term = coeffs_[k] * std::cos(2 * std::numbers::pi * static_cast<double>(k) * static_cast<double>(n) / denom);
        v += (k % 2 == 0) ? term : -term;
      }
      w[static_cast<size_t>(n)] = v;
    }
    ctx.set_output(0, make_output(dtype_, {size}, w));
    return Status::OK();
  }

 private:
  std::vector<double> coeffs_;
  bool periodic_;
  DataType dtype_;
};

KernelFactory cosine_window(std::vector<double> coeffs) {
  return [coeffs](const KernelBuildContext& b) -> Expected<std::unique_ptr<Kernel>> {
    KILN_ASSIGN_OR_RETURN(const DataType dt, parse_output_datatype(b.node));
    const bool periodic = b.node.attr_int("periodic", 1) != 0;
    return std::unique_ptr<Kernel>(std::make_unique<CosineWindowKernel>(coeffs, periodic, dt));
  };
}

// MelWeightMatrix: triangular filters, one per mel bin, over dft_length / 2 + 1 spectrogram bins. The
// filter edges are whole spectrogram bins, computed as in the ONNX reference (and ONNX Runtime):
// num_mel_bins + 2 points equally spaced in mel, floor((dft_length + 1) * hz / sample_rate).
class MelWeightMatrixKernel : public Kernel {
 public:
  explicit MelWeightMatrixKernel(DataType dtype) : dtype_(dtype) {}

  Status run(KernelContext& ctx) const override {
    KILN_ASSIGN_OR_RETURN(const int64_t num_mel_bins, read_int_scalar(ctx, 0, "num_mel_bins"));
    KILN_ASSIGN_OR_RETURN(const int64_t dft_length, read_int_scalar(ctx, 1, "dft_length"));
    KILN_ASSIGN_OR_RETURN(const int64_t sample_rate, read_int_scalar(ctx, 2, "sample_rate"));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 3));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 4));
    KILN_ASSIGN_OR_RETURN(const double lower_hz, read_scalar(ctx.tensor(3), "lower_edge_hertz"));
    KILN_ASSIGN_OR_RETURN(const double upper_hz, read_scalar(ctx.tensor(4), "upper_edge_hertz"));
    if (num_mel_bins <= 0 || dft_length <= 0 || sample_rate <= 0) {
      return Status::InvalidArgument("num_mel_bins, dft_length and sample_rate must be positive");
    }
    if (num_mel_bins > (int64_t{1} << 20) || dft_length > (int64_t{1} << 30)) {
      return Status::InvalidArgument("num_mel_bins or dft_length is too large");
    }
    if (!(lower_hz >= 0) || !(upper_hz >= lower_hz) || !std::isfinite(upper_hz)) {
      return Status::InvalidArgument("need 0 <= lower_edge_hertz <= upper_edge_hertz");
    }
    const int64_t num_bins = dft_length / 2 + 1;
    auto to_mel = [](double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); };
    const double low_mel = to_mel(lower_hz), high_mel = to_mel(upper_hz);
    const double step = (high_mel - low_mel) / static_cast<double>(num_mel_bins + 2);
    std::vector<int64_t> edges(static_cast<size_t>(num_mel_bins + 2));
    for (int64_t i = 0; i < num_mel_bins + 2; ++i) {
      const double hz = 700.0 * (std::pow(10.0, (static_cast<double>(i) * step + low_mel) / 2595.0) - 1.0);
      const double bin = std::floor(static_cast<double>(dft_length + 1) * hz / static_cast<double>(sample_rate));
      // The last edge only bounds a range; every other edge indexes a bin.
      const double limit = static_cast<double>(i == num_mel_bins + 1 ? num_bins + 1 : num_bins);
      if (!(bin >= 0) || bin >= limit) {
        return Status::InvalidArgument("upper_edge_hertz " + std::to_string(upper_hz) +
                                       " lies beyond the spectrogram's highest bin");
      }
      edges[static_cast<size_t>(i)] = static_cast<int64_t>(bin);
    }
    std::vector<double> w(static_cast<size_t>(num_bins * num_mel_bins), 0.0);
    auto at = [&](int64_t bin, int64_t mel) -> double& { return w[static_cast<size_t>(bin * num_mel_bins + mel)]; };
    for (int64_t i = 0; i < num_mel_bins; ++i) {
      const int64_t lo = edges[static_cast<size_t>(i)], center = edges[static_cast<size_t>(i + 1)],
                    hi = edges[static_cast<size_t>(i + 2)];
      if (center == lo) {
        at(center, i) = 1;
      } else {
        for (int64_t j = lo; j <= center; ++j) at(j, i) = static_cast<double>(j - lo) / static_cast<double>(center - lo);
      }
      for (int64_t j = center; j < hi; ++j) at(j, i) = static_cast<double>(hi - j) / static_cast<double>(hi - center);
    }
    ctx.set_output(0, make_output(dtype_, {num_bins, num_mel_bins}, w));
    return Status::OK();
  }

 private:
  DataType dtype_;
};

Expected<std::unique_ptr<Kernel>> make_mel_weight_matrix(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(const DataType dt, parse_output_datatype(b.node));
  return std::unique_ptr<Kernel>(std::make_unique<MelWeightMatrixKernel>(dt));
}

}  // namespace

KILN_REGISTER_KERNEL("", "HannWindow", 17, kMaxOpset, cosine_window({0.5, 0.5}));
KILN_REGISTER_KERNEL("", "HammingWindow", 17, kMaxOpset, cosine_window({25.0 / 46.0, 21.0 / 46.0}));
KILN_REGISTER_KERNEL("", "BlackmanWindow", 17, kMaxOpset, cosine_window({0.42, 0.5, 0.08}));
KILN_REGISTER_KERNEL("", "MelWeightMatrix", 17, kMaxOpset, make_mel_weight_matrix);

}  // namespace kiln::ref
