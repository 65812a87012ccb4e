// Normalizations: BatchNormalization (all opsets, inference and training), InstanceNormalization,
// LayerNormalization, LRN and MeanVarianceNormalization.
#include <cmath>

#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

template <typename T>
using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;

// Reads element i of a float tensor of any float type as double.
double read_float(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat32: return t.data<float>()[i];
    case DataType::kFloat64: return t.data<double>()[i];
    case DataType::kFloat16: return static_cast<float>(t.data<Float16>()[i]);
    case DataType::kBFloat16: return static_cast<float>(t.data<BFloat16>()[i]);
    default: return 0;
  }
}

// A tensor of `dtype` and `shape` filled from doubles.
Tensor float_tensor(DataType dtype, const Shape& shape, const std::vector<double>& v) {
  Tensor t(dtype, shape);
  (void)visit_type(FloatTypes{}, dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (int64_t i = 0; i < t.size(); ++i) t.data<T>()[i] = static_cast<T>(static_cast<ComputeType<T>>(v[static_cast<size_t>(i)]));
    return Status::OK();
  });
  return t;
}

// ---------------------------------------------------------------------------------------------------
// BatchNormalization.
//
// Opsets 1..8 have `spatial` (0: one parameter per activation, shape [C, D1, ...]); 1..6 `is_test`
// (and 1..5 `consumed_inputs`, ignored). Before opset 14 training mode is "more than one output and
// not is_test"; from 14 it is the `training_mode` attribute. Training mode normalizes with the batch
// statistics and also outputs the running statistics (and, before 14, the batch mean and variance).

class BatchNormKernel : public Kernel {
 public:
  BatchNormKernel(float epsilon, float momentum, bool spatial, int training) // training: 1 yes, 0 no, -1 by outputs
      : epsilon_(epsilon), momentum_(momentum), spatial_(spatial), training_(training) {}

  Status run(KernelContext& ctx) const override {
    for (size_t i = 0; i < 5; ++i) KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
    const Tensor& x = ctx.tensor(0);
    if (!is_floating(x.dtype())) return Status::InvalidArgument("X must be a floating-point tensor");
    if (x.rank() < 2) return Status::InvalidArgument("X must have rank >= 2, got " + shape_to_string(x.shape()));
    const int64_t N = x.dim(0), C = x.dim(1);
    const int64_t S = N * C == 0 ? 0 : x.size() / (N * C);  // spatial elements per (n, c)
    const int64_t per = spatial_ ? C : C * S;               // parameters per input
    const char* names[] = {"X", "scale", "B", "mean", "var"};
    for (size_t i = 1; i < 5; ++i) {
      const Tensor& p = ctx.tensor(i);
      if (!is_floating(p.dtype()) || p.size() != per || (spatial_ && p.rank() != 1)) {
        return Status::InvalidArgument(std::string(names[i]) + " " + shape_to_string(p.shape()) + " must hold " +
                                       std::to_string(per) + " floating-point values");
      }
    }
    const bool training = training_ == 1 || (training_ < 0 && ctx.num_outputs() > 1);
    const Tensor &scale = ctx.tensor(1), &bias = ctx.tensor(2), &mean = ctx.tensor(3), &var = ctx.tensor(4);
    // Statistics used to normalize, one per parameter slot.
    std::vector<double> use_mean(static_cast<size_t>(per)), use_var(static_cast<size_t>(per));
    std::vector<double> xv(static_cast<size_t>(x.size()));
    for (int64_t i = 0; i < x.size(); ++i) xv[static_cast<size_t>(i)] = read_float(x, i);
    auto slot = [&](int64_t i) { return spatial_ ? (i / S) % C : i % (C * S); };
    if (training) {
      std::vector<double> count(static_cast<size_t>(per), 0);
      std::fill(use_mean.begin(), use_mean.end(), 0.0);
      std::fill(use_var.begin(), use_var.end(), 0.0);
      for (int64_t i = 0; i < x.size(); ++i) {
        use_mean[static_cast<size_t>(slot(i))] += xv[static_cast<size_t>(i)];
        count[static_cast<size_t>(slot(i))] += 1;
      }
      for (int64_t c = 0; c < per; ++c) {
        if (count[static_cast<size_t>(c)] > 0) use_mean[static_cast<size_t>(c)] /= count[static_cast<size_t>(c)];
      }
      for (int64_t i = 0; i < x.size(); ++i) {
        const double d = xv[static_cast<size_t>(i)] - use_mean[static_cast<size_t>(slot(i))];
        use_var[static_cast<size_t>(slot(i))] += d * d;
      }
      for (int64_t c = 0; c < per; ++c) {
        if (count[static_cast<size_t>(c)] > 0) use_var[static_cast<size_t>(c)] /= count[static_cast<size_t>(c)];
      }
    } else {
      for (int64_t c = 0; c < per; ++c) {
        use_mean[static_cast<size_t>(c)] = read_float(mean, c);
        use_var[static_cast<size_t>(c)] = read_float(var, c);
      }
    }
    std::vector<double> y(static_cast<size_t>(x.size()));
    std::vector<double> a(static_cast<size_t>(per)), b(static_cast<size_t>(per));
    for (int64_t c = 0; c < per; ++c) {
      a[static_cast<size_t>(c)] = read_float(scale, c) / std::sqrt(use_var[static_cast<size_t>(c)] + epsilon_);
      b[static_cast<size_t>(c)] = read_float(bias, c) - use_mean[static_cast<size_t>(c)] * a[static_cast<size_t>(c)];
    }
    for (int64_t i = 0; i < x.size(); ++i) {
      const int64_t c = slot(i);
      y[static_cast<size_t>(i)] = xv[static_cast<size_t>(i)] * a[static_cast<size_t>(c)] + b[static_cast<size_t>(c)];
    }
    ctx.set_output(0, Value(float_tensor(x.dtype(), x.shape(), y)));
    if (training) {
      std::vector<double> run_mean(static_cast<size_t>(per)), run_var(static_cast<size_t>(per));
      for (int64_t c = 0; c < per; ++c) {
        run_mean[static_cast<size_t>(c)] = read_float(mean, c) * momentum_ + use_mean[static_cast<size_t>(c)] * (1 - momentum_);
        run_var[static_cast<size_t>(c)] = read_float(var, c) * momentum_ + use_var[static_cast<size_t>(c)] * (1 - momentum_);
      }
      const std::vector<double>* outs[] = {&run_mean, &run_var, &use_mean, &use_var};
      for (size_t k = 0; k < 4 && k + 1 < ctx.num_outputs(); ++k) {
        const Tensor& like = ctx.tensor(k % 2 == 0 ? 3 : 4);
        ctx.set_output(k + 1, Value(float_tensor(like.dtype(), like.shape(), *outs[k])));
      }
    }
    return Status::OK();
  }

 private:
  float epsilon_, momentum_;
  bool spatial_;
  int training_;
};

Expected<std::unique_ptr<Kernel>> make_batch_norm(const KernelBuildContext& b) {
  const ir::Node& n = b.node;
  const bool spatial = b.opset >= 9 || n.attr_int("spatial", 1) != 0;
  int training = -1;
  if (b.opset >= 14) {
    training = n.attr_int("training_mode", 0) != 0 ? 1 : 0;
  } else if (b.opset < 7 && n.attr_int("is_test", 0) != 0) {
    training = 0;
  }
  return std::unique_ptr<Kernel>(std::make_unique<BatchNormKernel>(n.attr_float("epsilon", 1e-5f),
                                                                   n.attr_float("momentum", 0.9f), spatial, training));
}

// ---------------------------------------------------------------------------------------------------
// InstanceNormalization: per (n, c), normalize over the spatial dimensions.

class InstanceNormKernel : public Kernel {
 public:
  explicit InstanceNormKernel(float epsilon) : epsilon_(epsilon) {}

  Status run(KernelContext& ctx) const override {
    for (size_t i = 0; i < 3; ++i) KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
    const Tensor& x = ctx.tensor(0);
    const Tensor& scale = ctx.tensor(1);
    const Tensor& bias = ctx.tensor(2);
    if (x.rank() < 3) return Status::InvalidArgument("input must have rank >= 3, got " + shape_to_string(x.shape()));
    const int64_t C = x.dim(1);
    for (const Tensor* p : {&scale, &bias}) {
      if (p->dtype() != x.dtype() || p->rank() != 1 || p->dim(0) != C) {
        return Status::InvalidArgument("scale and B must be 1-D with " + std::to_string(C) + " elements of the input's type");
      }
    }
    Tensor y(x.dtype(), x.shape());
    return visit_type(FloatTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = Acc<T>;
      const int64_t planes = x.dim(0) * C, S = planes == 0 ? 0 : x.size() / planes;
      for (int64_t pl = 0; pl < planes; ++pl) {
        const T* xp = x.data<T>() + pl * S;
        T* yp = y.data<T>() + pl * S;
        A mean = 0, var = 0;
        for (int64_t i = 0; i < S; ++i) mean += static_cast<A>(xp[i]);
        mean /= static_cast<A>(S);
        for (int64_t i = 0; i < S; ++i) {
          const A d = static_cast<A>(xp[i]) - mean;
          var += d * d;
        }
        var /= static_cast<A>(S);
        const A s = static_cast<A>(scale.data<T>()[pl % C]) / std::sqrt(var + static_cast<A>(epsilon_));
        const A b = static_cast<A>(bias.data<T>()[pl % C]);
        for (int64_t i = 0; i < S; ++i) yp[i] = static_cast<T>((static_cast<A>(xp[i]) - mean) * s + b);
      }
      ctx.set_output(0, Value(std::move(y)));
      return Status::OK();
    });
  }

 private:
  float epsilon_;
};

Expected<std::unique_ptr<Kernel>> make_instance_norm(const KernelBuildContext& b) {
  return std::unique_ptr<Kernel>(std::make_unique<InstanceNormKernel>(b.node.attr_float("epsilon", 1e-5f)));
}

// ---------------------------------------------------------------------------------------------------
// LayerNormalization (opset 17): normalize over dims [axis, rank); Scale and B broadcast to them.
// The optional Mean and InvStdDev outputs keep X's rank with the normalized dims set to 1; they are
// float (stash_type 1).

class LayerNormKernel : public Kernel {
 public:
  LayerNormKernel(int64_t axis, float epsilon) : axis_(axis), epsilon_(epsilon) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 1));
    const Tensor& x = ctx.tensor(0);
    const Tensor& scale = ctx.tensor(1);
    const Tensor* bias = ctx.has_input(2) && ctx.input(2).is_tensor() ? &ctx.tensor(2) : nullptr;
    KILN_ASSIGN_OR_RETURN(const int64_t axis, normalize_axis(axis_, x.rank()));
    const Shape norm_shape(x.shape().begin() + axis, x.shape().end());
    for (const Tensor* p : {&scale, bias}) {
      if (p == nullptr) continue;
      if (p->dtype() != x.dtype()) return Status::InvalidArgument("Scale and B must have X's data type");
      auto b = broadcast_shapes({norm_shape, p->shape()});
      if (!b.ok() || *b != norm_shape) {
        return Status::InvalidArgument("Scale/B " + shape_to_string(p->shape()) + " does not broadcast to " +
                                       shape_to_string(norm_shape));
      }
    }
    const int64_t inner = shape_size(norm_shape);
    const int64_t outer = inner == 0 ? 0 : x.size() / inner;
    Shape stat_shape = x.shape();
    for (int64_t d = axis; d < x.rank(); ++d) stat_shape[static_cast<size_t>(d)] = 1;
    Tensor y(x.dtype(), x.shape());
    Tensor mean_t(DataType::kFloat32, stat_shape), inv_t(DataType::kFloat32, stat_shape);
    return visit_type(FloatTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      // In double: a float sum of a row far from 0 (mean 100, spread 1) loses the spread's digits, and
      // this kernel is the oracle the fast one is checked against.
      using A = double;
      // Scale and B expanded to the normalized shape.
      std::vector<A> s(static_cast<size_t>(inner)), b(static_cast<size_t>(inner), A(0));
      const std::vector<int64_t> ss = broadcast_strides(scale.shape(), norm_shape.size());
      const std::vector<int64_t> bs = bias ? broadcast_strides(bias->shape(), norm_shape.size()) : ss;
      const std::vector<int64_t> ns = strides_of(norm_shape);
      for (int64_t i = 0; i < inner; ++i) {
        int64_t so = 0, bo = 0;
        for (size_t d = 0; d < norm_shape.size(); ++d) {
          const int64_t c = (i / ns[d]) % norm_shape[d];
          so += c * ss[d];
          bo += c * bs[d];
        }
        s[static_cast<size_t>(i)] = static_cast<A>(scale.data<T>()[so]);
        if (bias) b[static_cast<size_t>(i)] = static_cast<A>(bias->data<T>()[bo]);
      }
      for (int64_t r = 0; r < outer; ++r) {
        const T* xr = x.data<T>() + r * inner;
        T* yr = y.data<T>() + r * inner;
        A mean = 0, var = 0;
        for (int64_t i = 0; i < inner; ++i) mean += static_cast<A>(xr[i]);
        mean /= static_cast<A>(inner);
        for (int64_t i = 0; i < inner; ++i) {
          const A d = static_cast<A>(xr[i]) - mean;
          var += d * d;
        }
        var /= static_cast<A>(inner);
        const A inv = A(1) / std::sqrt(var + static_cast<A>(epsilon_));
        for (int64_t i = 0; i < inner; ++i) {
          yr[i] = static_cast<T>((static_cast<A>(xr[i]) - mean) * inv * s[static_cast<size_t>(i)] + b[static_cast<size_t>(i)]);
        }
        mean_t.data<float>()[r] = static_cast<float>(mean);
        inv_t.data<float>()[r] = static_cast<float>(inv);
      }
      ctx.set_output(0, Value(std::move(y)));
      if (ctx.num_outputs() > 1) ctx.set_output(1, Value(std::move(mean_t)));
      if (ctx.num_outputs() > 2) ctx.set_output(2, Value(std::move(inv_t)));
      return Status::OK();
    });
  }

 private:
  int64_t axis_;
  float epsilon_;
};

Expected<std::unique_ptr<Kernel>> make_layer_norm(const KernelBuildContext& b) {
  const int64_t stash = b.node.attr_int("stash_type", 1);
  if (stash != 1) return Status::Unimplemented("stash_type " + std::to_string(stash) + " is not supported");
  return std::unique_ptr<Kernel>(
      std::make_unique<LayerNormKernel>(b.node.attr_int("axis", -1), b.node.attr_float("epsilon", 1e-5f)));
}

// ---------------------------------------------------------------------------------------------------
// LRN: y = x / (bias + alpha / size * sum of squares over a window of `size` channels) ^ beta.

class LrnKernel : public Kernel {
 public:
  LrnKernel(int64_t size, float alpha, float beta, float bias) : size_(size), alpha_(alpha), beta_(beta), bias_(bias) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    if (x.rank() < 2) return Status::InvalidArgument("X must have rank >= 2, got " + shape_to_string(x.shape()));
    Tensor y(x.dtype(), x.shape());
    return visit_type(FloatTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = Acc<T>;
      const int64_t N = x.dim(0), C = x.dim(1), S = N * C == 0 ? 0 : x.size() / (N * C);
      const int64_t lo = (size_ - 1) / 2, hi = size_ - 1 - lo;  // channels before / after
      const T* xd = x.data<T>();
      for (int64_t n = 0; n < N; ++n) {
        for (int64_t c = 0; c < C; ++c) {
          const int64_t c0 = std::max<int64_t>(0, c - lo), c1 = std::min<int64_t>(C - 1, c + hi);
          for (int64_t s = 0; s < S; ++s) {
            A sq = 0;
            for (int64_t k = c0; k <= c1; ++k) {
              const A v = static_cast<A>(xd[(n * C + k) * S + s]);
              sq += v * v;
            }
            const int64_t i = (n * C + c) * S + s;
            const A denom = std::pow(static_cast<A>(bias_) + static_cast<A>(alpha_) / static_cast<A>(size_) * sq,
                                     static_cast<A>(beta_));
            y.data<T>()[i] = static_cast<T>(static_cast<A>(xd[i]) / denom);
          }
        }
      }
      ctx.set_output(0, Value(std::move(y)));
      return Status::OK();
    });
  }

 private:
  int64_t size_;
  float alpha_, beta_, bias_;
};

Expected<std::unique_ptr<Kernel>> make_lrn(const KernelBuildContext& b) {
  const int64_t size = b.node.attr_int("size", 0);
  if (size <= 0) return Status::InvalidArgument("size must be a positive integer, got " + std::to_string(size));
  return std::unique_ptr<Kernel>(std::make_unique<LrnKernel>(size, b.node.attr_float("alpha", 1e-4f),
                                                             b.node.attr_float("beta", 0.75f),
                                                             b.node.attr_float("bias", 1.0f)));
}

// ---------------------------------------------------------------------------------------------------
// MeanVarianceNormalization: (x - mean) / (std + 1e-9) with statistics over `axes` (default 0, 2, 3).

class MvnKernel : public Kernel {
 public:
  explicit MvnKernel(std::vector<int64_t> axes) : axes_(std::move(axes)) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    std::vector<bool> reduced(static_cast<size_t>(x.rank()), false);
    for (int64_t a : axes_) {
      KILN_ASSIGN_OR_RETURN(const int64_t ax, normalize_axis(a, x.rank()));
      reduced[static_cast<size_t>(ax)] = true;
    }
    // Statistic slot of every element: its index with the reduced dims dropped.
    const std::vector<int64_t> xs = strides_of(x.shape());
    Shape kept;
    for (int64_t d = 0; d < x.rank(); ++d) kept.push_back(reduced[static_cast<size_t>(d)] ? 1 : x.dim(d));
    const std::vector<int64_t> ks = strides_of(kept);
    const int64_t slots = shape_size(kept);
    std::vector<int64_t> slot(static_cast<size_t>(x.size()));
    for (int64_t i = 0; i < x.size(); ++i) {
      int64_t s = 0;
      for (int64_t d = 0; d < x.rank(); ++d) {
        if (!reduced[static_cast<size_t>(d)]) s += ((i / xs[static_cast<size_t>(d)]) % x.dim(d)) * ks[static_cast<size_t>(d)];
      }
      slot[static_cast<size_t>(i)] = s;
    }
    Tensor y(x.dtype(), x.shape());
    return visit_type(FloatTypes{}, x.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      std::vector<double> mean(static_cast<size_t>(slots), 0), var(static_cast<size_t>(slots), 0);
      std::vector<int64_t> count(static_cast<size_t>(slots), 0);
      const T* xd = x.data<T>();
      for (int64_t i = 0; i < x.size(); ++i) {
        mean[static_cast<size_t>(slot[static_cast<size_t>(i)])] += static_cast<double>(static_cast<Acc<T>>(xd[i]));
        ++count[static_cast<size_t>(slot[static_cast<size_t>(i)])];
      }
      for (int64_t s = 0; s < slots; ++s) {
        if (count[static_cast<size_t>(s)] > 0) mean[static_cast<size_t>(s)] /= static_cast<double>(count[static_cast<size_t>(s)]);
      }
      for (int64_t i = 0; i < x.size(); ++i) {
        const size_t s = static_cast<size_t>(slot[static_cast<size_t>(i)]);
        const double d = static_cast<double>(static_cast<Acc<T>>(xd[i])) - mean[s];
        var[s] += d * d;
      }
      for (int64_t i = 0; i < x.size(); ++i) {
        const size_t s = static_cast<size_t>(slot[static_cast<size_t>(i)]);
        const double sd = std::sqrt(var[s] / static_cast<double>(count[s]));
        y.data<T>()[i] = static_cast<T>(static_cast<Acc<T>>((static_cast<double>(static_cast<Acc<T>>(xd[i])) - mean[s]) / (sd + 1e-9)));
      }
      ctx.set_output(0, Value(std::move(y)));
      return Status::OK();
    });
  }

 private:
  std::vector<int64_t> axes_;
};

Expected<std::unique_ptr<Kernel>> make_mvn(const KernelBuildContext& b) {
  std::vector<int64_t> axes = b.node.has_attr("axes") ? b.node.attr_ints("axes") : std::vector<int64_t>{0, 2, 3};
  return std::unique_ptr<Kernel>(std::make_unique<MvnKernel>(std::move(axes)));
}

}  // namespace

KILN_REGISTER_KERNEL("", "BatchNormalization", 1, kMaxOpset, make_batch_norm);
KILN_REGISTER_KERNEL("", "InstanceNormalization", 1, kMaxOpset, make_instance_norm);
KILN_REGISTER_KERNEL("", "LayerNormalization", 17, kMaxOpset, make_layer_norm);
// The same operator for models below opset 17, where src/opt/fuse_layer_norm.cc creates it.
KILN_REGISTER_KERNEL("kiln", "LayerNormalization", 1, 1, make_layer_norm);
KILN_REGISTER_KERNEL("", "LRN", 1, kMaxOpset, make_lrn);
KILN_REGISTER_KERNEL("", "MeanVarianceNormalization", 9, kMaxOpset, make_mvn);

}  // namespace kiln::ref
