#include "random_inputs.h"

#include <charconv>
#include <set>

namespace kiln::cli {
namespace {

class XorShift32 {
 public:
  explicit XorShift32(uint32_t seed) : state_(seed) {}
  uint32_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return state_;
  }
  // Uniform in [-1, 1), computed in double exactly as JavaScript does, then rounded to the target type.
  double next_signed_unit() { return static_cast<double>(next()) / 4294967296.0 * 2.0 - 1.0; }

 private:
  uint32_t state_;
};

template <typename T>
void fill_floating(Tensor* t, XorShift32* rng) {
  T* p = t->data<T>();
  for (int64_t i = 0; i < t->size(); ++i) p[i] = static_cast<T>(static_cast<float>(rng->next_signed_unit()));
}

template <typename T>
void fill_integer(Tensor* t, XorShift32* rng) {
  T* p = t->data<T>();
  for (int64_t i = 0; i < t->size(); ++i) p[i] = static_cast<T>(rng->next() % kRandomIdRange);
}

Status fill(Tensor* t, const std::string& input, XorShift32* rng) {
  switch (t->dtype()) {
    case DataType::kFloat32:
      fill_floating<float>(t, rng);
      break;
    case DataType::kFloat64: {  // doubles keep every bit of the draw
      double* p = t->data<double>();
      for (int64_t i = 0; i < t->size(); ++i) p[i] = rng->next_signed_unit();
      break;
    }
    case DataType::kFloat16:
      fill_floating<Float16>(t, rng);
      break;
    case DataType::kBFloat16:
      fill_floating<BFloat16>(t, rng);
      break;
    case DataType::kInt8:
      fill_integer<int8_t>(t, rng);
      break;
    case DataType::kInt16:
      fill_integer<int16_t>(t, rng);
      break;
    case DataType::kInt32:
      fill_integer<int32_t>(t, rng);
      break;
    case DataType::kInt64:
      fill_integer<int64_t>(t, rng);
      break;
    case DataType::kUInt8:
      fill_integer<uint8_t>(t, rng);
      break;
    case DataType::kUInt16:
      fill_integer<uint16_t>(t, rng);
      break;
    case DataType::kUInt32:
      fill_integer<uint32_t>(t, rng);
      break;
    case DataType::kUInt64:
      fill_integer<uint64_t>(t, rng);
      break;
    case DataType::kBool: {
      bool* p = t->data<bool>();
      for (int64_t i = 0; i < t->size(); ++i) p[i] = (rng->next() & 1) != 0;
      break;
    }
    default:
      return Status::InvalidArgument("input '" + input + "' has type " + std::string(data_type_name(t->dtype())) +
                                     ", for which no random values are made");
  }
  return Status::OK();
}

// The concrete shape of one input; `symbols` gathers the values chosen so far.
Expected<Shape> resolve_shape(const IoInfo& io, int64_t batch, std::map<std::string, int64_t>* symbols) {
  if (io.kind != IoInfo::Kind::kTensor) {
    return Status::InvalidArgument("input '" + io.name + "' is a " + io.type_string + "; only tensor inputs are made");
  }
  if (!io.has_shape) {
    return Status::InvalidArgument("input '" + io.name + "' declares no shape, so its rank is unknown");
  }
  Shape shape;
  bool first_dynamic = true;
  for (size_t d = 0; d < io.dims.size(); ++d) {
    if (io.dims[d] >= 0) {
      shape.push_back(io.dims[d]);
      continue;
    }
    const std::string& sym = io.dim_names[d];
    auto it = sym.empty() ? symbols->end() : symbols->find(sym);
    if (it != symbols->end()) {
      shape.push_back(it->second);
    } else if (first_dynamic) {
      shape.push_back(batch);
      if (!sym.empty()) symbols->emplace(sym, batch);
    } else {
      const std::string where = "input '" + io.name + "' (" + io.type_string + ") has ";
      if (sym.empty()) {
        return Status::InvalidArgument(where + "an unnamed dynamic dimension at axis " + std::to_string(d) +
                                       " besides the batch, which --dims cannot name");
      }
      return Status::InvalidArgument(where + "dynamic dimension '" + sym + "' at axis " + std::to_string(d) +
                                     "; give its size with --dims " + sym + "=N");
    }
    first_dynamic = false;
  }
  return shape;
}

}  // namespace

Expected<std::vector<NamedValue>> make_random_inputs(const Session& session, int64_t batch,
                                                     const std::map<std::string, int64_t>& dims) {
  std::set<std::string> declared;
  for (const IoInfo& io : session.inputs()) {
    for (const std::string& sym : io.dim_names) {
      if (!sym.empty()) declared.insert(sym);
    }
  }
  for (const auto& [name, value] : dims) {
    if (!declared.count(name)) {
      std::string known;
      for (const std::string& s : declared) known += (known.empty() ? "" : ", ") + s;
      return Status::InvalidArgument("--dims " + name + ": the model's inputs have no dimension named '" + name +
                                     "' (named dimensions: " + (known.empty() ? "none" : known) + ")");
    }
  }
  std::map<std::string, int64_t> symbols = dims;
  XorShift32 rng(kRandomInputSeed);
  std::vector<NamedValue> out;
  for (const IoInfo& io : session.inputs()) {
    if (io.has_default) continue;
    KILN_ASSIGN_OR_RETURN(Shape shape, resolve_shape(io, batch, &symbols));
    auto t = Tensor::make(io.dtype, shape);
    if (!t.ok()) return t.status().with_context("input '" + io.name + "'");
    KILN_RETURN_IF_ERROR(fill(&*t, io.name, &rng));
    out.push_back(NamedValue{io.name, Value(std::move(t).value())});
  }
  return out;
}

Expected<std::map<std::string, int64_t>> parse_dims(const std::vector<std::string>& args) {
  std::map<std::string, int64_t> dims;
  for (const std::string& a : args) {
    const size_t eq = a.find('=');
    int64_t v = 0;
    const char* first = eq == std::string::npos ? nullptr : a.data() + eq + 1;
    const char* last = a.data() + a.size();
    if (eq == 0 || first == nullptr || std::from_chars(first, last, v).ptr != last || first == last || v <= 0) {
      return Status::InvalidArgument("--dims '" + a + "': expected NAME=N with N a positive integer");
    }
    dims[a.substr(0, eq)] = v;
  }
  return dims;
}

}  // namespace kiln::cli
