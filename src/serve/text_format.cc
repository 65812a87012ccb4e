#include "serve/text_format.h"

#include <cctype>
#include <charconv>

namespace kiln::serve {

const std::vector<TextValue>& TextMessage::values(const std::string& field) const {
  static const std::vector<TextValue> kEmpty;
  auto it = fields.find(field);
  return it == fields.end() ? kEmpty : it->second;
}

const TextValue* TextMessage::last(const std::string& field) const {
  const auto& v = values(field);
  return v.empty() ? nullptr : &v.back();
}

Expected<int64_t> TextValue::as_int(std::string_view what) const {
  int64_t out = 0;
  const char* end = text.data() + text.size();
  if (kind == Kind::kNumber) {
    auto [p, ec] = std::from_chars(text.data(), end, out);
    if (ec == std::errc() && p == end) return out;
  }
  return Status::InvalidArgument(std::string(what) + ": expected an integer, got '" + text + "'");
}

Expected<bool> TextValue::as_bool(std::string_view what) const {
  if (text == "true" || text == "True" || text == "1") return true;
  if (text == "false" || text == "False" || text == "0") return false;
  return Status::InvalidArgument(std::string(what) + ": expected true or false, got '" + text + "'");
}

namespace {

// Recursive descent over the text with a line counter for messages. Nesting depth is bounded so a
// hostile file cannot exhaust the stack.
class Parser {
 public:
  Parser(std::string_view text, std::string_view source) : s_(text), source_(source) {}

  Expected<TextMessage> parse() {
    TextMessage root;
    KILN_RETURN_IF_ERROR(parse_fields(&root, /*closing=*/'\0', 0));
    return root;
  }

 private:
  static constexpr int kMaxDepth = 64;

  Status error(const std::string& what) const {
    return Status::InvalidArgument(std::string(source_) + ":" + std::to_string(line_) + ": " + what);
  }

  void skip_space() {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == '\n') {
        ++line_;
        ++pos_;
      } else if (c == '#') {
        while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
      } else if (std::isspace(static_cast<unsigned char>(c)) || c == ',' || c == ';') {
        ++pos_;  // protobuf text format allows ',' or ';' between fields
      } else {
        return;
      }
    }
  }

  bool at_end() {
    skip_space();
    return pos_ >= s_.size();
  }
  char peek() { return at_end() ? '\0' : s_[pos_]; }

  static bool is_ident_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' || c == '+';
  }

  Status parse_fields(TextMessage* msg, char closing, int depth) {
    if (depth > kMaxDepth) return error("messages nested too deeply");
    while (true) {
      if (at_end()) {
        if (closing != '\0') return error(std::string("expected '") + closing + "' before the end");
        return Status::OK();
      }
      if (peek() == closing) {
        ++pos_;
        return Status::OK();
      }
      std::string name;
      while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) {
        name += s_[pos_++];
      }
      if (name.empty()) return error(std::string("expected a field name, got '") + s_[pos_] + "'");
      bool colon = false;
      if (peek() == ':') {
        ++pos_;
        colon = true;
      }
      char c = peek();
      if (c == '[') {
        ++pos_;
        while (true) {
          if (peek() == ']') {
            ++pos_;
            break;
          }
          if (at_end()) return error("expected ']' for field '" + name + "'");
          KILN_ASSIGN_OR_RETURN(TextValue v, parse_value(name, depth));
          msg->fields[name].push_back(std::move(v));
        }
      } else if (c == '{' || c == '<' || colon) {
        KILN_ASSIGN_OR_RETURN(TextValue v, parse_value(name, depth));
        msg->fields[name].push_back(std::move(v));
      } else {
        return error("expected ':' or '{' after field '" + name + "'");
      }
    }
  }

  Expected<TextValue> parse_value(const std::string& field, int depth) {
    TextValue v;
    char c = peek();
    if (c == '{' || c == '<') {
      ++pos_;
      v.kind = TextValue::Kind::kMessage;
      v.message = std::make_shared<TextMessage>();
      KILN_RETURN_IF_ERROR(parse_fields(v.message.get(), c == '{' ? '}' : '>', depth + 1));
      return v;
    }
    if (c == '"' || c == '\'') {
      v.kind = TextValue::Kind::kString;
      // Adjacent string literals concatenate, as in C.
      while (peek() == '"' || peek() == '\'') {
        char quote = s_[pos_++];
        while (true) {
          if (pos_ >= s_.size() || s_[pos_] == '\n') return error("unterminated string in field '" + field + "'");
          char ch = s_[pos_++];
          if (ch == quote) break;
          if (ch == '\\' && pos_ < s_.size()) {
            char e = s_[pos_++];
            ch = e == 'n' ? '\n' : e == 't' ? '\t' : e;
          }
          v.text += ch;
        }
      }
      return v;
    }
    size_t start = pos_;
    while (pos_ < s_.size() && is_ident_char(s_[pos_])) ++pos_;
    if (pos_ == start) return error("expected a value for field '" + field + "'");
    v.text = std::string(s_.substr(start, pos_ - start));
    char first = v.text[0];
    v.kind = (std::isdigit(static_cast<unsigned char>(first)) || first == '-' || first == '+')
                 ? TextValue::Kind::kNumber
                 : TextValue::Kind::kIdentifier;
    return v;
  }

  std::string_view s_;
  std::string_view source_;
  size_t pos_ = 0;
  int line_ = 1;
};

}  // namespace

Expected<TextMessage> parse_text_format(std::string_view text, std::string_view source) {
  return Parser(text, source).parse();
}

}  // namespace kiln::serve
