// Random generators: RandomUniform RandomNormal RandomUniformLike RandomNormalLike Bernoulli Multinomial.
//
// Kernels are const and may run on many threads, so each run owns its generator: with the `seed`
// attribute it is seeded from it (every run of the node then yields the same values), without it
// from std::random_device.
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <random>

#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

using Rng = std::mt19937_64;

Rng make_rng(const std::optional<float>& seed) {
  if (seed) {
    uint32_t bits = 0;  // the float's bit pattern, so that 1.5 and 1.0 seed differently
    std::memcpy(&bits, &*seed, sizeof bits);
    return Rng(bits);
  }
  std::random_device rd;
  return Rng((static_cast<uint64_t>(rd()) << 32) ^ rd());
}

std::optional<float> seed_attr(const ir::Node& n) {
  if (!n.has_attr("seed")) return std::nullopt;
  return n.attr_float("seed", 0);
}

// A dtype attribute as a DataType; nullopt when absent.
Expected<std::optional<DataType>> dtype_attr(const ir::Node& n) {
  if (!n.has_attr("dtype")) return std::optional<DataType>();
  const int64_t code = n.attr_int("dtype", 0);
  const auto dt = data_type_from_onnx(static_cast<int32_t>(code));
  if (!dt || *dt == DataType::kUndefined) return Status::InvalidArgument("dtype " + std::to_string(code) + " is not a valid type");
  return std::optional<DataType>(*dt);
}

using RandomFloatTypes = TypeList<float, double, Float16, BFloat16>;

// ---- RandomUniform / RandomNormal and their *Like forms -----------------------------------------

struct Distribution {
  bool normal = false;
  double a = 0;  // low, or mean
  double b = 1;  // high, or scale
};

Status fill_random(const Distribution& dist, const std::optional<float>& seed, Tensor* out) {
  Rng rng = make_rng(seed);
  return visit_type(RandomFloatTypes{}, out->dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* p = out->data<T>();
    if (dist.normal) {
      std::normal_distribution<double> d(dist.a, dist.b);
      for (int64_t i = 0; i < out->size(); ++i) p[i] = T(static_cast<ComputeType<T>>(d(rng)));
    } else {
      std::uniform_real_distribution<double> d(0.0, 1.0);
      for (int64_t i = 0; i < out->size(); ++i) {
        p[i] = T(static_cast<ComputeType<T>>(dist.a + (dist.b - dist.a) * d(rng)));
      }
    }
    return Status::OK();
  });
}

class RandomKernel : public Kernel {
 public:
  // like: shape (and, without dtype, type) come from input 0; otherwise from `shape` / `dtype`.
  RandomKernel(Distribution dist, std::optional<float> seed, std::optional<DataType> dtype, bool like, Shape shape)
      : dist_(dist), seed_(seed), dtype_(dtype), like_(like), shape_(std::move(shape)) {}

  Status run(KernelContext& ctx) const override {
    Shape shape = shape_;
    std::optional<DataType> dtype = dtype_;
    if (like_) {
      KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
      shape = ctx.tensor(0).shape();
      if (!dtype) dtype = ctx.tensor(0).dtype();
    }
    const DataType dt = dtype.value_or(DataType::kFloat32);
    if (!is_floating(dt)) {
      return Status::InvalidArgument("output type must be a floating type, got " + std::string(data_type_name(dt)));
    }
    KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::make(dt, shape));
    KILN_RETURN_IF_ERROR(fill_random(dist_, seed_, &out));
    ctx.set_output(0, Value(std::move(out)));
    return Status::OK();
  }

 private:
  Distribution dist_;
  std::optional<float> seed_;
  std::optional<DataType> dtype_;
  bool like_;
  Shape shape_;
};

KernelFactory make_random(bool normal, bool like) {
  return [normal, like](const KernelBuildContext& b) -> Expected<std::unique_ptr<Kernel>> {
    const ir::Node& n = b.node;
    Distribution dist;
    dist.normal = normal;
    dist.a = normal ? n.attr_float("mean", 0.f) : n.attr_float("low", 0.f);
    dist.b = normal ? n.attr_float("scale", 1.f) : n.attr_float("high", 1.f);
    if (normal && !(dist.b >= 0)) return Status::InvalidArgument("scale must be non-negative");
    KILN_ASSIGN_OR_RETURN(std::optional<DataType> dtype, dtype_attr(n));
    Shape shape;
    if (!like) {
      if (!n.has_attr("shape")) return Status::InvalidArgument("attribute shape is required");
      shape = n.attr_ints("shape");
      for (int64_t d : shape) {
        if (d < 0) return Status::InvalidArgument("shape " + shape_to_string(shape) + " has a negative dimension");
      }
    }
    return std::unique_ptr<Kernel>(std::make_unique<RandomKernel>(dist, seed_attr(n), dtype, like, std::move(shape)));
  };
}

// ---- Bernoulli ------------------------------------------------------------------------------------

class BernoulliKernel : public Kernel {
 public:
  BernoulliKernel(std::optional<float> seed, std::optional<DataType> dtype) : seed_(seed), dtype_(dtype) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& p = ctx.tensor(0);
    Tensor out(dtype_.value_or(p.dtype()), p.shape());
    Rng rng = make_rng(seed_);
    std::uniform_real_distribution<double> uni(0.0, 1.0);
    std::vector<bool> draws(static_cast<size_t>(p.size()));
    KILN_RETURN_IF_ERROR(visit_type(FloatTypes{}, p.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (int64_t i = 0; i < p.size(); ++i) {
        draws[static_cast<size_t>(i)] = uni(rng) < static_cast<double>(static_cast<ComputeType<T>>(p.data<T>()[i]));
      }
      return Status::OK();
    }));
    KILN_RETURN_IF_ERROR(visit_type(TypeList<float, double, Float16, BFloat16, int8_t, int16_t, int32_t, int64_t,
                                             uint8_t, uint16_t, uint32_t, uint64_t, bool>{},
                                    out.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (int64_t i = 0; i < out.size(); ++i) out.data<T>()[i] = convert_element<T>(bool(draws[static_cast<size_t>(i)]));
      return Status::OK();
    }));
    ctx.set_output(0, Value(std::move(out)));
    return Status::OK();
  }

 private:
  std::optional<float> seed_;
  std::optional<DataType> dtype_;
};

Expected<std::unique_ptr<Kernel>> make_bernoulli(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::optional<DataType> dtype, dtype_attr(b.node));
  if (dtype && *dtype != DataType::kBool && !is_floating(*dtype) && !is_signed_integer(*dtype) &&
      !is_unsigned_integer(*dtype)) {
    return Status::InvalidArgument("dtype " + std::string(data_type_name(*dtype)) + " is not a numeric or bool type");
  }
  return std::unique_ptr<Kernel>(std::make_unique<BernoulliKernel>(seed_attr(b.node), dtype));
}

// ---- Multinomial ----------------------------------------------------------------------------------

// Samples class indices from each row of unnormalized log-probabilities [batch, classes].
class MultinomialKernel : public Kernel {
 public:
  MultinomialKernel(std::optional<float> seed, DataType dtype, int64_t sample_size)
      : seed_(seed), dtype_(dtype), sample_size_(sample_size) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    if (x.rank() != 2) return Status::InvalidArgument("input must be 2-D [batch, classes], got " + shape_to_string(x.shape()));
    const int64_t batch = x.dim(0), classes = x.dim(1);
    if (classes == 0 && batch > 0 && sample_size_ > 0) return Status::InvalidArgument("input has no classes to sample");
    KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::make(dtype_, {batch, sample_size_}));
    std::vector<double> logits(static_cast<size_t>(x.size()));
    KILN_RETURN_IF_ERROR(visit_type(FloatTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      for (int64_t i = 0; i < x.size(); ++i) logits[static_cast<size_t>(i)] = static_cast<ComputeType<T>>(x.data<T>()[i]);
      return Status::OK();
    }));
    Rng rng = make_rng(seed_);
    std::uniform_real_distribution<double> uni(0.0, 1.0);
    std::vector<double> cdf(static_cast<size_t>(classes));
    for (int64_t bi = 0; bi < batch; ++bi) {
      const double* row = logits.data() + bi * classes;
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t c = 0; c < classes; ++c) mx = std::max(mx, row[c]);
      double total = 0;
      for (int64_t c = 0; c < classes; ++c) {
        total += std::isfinite(mx) ? std::exp(row[c] - mx) : 0.0;
        cdf[static_cast<size_t>(c)] = total;
      }
      for (int64_t s = 0; s < sample_size_; ++s) {
        const double u = uni(rng) * total;
        int64_t cls = classes - 1;  // also the answer for a degenerate (all -inf / NaN) row
        for (int64_t c = 0; c < classes; ++c) {
          if (u < cdf[static_cast<size_t>(c)]) {
            cls = c;
            break;
          }
        }
        const int64_t o = bi * sample_size_ + s;
        if (dtype_ == DataType::kInt32) {
          out.data<int32_t>()[o] = static_cast<int32_t>(cls);
        } else {
          out.data<int64_t>()[o] = cls;
        }
      }
    }
    ctx.set_output(0, Value(std::move(out)));
    return Status::OK();
  }

 private:
  std::optional<float> seed_;
  DataType dtype_;
  int64_t sample_size_;
};

Expected<std::unique_ptr<Kernel>> make_multinomial(const KernelBuildContext& b) {
  KILN_ASSIGN_OR_RETURN(std::optional<DataType> dtype, dtype_attr(b.node));
  const DataType dt = dtype.value_or(DataType::kInt32);
  if (dt != DataType::kInt32 && dt != DataType::kInt64) return Status::InvalidArgument("dtype must be int32 or int64");
  const int64_t sample_size = b.node.attr_int("sample_size", 1);
  if (sample_size < 0) return Status::InvalidArgument("sample_size must be non-negative");
  return std::unique_ptr<Kernel>(std::make_unique<MultinomialKernel>(seed_attr(b.node), dt, sample_size));
}

}  // namespace

KILN_REGISTER_KERNEL("", "RandomUniform", 1, kMaxOpset, make_random(false, false));
KILN_REGISTER_KERNEL("", "RandomNormal", 1, kMaxOpset, make_random(true, false));
KILN_REGISTER_KERNEL("", "RandomUniformLike", 1, kMaxOpset, make_random(false, true));
KILN_REGISTER_KERNEL("", "RandomNormalLike", 1, kMaxOpset, make_random(true, true));
KILN_REGISTER_KERNEL("", "Bernoulli", 15, kMaxOpset, make_bernoulli);
KILN_REGISTER_KERNEL("", "Multinomial", 7, kMaxOpset, make_multinomial);

}  // namespace kiln::ref
