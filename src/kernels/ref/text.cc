// Text operators: StringNormalizer (opset 10) and TfIdfVectorizer (opset 9).
#include <algorithm>
#include <clocale>
#include <cstring>
#include <cwctype>
#include <locale>
#include <map>
#include <set>

#include "kernels/ref/common.h"

namespace kiln::ref {
namespace {

// ---- Case conversion ------------------------------------------------------------------------------

enum class CaseAction { kNone, kLower, kUpper };

// Unicode simple case mapping through the C.UTF-8 locale's wide ctype facet (ASCII only when the
// platform lacks that locale). The locale attribute is deliberately not used: locales installed vary
// by machine, and a model should give the same strings everywhere.
const std::ctype<wchar_t>* unicode_ctype() {
  static const std::ctype<wchar_t>* facet = []() -> const std::ctype<wchar_t>* {
    try {
      static const std::locale loc("C.UTF-8");
      return &std::use_facet<std::ctype<wchar_t>>(loc);
    } catch (...) {
      return nullptr;
    }
  }();
  return facet;
}

// Decodes one UTF-8 code point at s[i]; returns its length, or 0 for an invalid sequence.
size_t decode_utf8(const std::string& s, size_t i, char32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t len;
  char32_t v;
  if (c < 0x80) { *cp = c; return 1; }
  if ((c & 0xE0) == 0xC0) { len = 2; v = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { len = 3; v = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { len = 4; v = c & 0x07; }
  else return 0;
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(i + k) & 0x3F);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < kMin[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

void encode_utf8(char32_t v, std::string* out) {
  if (v < 0x80) {
    out->push_back(static_cast<char>(v));
  } else if (v < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (v >> 6)));
    out->push_back(static_cast<char>(0x80 | (v & 0x3F)));
  } else if (v < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (v >> 12)));
    out->push_back(static_cast<char>(0x80 | ((v >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (v & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (v >> 18)));
    out->push_back(static_cast<char>(0x80 | ((v >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((v >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (v & 0x3F)));
  }
}

// Changes the case of every code point; bytes that are not valid UTF-8 pass through unchanged.
std::string change_case(const std::string& s, CaseAction action) {
  if (action == CaseAction::kNone) return s;
  const std::ctype<wchar_t>* ct = unicode_ctype();
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    char32_t cp;
    const size_t len = decode_utf8(s, i, &cp);
    if (len == 0) {
      out.push_back(s[i++]);
      continue;
    }
    i += len;
    if (ct) {
      const wchar_t w = static_cast<wchar_t>(cp);
      cp = static_cast<char32_t>(action == CaseAction::kUpper ? ct->toupper(w) : ct->tolower(w));
    } else if (cp < 0x80) {
      cp = static_cast<char32_t>(action == CaseAction::kUpper ? std::toupper(static_cast<int>(cp)) : std::tolower(static_cast<int>(cp)));
    }
    encode_utf8(cp, &out);
  }
  return out;
}

// ---- StringNormalizer -------------------------------------------------------------------------------

class StringNormalizerKernel : public Kernel {
 public:
  StringNormalizerKernel(CaseAction action, bool case_sensitive, std::set<std::string> stopwords)
      : action_(action), case_sensitive_(case_sensitive), stopwords_(std::move(stopwords)) {}

  // Case-insensitive matching compares both sides converted the way the output will be (upper when
  // the output is uppercased, lower otherwise), like ONNX Runtime.
  CaseAction compare_action() const { return action_ == CaseAction::kUpper ? CaseAction::kUpper : CaseAction::kLower; }

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    if (x.dtype() != DataType::kString) return Status::InvalidArgument("input must be a string tensor");
    const bool two_d = x.rank() == 2;
    if (!(x.rank() == 1 || (two_d && x.dim(0) == 1))) {
      return Status::InvalidArgument("input must have shape [C] or [1, C], got " + shape_to_string(x.shape()));
    }
    std::vector<std::string> kept;
    const std::string* xs = x.data<std::string>();
    for (int64_t i = 0; i < x.size(); ++i) {
      const std::string& s = xs[i];
      if (!stopwords_.empty()) {
        const bool stop = case_sensitive_ ? stopwords_.count(s) > 0 : stopwords_.count(change_case(s, compare_action())) > 0;
        if (stop) continue;
      }
      kept.push_back(change_case(s, action_));
    }
    if (kept.empty()) kept.emplace_back();  // all dropped: one empty string
    const int64_t n = static_cast<int64_t>(kept.size());
    ctx.set_output(0, Tensor::from_vector<std::string>(two_d ? Shape{1, n} : Shape{n}, kept));
    return Status::OK();
  }

 private:
  CaseAction action_;
  bool case_sensitive_;
  std::set<std::string> stopwords_;  // converted by compare_action() when matching ignores case
};

Expected<std::unique_ptr<Kernel>> make_string_normalizer(const KernelBuildContext& b) {
  const std::string a = b.node.attr_string("case_change_action", "NONE");
  CaseAction action;
  if (a == "NONE") action = CaseAction::kNone;
  else if (a == "LOWER") action = CaseAction::kLower;
  else if (a == "UPPER") action = CaseAction::kUpper;
  else return Status::InvalidArgument("unknown case_change_action '" + a + "'");
  const bool case_sensitive = b.node.attr_int("is_case_sensitive", 0) != 0;
  const CaseAction compare = action == CaseAction::kUpper ? CaseAction::kUpper : CaseAction::kLower;
  std::set<std::string> stopwords;
  for (const std::string& w : b.node.attr_strings("stopwords")) stopwords.insert(case_sensitive ? w : change_case(w, compare));
  return std::unique_ptr<Kernel>(std::make_unique<StringNormalizerKernel>(action, case_sensitive, std::move(stopwords)));
}

// ---- TfIdfVectorizer --------------------------------------------------------------------------------

enum class Weighting { kTF, kIDF, kTFIDF };

struct TfIdfConfig {
  Weighting mode = Weighting::kTF;
  int64_t min_n = 1, max_n = 1, max_skip = 0;
  std::vector<int64_t> ngram_indexes;
  std::vector<float> weights;  // per pool n-gram; empty means all ones
  int64_t out_size = 0;
};

// The pool as a map from n-gram to its position in the pool, keyed by element type.
template <typename K>
using Pool = std::map<std::vector<K>, int64_t>;

template <typename K>
class TfIdfKernel : public Kernel {
 public:
  TfIdfKernel(TfIdfConfig cfg, Pool<K> pool) : cfg_(std::move(cfg)), pool_(std::move(pool)) {}

  Status run(KernelContext& ctx) const override {
    KILN_RETURN_IF_ERROR(require_tensor(ctx, 0));
    const Tensor& x = ctx.tensor(0);
    constexpr bool kStrings = std::is_same_v<K, std::string>;
    if (kStrings ? x.dtype() != DataType::kString : (x.dtype() != DataType::kInt32 && x.dtype() != DataType::kInt64)) {
      return Status::InvalidArgument(std::string("input must be ") + (kStrings ? "a string" : "an int32 or int64") +
                                     " tensor to match the pool, got " + std::string(data_type_name(x.dtype())));
    }
    if (x.rank() != 1 && x.rank() != 2) return Status::InvalidArgument("input must be 1-D or 2-D, got shape " + shape_to_string(x.shape()));
    const int64_t rows = x.rank() == 2 ? x.dim(0) : 1;
    const int64_t cols = x.rank() == 2 ? x.dim(1) : x.dim(0);
    std::vector<K> row(static_cast<size_t>(cols));
    KILN_ASSIGN_OR_RETURN(Tensor y, Tensor::make(DataType::kFloat32, x.rank() == 2 ? Shape{rows, cfg_.out_size} : Shape{cfg_.out_size}));
    float* ys = y.data<float>();
    std::vector<int64_t> counts(cfg_.ngram_indexes.size());
    std::vector<K> gram;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t at = r * cols + c;
        if constexpr (kStrings) {
          row[static_cast<size_t>(c)] = x.data<std::string>()[at];
        } else {
          row[static_cast<size_t>(c)] = x.dtype() == DataType::kInt32 ? x.data<int32_t>()[at] : x.data<int64_t>()[at];
        }
      }
      std::fill(counts.begin(), counts.end(), 0);
      for (int64_t n = cfg_.min_n; n <= cfg_.max_n; ++n) {
        // Skips only change which elements follow the first, so 1-grams are counted once.
        const int64_t max_skip = n == 1 ? 0 : cfg_.max_skip;
        for (int64_t skip = 0; skip <= max_skip; ++skip) {
          const int64_t stride = skip + 1;
          for (int64_t start = 0; start + (n - 1) * stride < cols; ++start) {
            gram.clear();
            for (int64_t k = 0; k < n; ++k) gram.push_back(row[static_cast<size_t>(start + k * stride)]);
            const auto it = pool_.find(gram);
            if (it != pool_.end()) ++counts[static_cast<size_t>(it->second)];
          }
        }
      }
      float* out = ys + r * cfg_.out_size;
      for (size_t i = 0; i < counts.size(); ++i) {
        if (counts[i] == 0) continue;
        const float w = cfg_.weights.empty() ? 1.0f : cfg_.weights[i];
        float v = static_cast<float>(counts[i]);
        if (cfg_.mode == Weighting::kIDF) v = w;
        else if (cfg_.mode == Weighting::kTFIDF) v *= w;
        out[cfg_.ngram_indexes[i]] += v;
      }
    }
    ctx.set_output(0, std::move(y));
    return Status::OK();
  }

 private:
  TfIdfConfig cfg_;
  Pool<K> pool_;
};

// Splits the flat pool into n-grams: those of length n sit in [ngram_counts[n-1], ngram_counts[n]).
template <typename K>
Expected<Pool<K>> build_pool(const std::vector<K>& flat, const std::vector<int64_t>& starts, size_t num_grams) {
  Pool<K> pool;
  int64_t ordinal = 0;
  for (size_t level = 0; level < starts.size(); ++level) {
    const int64_t n = static_cast<int64_t>(level) + 1;
    const int64_t begin = starts[level];
    const int64_t end = level + 1 < starts.size() ? starts[level + 1] : static_cast<int64_t>(flat.size());
    if (begin < 0 || end < begin || end > static_cast<int64_t>(flat.size()) || (end - begin) % n != 0) {
      return Status::InvalidArgument("ngram_counts does not split the pool into whole " + std::to_string(n) + "-grams");
    }
    for (int64_t i = begin; i < end; i += n, ++ordinal) {
      if (static_cast<size_t>(ordinal) >= num_grams) return Status::InvalidArgument("ngram_indexes is shorter than the pool");
      pool.emplace(std::vector<K>(flat.begin() + i, flat.begin() + i + n), ordinal);
    }
  }
  if (static_cast<size_t>(ordinal) != num_grams) {
    return Status::InvalidArgument("ngram_indexes has " + std::to_string(num_grams) + " entries for a pool of " +
                                   std::to_string(ordinal) + " n-grams");
  }
  return pool;
}

Expected<std::unique_ptr<Kernel>> make_tfidf(const KernelBuildContext& b) {
  const ir::Node& n = b.node;
  TfIdfConfig cfg;
  const std::string mode = n.attr_string("mode", "");
  if (mode == "TF") cfg.mode = Weighting::kTF;
  else if (mode == "IDF") cfg.mode = Weighting::kIDF;
  else if (mode == "TFIDF") cfg.mode = Weighting::kTFIDF;
  else return Status::InvalidArgument("mode must be TF, IDF or TFIDF, got '" + mode + "'");
  cfg.min_n = n.attr_int("min_gram_length", 0);
  cfg.max_n = n.attr_int("max_gram_length", 0);
  cfg.max_skip = n.attr_int("max_skip_count", 0);
  if (cfg.min_n < 1 || cfg.max_n < cfg.min_n || cfg.max_skip < 0) {
    return Status::InvalidArgument("need 1 <= min_gram_length <= max_gram_length and max_skip_count >= 0");
  }
  const std::vector<int64_t> starts = n.attr_ints("ngram_counts");
  cfg.ngram_indexes = n.attr_ints("ngram_indexes");
  cfg.weights = n.attr_floats("weights");
  if (!cfg.weights.empty() && cfg.weights.size() != cfg.ngram_indexes.size()) {
    return Status::InvalidArgument("weights must have one entry per n-gram in the pool");
  }
  for (int64_t idx : cfg.ngram_indexes) {
    if (idx < 0) return Status::InvalidArgument("ngram_indexes must not be negative");
    cfg.out_size = std::max(cfg.out_size, idx + 1);
  }
  if (cfg.max_n > static_cast<int64_t>(starts.size())) {
    return Status::InvalidArgument("ngram_counts has no entry for " + std::to_string(cfg.max_n) + "-grams");
  }
  const bool has_ints = n.has_attr("pool_int64s"), has_strings = n.has_attr("pool_strings");
  if (has_ints == has_strings) return Status::InvalidArgument("exactly one of pool_int64s and pool_strings is required");
  if (has_ints) {
    KILN_ASSIGN_OR_RETURN(Pool<int64_t> pool, build_pool(n.attr_ints("pool_int64s"), starts, cfg.ngram_indexes.size()));
    return std::unique_ptr<Kernel>(std::make_unique<TfIdfKernel<int64_t>>(std::move(cfg), std::move(pool)));
  }
  KILN_ASSIGN_OR_RETURN(Pool<std::string> pool, build_pool(n.attr_strings("pool_strings"), starts, cfg.ngram_indexes.size()));
  return std::unique_ptr<Kernel>(std::make_unique<TfIdfKernel<std::string>>(std::move(cfg), std::move(pool)));
}

}  // namespace

KILN_REGISTER_KERNEL("", "StringNormalizer", 10, kMaxOpset, make_string_normalizer);
KILN_REGISTER_KERNEL("", "TfIdfVectorizer", 9, kMaxOpset, make_tfidf);

}  // namespace kiln::ref
