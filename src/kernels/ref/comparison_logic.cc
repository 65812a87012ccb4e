// Comparisons (Equal Greater GreaterOrEqual Less LessOrEqual) and boolean logic (And Or Xor), all
// producing bool with numpy broadcasting, or the legacy broadcast/axis rule before opset 7.
// Comparisons of floats are IEEE: anything compared with NaN is false.
#include "kernels/ref/elementwise.h"

namespace kiln::ref {

using BoolType = TypeList<bool>;
// Equal also compares booleans and strings (strings are opset 19 in ONNX; harmless to accept earlier).
using EqualTypes = AllTypes;

KILN_REGISTER_KERNEL("", "And", 1, kMaxOpset, (binary<BoolType, true>([](bool a, bool b) { return a && b; })));
KILN_REGISTER_KERNEL("", "Or", 1, kMaxOpset, (binary<BoolType, true>([](bool a, bool b) { return a || b; })));
KILN_REGISTER_KERNEL("", "Xor", 1, kMaxOpset, (binary<BoolType, true>([](bool a, bool b) { return a != b; })));

KILN_REGISTER_KERNEL("", "Equal", 1, kMaxOpset,
                     (binary<EqualTypes, true>([](const auto& a, const auto& b) { return a == b; })));
KILN_REGISTER_KERNEL("", "Greater", 1, kMaxOpset,
                     (binary<NumericTypes, true>([](auto a, auto b) { return a > b; })));
KILN_REGISTER_KERNEL("", "Less", 1, kMaxOpset, (binary<NumericTypes, true>([](auto a, auto b) { return a < b; })));
KILN_REGISTER_KERNEL("", "GreaterOrEqual", 12, kMaxOpset,
                     (binary<NumericTypes, true>([](auto a, auto b) { return a >= b; })));
KILN_REGISTER_KERNEL("", "LessOrEqual", 12, kMaxOpset,
                     (binary<NumericTypes, true>([](auto a, auto b) { return a <= b; })));

}  // namespace kiln::ref
