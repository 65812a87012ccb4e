// HTTP content codings: the bytes Python's gzip and zlib modules write (what tritonclient sends),
// round trips, the decoded-size cap against decompression bombs, corrupt and truncated data, and
// the choice of a response coding from Accept-Encoding.
#include "serve/http/content_coding.h"

#include <gtest/gtest.h>

namespace kiln::serve::http {
namespace {

std::string bytes(std::initializer_list<unsigned char> list) { return std::string(list.begin(), list.end()); }

// gzip.compress(b'{"inputs":[]}', mtime=0) and zlib.compress(b'{"inputs":[]}') in Python 3.11.
const std::string kPythonGzip =
    bytes({0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xab, 0x56, 0xca, 0xcc, 0x2b, 0x28, 0x2d,
           0x29, 0x56, 0xb2, 0x8a, 0x8e, 0xad, 0x05, 0x00, 0xa2, 0x00, 0xa9, 0xa6, 0x0d, 0x00, 0x00, 0x00});
const std::string kPythonZlib = bytes({0x78, 0x9c, 0xab, 0x56, 0xca, 0xcc, 0x2b, 0x28, 0x2d, 0x29, 0x56,
                                       0xb2, 0x8a, 0x8e, 0xad, 0x05, 0x00, 0x22, 0x03, 0x04, 0xd2});
constexpr size_t kLimit = 1 << 20;

TEST(ContentCodingTest, DecodesWhatPythonsGzipAndZlibWrite) {
  auto g = decode_content(kPythonGzip, ContentCoding::kGzip, kLimit);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  EXPECT_EQ(*g, R"({"inputs":[]})");
  auto z = decode_content(kPythonZlib, ContentCoding::kDeflate, kLimit);
  ASSERT_TRUE(z.ok()) << z.status().to_string();
  EXPECT_EQ(*z, R"({"inputs":[]})");
}

TEST(ContentCodingTest, RoundTripsEachCodingIncludingRawDeflateAndConcatenatedGzip) {
  std::string body;
  for (int i = 0; i < 100000; ++i) body += static_cast<char>(i * 7 % 251);
  for (ContentCoding c : {ContentCoding::kGzip, ContentCoding::kDeflate, ContentCoding::kIdentity}) {
    const std::string encoded = encode_content(body, c);
    auto decoded = decode_content(encoded, c, kLimit);
    ASSERT_TRUE(decoded.ok()) << content_coding_name(c) << ": " << decoded.status().to_string();
    EXPECT_EQ(*decoded, body) << content_coding_name(c);
  }
  // Raw deflate data (no zlib wrapper) under "deflate": the zlib stream minus its 2-byte header and
  // 4-byte checksum.
  const std::string zlib = encode_content(body, ContentCoding::kDeflate);
  auto raw = decode_content(zlib.substr(2, zlib.size() - 6), ContentCoding::kDeflate, kLimit);
  ASSERT_TRUE(raw.ok()) << raw.status().to_string();
  EXPECT_EQ(*raw, body);
  auto two = decode_content(kPythonGzip + kPythonGzip, ContentCoding::kGzip, kLimit);
  ASSERT_TRUE(two.ok()) << two.status().to_string();
  EXPECT_EQ(*two, R"({"inputs":[]}{"inputs":[]})");
}

TEST(ContentCodingTest, CapsTheDecodedSize) {
  const std::string zeros(4 << 20, '\0');
  const std::string bomb = encode_content(zeros, ContentCoding::kGzip);
  ASSERT_LT(bomb.size(), 64u << 10);
  auto r = decode_content(bomb, ContentCoding::kGzip, kLimit);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(r.status().message(), "the gzip request body decodes to more than the limit of 1048576 bytes");
  // Exactly at the limit is fine.
  auto at = decode_content(encode_content(zeros.substr(0, kLimit), ContentCoding::kGzip), ContentCoding::kGzip, kLimit);
  ASSERT_TRUE(at.ok()) << at.status().to_string();
  EXPECT_EQ(at->size(), kLimit);
}

TEST(ContentCodingTest, RejectsCorruptTruncatedAndTrailingData) {
  auto corrupt = decode_content("not gzip at all", ContentCoding::kGzip, kLimit);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(corrupt.status().message(), "the gzip request body is corrupt: incorrect header check");
  auto truncated = decode_content(kPythonGzip.substr(0, 20), ContentCoding::kGzip, kLimit);
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().message(), "the gzip request body is truncated");
  auto empty = decode_content("", ContentCoding::kDeflate, kLimit);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().message(), "the deflate request body is truncated");
  auto trailing = decode_content(kPythonZlib + "xyz", ContentCoding::kDeflate, kLimit);
  ASSERT_FALSE(trailing.ok());
  EXPECT_EQ(trailing.status().message(), "3 bytes follow the deflate data of the request body");
}

TEST(ContentCodingTest, ParsesContentEncoding) {
  EXPECT_EQ(*parse_content_encoding("gzip"), ContentCoding::kGzip);
  EXPECT_EQ(*parse_content_encoding(" GZIP "), ContentCoding::kGzip);
  EXPECT_EQ(*parse_content_encoding("x-gzip"), ContentCoding::kGzip);
  EXPECT_EQ(*parse_content_encoding("deflate"), ContentCoding::kDeflate);
  EXPECT_EQ(*parse_content_encoding("identity"), ContentCoding::kIdentity);
  EXPECT_EQ(*parse_content_encoding(""), ContentCoding::kIdentity);
  auto br = parse_content_encoding("br");
  ASSERT_FALSE(br.ok());
  EXPECT_EQ(br.status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(br.status().message(), "Content-Encoding 'br' is not supported (supported: gzip, deflate, identity)");
  EXPECT_FALSE(parse_content_encoding("gzip, deflate").ok());
}

TEST(ContentCodingTest, ChoosesTheResponseCodingFromAcceptEncoding) {
  EXPECT_EQ(choose_response_coding(""), ContentCoding::kIdentity);
  EXPECT_EQ(choose_response_coding("gzip"), ContentCoding::kGzip);
  EXPECT_EQ(choose_response_coding("deflate"), ContentCoding::kDeflate);
  EXPECT_EQ(choose_response_coding("gzip, deflate"), ContentCoding::kGzip);  // python-requests, httpx
  EXPECT_EQ(choose_response_coding("gzip;q=0.5, deflate"), ContentCoding::kDeflate);
  EXPECT_EQ(choose_response_coding("gzip;q=0, deflate;q=0"), ContentCoding::kIdentity);
  EXPECT_EQ(choose_response_coding("br, identity"), ContentCoding::kIdentity);
  EXPECT_EQ(choose_response_coding("*"), ContentCoding::kGzip);
  EXPECT_EQ(choose_response_coding("gzip;q=0, *"), ContentCoding::kDeflate);
  EXPECT_EQ(choose_response_coding("DEFLATE ; q=1.0"), ContentCoding::kDeflate);
}

}  // namespace
}  // namespace kiln::serve::http
