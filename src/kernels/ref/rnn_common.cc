#include "kernels/ref/rnn_common.h"

#include <algorithm>
#include <cctype>

namespace kiln::ref::rnn {
namespace {

struct ActivationInfo {
  const char* name;
  Activation::Kind kind;
  bool uses_alpha;
  bool uses_beta;
  float default_alpha;  // the corresponding ONNX operator's defaults
  float default_beta;
};

constexpr ActivationInfo kActivations[] = {
    {"relu", Activation::Kind::kRelu, false, false, 0.f, 0.f},
    {"tanh", Activation::Kind::kTanh, false, false, 0.f, 0.f},
    {"sigmoid", Activation::Kind::kSigmoid, false, false, 0.f, 0.f},
    {"affine", Activation::Kind::kAffine, true, true, 1.f, 0.f},
    {"leakyrelu", Activation::Kind::kLeakyRelu, true, false, 0.01f, 0.f},
    {"thresholdedrelu", Activation::Kind::kThresholdedRelu, true, false, 1.f, 0.f},
    {"scaledtanh", Activation::Kind::kScaledTanh, true, true, 1.f, 1.f},
    {"hardsigmoid", Activation::Kind::kHardSigmoid, true, true, 0.2f, 0.5f},
    {"elu", Activation::Kind::kElu, true, false, 1.f, 0.f},
    {"softsign", Activation::Kind::kSoftsign, false, false, 0.f, 0.f},
    {"softplus", Activation::Kind::kSoftplus, false, false, 0.f, 0.f},
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int activations_per_direction(CellKind kind) {
  switch (kind) {
    case CellKind::kRnn: return 1;
    case CellKind::kGru: return 2;
    case CellKind::kLstm: return 3;
  }
  return 1;
}

std::vector<std::string> default_activations(CellKind kind) {
  switch (kind) {
    case CellKind::kRnn: return {"Tanh"};
    case CellKind::kGru: return {"Sigmoid", "Tanh"};
    case CellKind::kLstm: return {"Sigmoid", "Tanh", "Tanh"};
  }
  return {};
}

// alpha / beta values are consumed in order by the activations that use them (as ONNX Runtime does);
// an activation past the end of the list gets its operator's default.
Expected<std::vector<Activation>> parse_activations(const ir::Node& node, CellKind kind, int64_t num_directions) {
  const size_t per_dir = static_cast<size_t>(activations_per_direction(kind));
  const size_t total = per_dir * static_cast<size_t>(num_directions);
  std::vector<std::string> names = node.attr_strings("activations");
  if (names.empty()) names = default_activations(kind);
  if (names.size() == per_dir && total != per_dir) {
    // One set given for a bidirectional node: both directions use it.
    const std::vector<std::string> forward = names;  // (inserting a vector's own range is undefined)
    names.insert(names.end(), forward.begin(), forward.end());
  }
  if (names.size() != total) {
    return Status::InvalidArgument("activations must list " + std::to_string(total) + " functions, got " +
                                   std::to_string(names.size()));
  }
  const std::vector<float> alphas = node.attr_floats("activation_alpha");
  const std::vector<float> betas = node.attr_floats("activation_beta");
  size_t next_alpha = 0, next_beta = 0;
  std::vector<Activation> out;
  for (const std::string& name : names) {
    const std::string key = lower(name);
    const ActivationInfo* info = nullptr;
    for (const ActivationInfo& a : kActivations) {
      if (key == a.name) info = &a;
    }
    if (info == nullptr) return Status::InvalidArgument("unsupported activation function '" + name + "'");
    Activation act;
    act.kind = info->kind;
    act.alpha = info->default_alpha;
    act.beta = info->default_beta;
    if (info->uses_alpha && next_alpha < alphas.size()) act.alpha = alphas[next_alpha++];
    if (info->uses_beta && next_beta < betas.size()) act.beta = betas[next_beta++];
    out.push_back(act);
  }
  return out;
}

Status check_shape(const Tensor& t, const Shape& want, const char* what) {
  if (t.shape() != want) {
    return Status::InvalidArgument(std::string(what) + " must have shape " + shape_to_string(want) + ", got " +
                                   shape_to_string(t.shape()));
  }
  return Status::OK();
}

// An optional input of the same element type as X, or an error; `present` says whether it was given.
Status optional_input(const KernelContext& ctx, size_t i, DataType dtype, const char* what, bool* present) {
  *present = false;
  if (!ctx.has_input(i)) return Status::OK();
  if (!ctx.input(i).is_tensor()) return Status::InvalidArgument(std::string(what) + " must be a tensor");
  if (ctx.tensor(i).dtype() != dtype) {
    return Status::InvalidArgument(std::string(what) + " must have the element type of X (" +
                                   std::string(data_type_name(dtype)) + "), got " +
                                   std::string(data_type_name(ctx.tensor(i).dtype())));
  }
  *present = true;
  return Status::OK();
}

}  // namespace

int num_gates(CellKind kind) {
  switch (kind) {
    case CellKind::kRnn: return 1;
    case CellKind::kGru: return 3;
    case CellKind::kLstm: return 4;
  }
  return 1;
}

Expected<RnnAttrs> parse_rnn_attrs(const ir::Node& node, CellKind kind) {
  RnnAttrs a;
  a.kind = kind;
  const std::string direction = node.attr_string("direction", "forward");
  if (direction == "forward") {
    a.num_directions = 1;
  } else if (direction == "reverse") {
    a.num_directions = 1;
    a.reverse = true;
  } else if (direction == "bidirectional") {
    a.num_directions = 2;
  } else {
    return Status::InvalidArgument("direction must be forward, reverse or bidirectional, got '" + direction + "'");
  }
  if (node.has_attr("hidden_size")) {
    a.hidden_size = node.attr_int("hidden_size", -1);
    if (a.hidden_size <= 0) {
      return Status::InvalidArgument("hidden_size must be positive, got " + std::to_string(a.hidden_size));
    }
  }
  if (node.has_attr("clip")) {
    a.has_clip = true;
    a.clip = node.attr_float("clip", 0);
    if (!(a.clip > 0)) return Status::InvalidArgument("clip must be positive, got " + std::to_string(a.clip));
  }
  const int64_t layout = node.attr_int("layout", 0);
  if (layout != 0 && layout != 1) return Status::InvalidArgument("layout must be 0 or 1, got " + std::to_string(layout));
  a.batch_major = layout == 1;
  a.linear_before_reset = node.attr_int("linear_before_reset", 0) != 0;
  a.input_forget = node.attr_int("input_forget", 0) != 0;
  KILN_ASSIGN_OR_RETURN(a.activations, parse_activations(node, kind, a.num_directions));
  return a;
}

Status check_rnn_inputs(const KernelContext& ctx, const RnnAttrs& attrs, RnnDims* dims,
                        std::vector<int64_t>* seq_lens) {
  for (size_t i = 0; i < 3; ++i) KILN_RETURN_IF_ERROR(require_tensor(ctx, i));
  const Tensor& x = ctx.tensor(0);
  const Tensor& w = ctx.tensor(1);
  const Tensor& r = ctx.tensor(2);
  if (!is_floating(x.dtype())) {
    return Status::InvalidArgument("X must be a floating-point tensor, got " + std::string(data_type_name(x.dtype())));
  }
  if (w.dtype() != x.dtype() || r.dtype() != x.dtype()) {
    return Status::InvalidArgument("W and R must have the element type of X");
  }
  if (x.rank() != 3) return Status::InvalidArgument("X must be 3-D, got shape " + shape_to_string(x.shape()));
  if (w.rank() != 3) return Status::InvalidArgument("W must be 3-D, got shape " + shape_to_string(w.shape()));
  if (r.rank() != 3) return Status::InvalidArgument("R must be 3-D, got shape " + shape_to_string(r.shape()));

  RnnDims& d = *dims;
  d.seq = attrs.batch_major ? x.dim(1) : x.dim(0);
  d.batch = attrs.batch_major ? x.dim(0) : x.dim(1);
  d.input = x.dim(2);
  d.dirs = attrs.num_directions;
  d.hidden = r.dim(2);
  if (attrs.hidden_size >= 0 && attrs.hidden_size != d.hidden) {
    return Status::InvalidArgument("hidden_size " + std::to_string(attrs.hidden_size) +
                                   " does not match R's shape " + shape_to_string(r.shape()));
  }
  const int64_t gates = num_gates(attrs.kind);
  // An empty R could pair a huge hidden size with gates * hidden overflowing to its dim 1.
  int64_t gate_rows = 0;
  if (__builtin_mul_overflow(gates, d.hidden, &gate_rows)) {
    return Status::InvalidArgument("hidden size " + std::to_string(d.hidden) + " is too large");
  }
  KILN_RETURN_IF_ERROR(check_shape(w, {d.dirs, gates * d.hidden, d.input}, "W"));
  KILN_RETURN_IF_ERROR(check_shape(r, {d.dirs, gates * d.hidden, d.hidden}, "R"));

  bool present = false;
  KILN_RETURN_IF_ERROR(optional_input(ctx, 3, x.dtype(), "B", &present));
  if (present) KILN_RETURN_IF_ERROR(check_shape(ctx.tensor(3), {d.dirs, 2 * gates * d.hidden}, "B"));

  seq_lens->assign(static_cast<size_t>(d.batch), d.seq);
  if (ctx.has_input(4)) {
    if (!ctx.input(4).is_tensor()) return Status::InvalidArgument("sequence_lens must be a tensor");
    KILN_RETURN_IF_ERROR(check_shape(ctx.tensor(4), {d.batch}, "sequence_lens"));
    KILN_ASSIGN_OR_RETURN(*seq_lens, read_int_list(ctx.tensor(4), "sequence_lens"));
    for (int64_t len : *seq_lens) {
      if (len < 0 || len > d.seq) {
        return Status::InvalidArgument("sequence_lens value " + std::to_string(len) + " is outside [0, " +
                                       std::to_string(d.seq) + "]");
      }
    }
  }

  RnnLayout layout{d, attrs.batch_major};
  KILN_RETURN_IF_ERROR(optional_input(ctx, 5, x.dtype(), "initial_h", &present));
  if (present) KILN_RETURN_IF_ERROR(check_shape(ctx.tensor(5), layout.state_shape(), "initial_h"));
  if (attrs.kind == CellKind::kLstm) {
    KILN_RETURN_IF_ERROR(optional_input(ctx, 6, x.dtype(), "initial_c", &present));
    if (present) KILN_RETURN_IF_ERROR(check_shape(ctx.tensor(6), layout.state_shape(), "initial_c"));
    KILN_RETURN_IF_ERROR(optional_input(ctx, 7, x.dtype(), "P", &present));
    if (present) KILN_RETURN_IF_ERROR(check_shape(ctx.tensor(7), {d.dirs, 3 * d.hidden}, "P"));
  }
  return Status::OK();
}

}  // namespace kiln::ref::rnn
