// The server's names for tensor element types: KServe v2 / Open Inference Protocol datatypes
// ("FP32", "BYTES"). Both frontends and the core's error messages speak them, so clients read the
// names they sent.
#pragma once

#include <optional>
#include <string_view>

#include "kiln/data_type.h"

namespace kiln::serve {

// "FP32" for kFloat32, "BYTES" for kString; "" for types the protocol lacks (complex).
std::string_view kserve_datatype_name(DataType t);
// The inverse; nullopt for an unknown name.
std::optional<DataType> data_type_from_kserve_name(std::string_view name);

}  // namespace kiln::serve
