#include "ir/graph.h"

namespace kiln::ir {

std::string TypeInfo::to_string() const {
  switch (kind) {
    case Kind::kTensor: {
      std::string s(data_type_name(elem_type));
      if (!shape) return s + "[...]";
      s += "[";
      for (size_t i = 0; i < shape->size(); ++i) {
        if (i) s += ", ";
        const Dim& d = (*shape)[i];
        s += d.is_fixed() ? std::to_string(d.value) : (d.symbol.empty() ? "?" : d.symbol);
      }
      return s + "]";
    }
    case Kind::kSequence: return "seq(" + (element ? element->to_string() : "?") + ")";
    case Kind::kOptional: return "optional(" + (element ? element->to_string() : "?") + ")";
    case Kind::kMap: return "map";
    case Kind::kSparseTensor: return "sparse_tensor";
    case Kind::kUnknown: break;
  }
  return "unknown";
}

Attribute Attribute::of_int(std::string name, int64_t v) {
  Attribute a;
  a.name = std::move(name);
  a.type = Type::kInt;
  a.i = v;
  return a;
}

Attribute Attribute::of_ints(std::string name, std::vector<int64_t> v) {
  Attribute a;
  a.name = std::move(name);
  a.type = Type::kInts;
  a.ints = std::move(v);
  return a;
}

Attribute Attribute::of_float(std::string name, float v) {
  Attribute a;
  a.name = std::move(name);
  a.type = Type::kFloat;
  a.f = v;
  return a;
}

Attribute Attribute::of_floats(std::string name, std::vector<float> v) {
  Attribute a;
  a.name = std::move(name);
  a.type = Type::kFloats;
  a.floats = std::move(v);
  return a;
}

Attribute Attribute::of_string(std::string name, std::string v) {
  Attribute a;
  a.name = std::move(name);
  a.type = Type::kString;
  a.s = std::move(v);
  return a;
}

Attribute Attribute::of_strings(std::string name, std::vector<std::string> v) {
  Attribute a;
  a.name = std::move(name);
  a.type = Type::kStrings;
  a.strings = std::move(v);
  return a;
}

std::string Node::describe() const {
  return name.empty() ? op_type + " node (unnamed, output '" + (outputs.empty() ? "" : outputs[0]) + "')"
                      : op_type + " node '" + name + "'";
}

const Attribute* Node::find_attr(const std::string& attr_name) const {
  for (const Attribute& a : attributes) {
    if (a.name == attr_name) return &a;
  }
  return nullptr;
}

int64_t Node::attr_int(const std::string& attr_name, int64_t fallback) const {
  const Attribute* a = find_attr(attr_name);
  if (!a) return fallback;
  if (a->type == Attribute::Type::kFloat) return static_cast<int64_t>(a->f);
  return a->i;
}

float Node::attr_float(const std::string& attr_name, float fallback) const {
  const Attribute* a = find_attr(attr_name);
  if (!a) return fallback;
  if (a->type == Attribute::Type::kInt) return static_cast<float>(a->i);
  return a->f;
}

std::string Node::attr_string(const std::string& attr_name, const std::string& fallback) const {
  const Attribute* a = find_attr(attr_name);
  return a ? a->s : fallback;
}

std::vector<int64_t> Node::attr_ints(const std::string& attr_name) const {
  const Attribute* a = find_attr(attr_name);
  return a ? a->ints : std::vector<int64_t>{};
}

std::vector<float> Node::attr_floats(const std::string& attr_name) const {
  const Attribute* a = find_attr(attr_name);
  return a ? a->floats : std::vector<float>{};
}

std::vector<std::string> Node::attr_strings(const std::string& attr_name) const {
  const Attribute* a = find_attr(attr_name);
  return a ? a->strings : std::vector<std::string>{};
}

const Tensor* Node::attr_tensor(const std::string& attr_name) const {
  const Attribute* a = find_attr(attr_name);
  return a && a->type == Attribute::Type::kTensor ? &a->t : nullptr;
}

const Graph* Node::attr_graph(const std::string& attr_name) const {
  const Attribute* a = find_attr(attr_name);
  return a && a->type == Attribute::Type::kGraph ? a->g.get() : nullptr;
}

size_t Node::num_present_inputs() const {
  size_t n = inputs.size();
  while (n > 0 && inputs[n - 1].empty()) --n;
  return n;
}

}  // namespace kiln::ir
