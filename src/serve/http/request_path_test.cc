// Splitting request paths for routing: query strings, escaped names, empty versions, stray slashes.
#include "serve/http/request_path.h"

#include <gtest/gtest.h>

namespace kiln::serve::http {
namespace {

using Parts = std::vector<std::string>;

Parts split(std::string_view target) {
  auto r = split_request_path(target);
  EXPECT_TRUE(r.ok()) << target << ": " << r.status().to_string();
  return r.ok() ? *r : Parts{"<error>"};
}

TEST(RequestPathTest, SplitsAndDropsTheQueryString) {
  EXPECT_EQ(split("/v2/models/simple/infer"), (Parts{"v2", "models", "simple", "infer"}));
  EXPECT_EQ(split("/v2/models/stats?a=1&b=%20"), (Parts{"v2", "models", "stats"}));
  EXPECT_EQ(split("/v2"), (Parts{"v2"}));
  EXPECT_EQ(split("/"), Parts{});
}

TEST(RequestPathTest, KeepsAnEmptyVersionButNotOuterSlashes) {
  EXPECT_EQ(split("/v2/models/m/versions//infer"), (Parts{"v2", "models", "m", "versions", "", "infer"}));
  EXPECT_EQ(split("//v2/health/live/"), (Parts{"v2", "health", "live"}));
  EXPECT_EQ(split("/v2/health/ready//"), (Parts{"v2", "health", "ready"}));
}

TEST(RequestPathTest, PercentDecodesEachSegment) {
  EXPECT_EQ(split("/v2/models/my%20model/versions/1"), (Parts{"v2", "models", "my model", "versions", "1"}));
  EXPECT_EQ(split("/v2/models/a%2Fb%2f"), (Parts{"v2", "models", "a/b/"}));
  for (std::string_view bad : {"/v2/models/a%2", "/v2/models/%zz", "/v2/models/%"}) {
    auto r = split_request_path(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(split_request_path("/v2/models/%zz").status().message(),
            "malformed percent-escape in the path segment '%zz'");
}

}  // namespace
}  // namespace kiln::serve::http
