// IEEE 754 half precision (float16) and bfloat16 storage types.
//
// Both convert to and from float implicitly, so templated kernels compute in float and store back.
// Conversion from float rounds to nearest, ties to even, as numpy and ONNX Runtime do; NaN stays NaN.
#pragma once

#include <cstdint>
#include <cstring>

namespace kiln {

struct Float16 {
  uint16_t bits = 0;

  Float16() = default;
  Float16(float f) : bits(from_float(f)) {}  // NOLINT: implicit by design
  operator float() const { return to_float(bits); }  // NOLINT: implicit by design
  static Float16 from_bits(uint16_t b) {
    Float16 h;
    h.bits = b;
    return h;
  }

  static uint16_t from_float(float f);
  static float to_float(uint16_t h);
};

struct BFloat16 {
  uint16_t bits = 0;

  BFloat16() = default;
  BFloat16(float f) : bits(from_float(f)) {}  // NOLINT: implicit by design
  operator float() const { return to_float(bits); }  // NOLINT: implicit by design
  static BFloat16 from_bits(uint16_t b) {
    BFloat16 h;
    h.bits = b;
    return h;
  }

  static uint16_t from_float(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
    return static_cast<uint16_t>(u >> 16);
  }
  static float to_float(uint16_t h) {
    uint32_t u = static_cast<uint32_t>(h) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

}  // namespace kiln
