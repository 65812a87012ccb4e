#include "serve/shared_memory/shared_memory_tensors.h"

#include <cstring>

#include "serve/datatype_names.h"
#include "serve/raw_tensor.h"

namespace kiln::serve {

Expected<Tensor> tensor_from_shared_memory(const SharedMemoryTensorTarget& source, DataType dtype, const Shape& shape,
                                           std::string_view input) {
  KILN_ASSIGN_OR_RETURN(int64_t count, checked_element_count(shape, input));
  if (dtype != DataType::kString) {
    const uint64_t expected = static_cast<uint64_t>(count) * data_type_size(dtype);
    if (source.byte_size != expected) {
      return Status::InvalidArgument("input '" + std::string(input) + "': shape " + shape_to_string(shape) + " of " +
                                     std::string(kserve_datatype_name(dtype)) + " needs " + std::to_string(expected) +
                                     " bytes, shared_memory_byte_size is " + std::to_string(source.byte_size));
    }
  }
  const std::string_view bytes(reinterpret_cast<const char*>(source.data()), static_cast<size_t>(source.byte_size));
  return tensor_from_raw(bytes, dtype, shape, input);
}

Expected<uint64_t> write_tensor_to_shared_memory(const Tensor& t, const SharedMemoryTensorTarget& target,
                                                 std::string_view output) {
  std::string serialized;  // only BYTES needs a serialization first; the rest copy straight
  const bool is_string = t.dtype() == DataType::kString;
  if (is_string) append_raw_tensor(t, &serialized);
  const uint64_t size = is_string ? serialized.size() : t.bytes();
  if (size > target.byte_size) {
    return Status::InvalidArgument("output '" + std::string(output) + "': " + std::to_string(size) +
                                   " bytes do not fit in shared_memory_byte_size " + std::to_string(target.byte_size) +
                                   " of region '" + target.region->status().name + "'");
  }
  if (size > 0) std::memcpy(target.data(), is_string ? serialized.data() : t.raw(), static_cast<size_t>(size));
  return size;
}

}  // namespace kiln::serve
