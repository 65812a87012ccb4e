// A reader for the subset of protobuf's text format that Triton's config.pbtxt files use:
//
//   name: "resnet"            scalar fields: strings, numbers, identifiers (enum values, true/false)
//   max_batch_size: 8
//   input [ { name: "x" dims: [ 3, 224 ] } ]      lists of scalars or of messages
//   dynamic_batching { max_queue_delay_microseconds: 100 }   nested messages ("field:" before "{" optional)
//   # comments run to the end of the line
//
// It parses into a schema-less tree, so fields kiln does not know are kept and ignored, not rejected
// (Triton configs carry many fields that do not matter to kiln). A repeated field is a list of nodes.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/status.h"

namespace kiln::serve {

struct TextValue;

// A message: field name -> every value given for it, in order (`a: 1 a: 2` and `a: [1, 2]` are the same).
struct TextMessage {
  std::map<std::string, std::vector<TextValue>> fields;

  // The values of a field; empty when absent.
  const std::vector<TextValue>& values(const std::string& field) const;
  // The last value of a field (protobuf's rule for a repeated singular field), or nullptr.
  const TextValue* last(const std::string& field) const;
};

struct TextValue {
  enum class Kind { kString, kNumber, kIdentifier, kMessage };
  Kind kind = Kind::kString;
  std::string text;                      // the unquoted string, the number's or identifier's spelling
  std::shared_ptr<TextMessage> message;  // for kMessage

  // Integer value of a kNumber; InvalidArgument naming `what` otherwise.
  Expected<int64_t> as_int(std::string_view what) const;
  // true/false identifiers (also 1/0); InvalidArgument naming `what` otherwise.
  Expected<bool> as_bool(std::string_view what) const;
};

// Parses text; `source` names the file in error messages ("models/x/config.pbtxt:3: expected ':'").
Expected<TextMessage> parse_text_format(std::string_view text, std::string_view source);

}  // namespace kiln::serve
