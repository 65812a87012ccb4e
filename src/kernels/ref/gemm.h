// The matrix-multiply building block shared by Gemm, MatMul, Conv and friends, plus small helpers to
// read any supported element type into an accumulation buffer.
//
// Reference quality: a cache-blocked i-k-j loop whose innermost loop runs over contiguous memory of B
// and C, so the compiler can vectorize it. Everything is row-major.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/ref/common.h"

namespace kiln::ref {

// Accumulation type of the float kernels: double for double, float otherwise (float16/bfloat16 too);
// integer types accumulate in themselves (MatMul/Gemm on int32/int64 wrap like numpy).
template <typename T>
using AccType = std::conditional_t<std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>, float, T>;

// C[M x N] += A[M x K] * B[K x N]; lda/ldb/ldc are the row strides of A, B and C.
template <typename Acc>
void gemm_accumulate(int64_t M, int64_t N, int64_t K, const Acc* A, int64_t lda, const Acc* B, int64_t ldb, Acc* C,
                     int64_t ldc) {
  constexpr int64_t kBlockK = 128;
  constexpr int64_t kBlockN = 512;
  for (int64_t n0 = 0; n0 < N; n0 += kBlockN) {
    const int64_t n1 = std::min(N, n0 + kBlockN);
    for (int64_t k0 = 0; k0 < K; k0 += kBlockK) {
      const int64_t k1 = std::min(K, k0 + kBlockK);
      for (int64_t i = 0; i < M; ++i) {
        Acc* c = C + i * ldc;
        const Acc* a = A + i * lda;
        for (int64_t k = k0; k < k1; ++k) {
          const Acc av = a[k];
          const Acc* b = B + k * ldb;
          for (int64_t j = n0; j < n1; ++j) c[j] += av * b[j];
        }
      }
    }
  }
}

// Dimensions of a numpy.matmul: 1-D operands promoted to matrices, leading dims broadcast.
struct MatMulDims {
  int64_t M = 0, K = 0, N = 0;
  Shape a_batch, b_batch, batch;  // batch = broadcast of a_batch and b_batch
  Shape out_shape;                // with the promoted 1-D dimensions removed again
};

inline Expected<MatMulDims> matmul_dims(const Shape& a_shape, const Shape& b_shape) {
  if (a_shape.empty() || b_shape.empty()) return Status::InvalidArgument("MatMul operands must have rank >= 1");
  Shape as = a_shape, bs = b_shape;
  const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
  if (a_vec) as.insert(as.begin(), 1);
  if (b_vec) bs.push_back(1);
  MatMulDims d;
  d.M = as[as.size() - 2];
  d.K = as.back();
  d.N = bs.back();
  if (bs[bs.size() - 2] != d.K) {
    return Status::InvalidArgument("inner dimensions differ: " + shape_to_string(a_shape) + " x " +
                                   shape_to_string(b_shape));
  }
  d.a_batch.assign(as.begin(), as.end() - 2);
  d.b_batch.assign(bs.begin(), bs.end() - 2);
  KILN_ASSIGN_OR_RETURN(d.batch, broadcast_shapes({d.a_batch, d.b_batch}));
  d.out_shape = d.batch;
  if (!a_vec) d.out_shape.push_back(d.M);
  if (!b_vec) d.out_shape.push_back(d.N);
  return d;
}

// out (zeroed, batch * M * N elements) = a @ b with batch broadcasting.
template <typename Acc>
void batched_matmul(const MatMulDims& d, const Acc* a, const Acc* b, Acc* out) {
  const int64_t batches = shape_size(d.batch);
  BroadcastIterator it(d.batch, {d.a_batch, d.b_batch});
  for (int64_t i = 0; i < batches; ++i, it.next()) {
    gemm_accumulate<Acc>(d.M, d.N, d.K, a + it.offset(0) * d.M * d.K, d.K, b + it.offset(1) * d.K * d.N, d.N,
                         out + i * d.M * d.N, d.N);
  }
}

// Copies `n` elements of T into a buffer of Acc (float16/bfloat16 widen to float).
template <typename Acc, typename T>
std::vector<Acc> to_acc(const T* src, int64_t n) {
  std::vector<Acc> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = static_cast<Acc>(static_cast<ComputeType<T>>(src[i]));
  return out;
}

// Row-major transpose of a [rows x cols] matrix.
template <typename Acc>
std::vector<Acc> transpose_matrix(const Acc* src, int64_t rows, int64_t cols) {
  std::vector<Acc> out(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[static_cast<size_t>(c * rows + r)] = src[r * cols + c];
  return out;
}

// Reads element i of an integer tensor of any integer type as int64 (for zero points).
inline int64_t int_element(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kInt8: return t.data<int8_t>()[i];
    case DataType::kUInt8: return t.data<uint8_t>()[i];
    case DataType::kInt16: return t.data<int16_t>()[i];
    case DataType::kUInt16: return t.data<uint16_t>()[i];
    case DataType::kInt32: return t.data<int32_t>()[i];
    case DataType::kInt64: return t.data<int64_t>()[i];
    default: return 0;
  }
}

// Reads element i of a float tensor (float/double/float16/bfloat16) as double (for scales).
inline double float_element(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DataType::kFloat32: return t.data<float>()[i];
    case DataType::kFloat64: return t.data<double>()[i];
    case DataType::kFloat16: return static_cast<float>(t.data<Float16>()[i]);
    case DataType::kBFloat16: return static_cast<float>(t.data<BFloat16>()[i]);
    default: return 0;
  }
}

// Rounds half to even, as ONNX's quantization ops (and numpy.rint) do.
inline double round_half_even(double v) { return std::nearbyint(v); }

}  // namespace kiln::ref
