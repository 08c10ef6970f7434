#include "controller/list_pager.h"

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::controller {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Key = ListPager::Key;

TEST(ListPagerTest, PagesOfPageSizeThenATokenForTheRest) {
  absl::StatusOr<ListPager> first = ListPager::Start(2, "", {"ns", "sel"}, 2);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->after().empty());
  EXPECT_EQ(first->read_limit(), 3u);
  EXPECT_TRUE(first->Add({"a", "x"}, 10));
  EXPECT_TRUE(first->Add({"a", "y"}, 10));
  EXPECT_FALSE(first->Add({"b", "x"}, 10));
  EXPECT_FALSE(first->Add({"b", "y"}, 1));  // closed
  absl::StatusOr<std::string> token = first->Finish();
  ASSERT_TRUE(token.ok()) << token.status();
  ASSERT_FALSE(token->empty());

  absl::StatusOr<ListPager> second = ListPager::Start(2, *token, {"ns", "sel"}, 2);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_THAT(second->after(), ElementsAre("a", "y"));
  EXPECT_TRUE(second->Add({"b", "x"}, 10));
  absl::StatusOr<std::string> last = second->Finish();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, "");  // nothing was refused: the end
}

TEST(ListPagerTest, WithoutPageSizeEverythingThatFitsOneResponse) {
  absl::StatusOr<ListPager> pager = ListPager::Start(0, "", {}, 1);
  ASSERT_TRUE(pager.ok());
  EXPECT_EQ(pager->read_limit(), 0u);
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE(pager->Add({"agent"}, 100)) << i;
  absl::StatusOr<std::string> token = pager->Finish();
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(*token, "");
}

TEST(ListPagerTest, WithoutPageSizeMoreThanOneResponseIsResourceExhausted) {
  absl::StatusOr<ListPager> pager = ListPager::Start(0, "", {}, 1);
  ASSERT_TRUE(pager.ok());
  EXPECT_TRUE(pager->Add({"a"}, kMaxListPageBytes / 2));
  EXPECT_FALSE(pager->Add({"b"}, kMaxListPageBytes / 2));
  absl::StatusOr<std::string> token = pager->Finish();
  EXPECT_EQ(token.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(token.status().message(), HasSubstr("page_size"));
}

TEST(ListPagerTest, APageEndsBeforeItPassesTheByteBoundButHoldsOneItem) {
  absl::StatusOr<ListPager> pager = ListPager::Start(kMaxListPageSize, "", {}, 1);
  ASSERT_TRUE(pager.ok());
  // An item larger than the bound alone is a page of its own.
  EXPECT_TRUE(pager->Add({"huge"}, kMaxListPageBytes + 1));
  EXPECT_FALSE(pager->Add({"small"}, 1));
  absl::StatusOr<std::string> token = pager->Finish();
  ASSERT_TRUE(token.ok());
  absl::StatusOr<ListPager> next = ListPager::Start(kMaxListPageSize, *token, {}, 1);
  ASSERT_TRUE(next.ok());
  EXPECT_THAT(next->after(), ElementsAre("huge"));
  // Three items of a third of the bound do not fit with their framing; two do.
  EXPECT_TRUE(next->Add({"small"}, kMaxListPageBytes / 3));
  EXPECT_TRUE(next->Add({"t"}, kMaxListPageBytes / 3));
  EXPECT_FALSE(next->Add({"u"}, kMaxListPageBytes / 3));
}

TEST(ListPagerTest, KeysWithAnyBytesRoundTrip) {
  const Key key = {std::string("a:1\0b", 5), ""};
  absl::StatusOr<ListPager> pager = ListPager::Start(1, "", {"12:x"}, 2);
  ASSERT_TRUE(pager.ok());
  EXPECT_TRUE(pager->Add(key, 1));
  EXPECT_FALSE(pager->Add({"z", "z"}, 1));
  absl::StatusOr<std::string> token = pager->Finish();
  ASSERT_TRUE(token.ok());
  absl::StatusOr<ListPager> next = ListPager::Start(1, *token, {"12:x"}, 2);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->after(), key);
}

TEST(ListPagerTest, BadPageSizesAndTokensAreInvalidArgumentNamingTheField) {
  for (int32_t size : {-1, kMaxListPageSize + 1}) {
    absl::StatusOr<ListPager> pager = ListPager::Start(size, "", {}, 1);
    EXPECT_EQ(pager.status().code(), absl::StatusCode::kInvalidArgument) << size;
    EXPECT_THAT(pager.status().message(), HasSubstr("page_size")) << size;
  }
  for (const std::string token : {std::string("not base64!"), absl::WebSafeBase64Escape("garbage"),
                                  absl::WebSafeBase64Escape("1:11:a"),      // too few fields
                                  absl::WebSafeBase64Escape("1:21:a1:b"),   // another version
                                  absl::WebSafeBase64Escape("1:199:a1:b"),  // a length past the end
                                  absl::WebSafeBase64Escape("1:11:a1:b1:c")})  // too many fields
  {
    absl::StatusOr<ListPager> pager = ListPager::Start(1, token, {}, 2);
    EXPECT_EQ(pager.status().code(), absl::StatusCode::kInvalidArgument) << token;
    EXPECT_THAT(pager.status().message(), HasSubstr("continue_token")) << token;
  }
  EXPECT_TRUE(ListPager::Start(1, absl::WebSafeBase64Escape("1:11:a1:b"), {}, 2).ok());
}

TEST(ListPagerTest, ATokenOfAnotherQueryIsRefused) {
  absl::StatusOr<ListPager> pager = ListPager::Start(1, "", {"team-a", ""}, 1);
  ASSERT_TRUE(pager.ok());
  pager->Add({"x"}, 1);
  pager->Add({"y"}, 1);
  absl::StatusOr<std::string> token = pager->Finish();
  ASSERT_TRUE(token.ok());
  absl::StatusOr<ListPager> other = ListPager::Start(1, *token, {"team-b", ""}, 1);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(other.status().message(), HasSubstr("continue_token: issued for another query"));
  EXPECT_FALSE(ListPager::Start(1, *token, {"team-a", "tier=x"}, 1).ok());
  EXPECT_TRUE(ListPager::Start(1, *token, {"team-a", ""}, 1).ok());
}

}  // namespace
}  // namespace fsb::controller
