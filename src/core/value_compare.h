// Compares a computed value with an expected one the way ONNX's test runner does:
// |actual - expected| <= atol + rtol * |expected| for floating types, NaN equal to NaN, exact equality
// for integers, booleans and strings, and identical shapes and types.
#pragma once

#include <string>

#include "kiln/value.h"

namespace kiln {

struct Tolerance {
  double rtol = 1e-3;
  double atol = 1e-7;
};

struct Comparison {
  bool match = true;
  std::string mismatch;        // first reason it does not match, e.g. "element 5: expected 1, got 2"
  double max_abs_error = 0.0;  // over all compared elements
};

Comparison compare_values(const Value& expected, const Value& actual, const Tolerance& tolerance = {});

}  // namespace kiln
