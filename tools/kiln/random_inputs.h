// Random inputs for a model, made from its declared inputs: what `kiln bench` feeds, and what
// bench/ort_bench.js feeds ONNX Runtime, element for element (the recipe below is mirrored there).
//
// Recipe: one xorshift32 generator (x ^= x << 13; x ^= x >> 17; x ^= x << 5) seeded with
// kRandomInputSeed, drawn in model input order and element order:
//   floating types  u / 2^32 * 2 - 1, uniform in [-1, 1)
//   integer types   u % kRandomIdRange: token ids valid for any embedding of at least that many rows
//   bool            u & 1
// Inputs that have a default (an initializer) are left out, so the model uses its default.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kiln/session.h"

namespace kiln::cli {

inline constexpr uint32_t kRandomInputSeed = 42;
inline constexpr uint32_t kRandomIdRange = 100;

// Resolves each dynamic dimension: a symbol named in `dims` takes that value; otherwise the first
// dynamic dimension of each input takes `batch` (and binds its symbol, so that other inputs sharing it
// agree). Fails with InvalidArgument naming the input for any other dynamic dimension, an input without
// a declared shape, a non-tensor input, a type it cannot fill (strings), or a `dims` name the model
// does not declare.
Expected<std::vector<NamedValue>> make_random_inputs(const Session& session, int64_t batch,
                                                     const std::map<std::string, int64_t>& dims);

// Parses "NAME=VALUE" arguments of --dims; VALUE must be a positive integer.
Expected<std::map<std::string, int64_t>> parse_dims(const std::vector<std::string>& args);

}  // namespace kiln::cli
