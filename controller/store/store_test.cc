#include "controller/store/store.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::store {
namespace {

using Op = LabelRequirement::Op;
using ::testing::HasSubstr;

TEST(ParseLabelSelectorTest, ParsesEveryForm) {
  absl::StatusOr<LabelSelector> s =
      ParseLabelSelector(" app = web, tier==front,env!=prod ,gpu, !legacy,fsb.io/pool=a");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->size(), 6u);
  EXPECT_EQ((*s)[0].key, "app");
  EXPECT_EQ((*s)[0].op, Op::kEquals);
  EXPECT_EQ((*s)[0].value, "web");
  EXPECT_EQ((*s)[1].op, Op::kEquals);
  EXPECT_EQ((*s)[1].value, "front");
  EXPECT_EQ((*s)[2].op, Op::kNotEquals);
  EXPECT_EQ((*s)[2].value, "prod");
  EXPECT_EQ((*s)[3].op, Op::kExists);
  EXPECT_EQ((*s)[3].key, "gpu");
  EXPECT_EQ((*s)[4].op, Op::kNotExists);
  EXPECT_EQ((*s)[4].key, "legacy");
  EXPECT_EQ((*s)[5].key, "fsb.io/pool");
}

TEST(ParseLabelSelectorTest, EmptySelectsEverything) {
  absl::StatusOr<LabelSelector> s = ParseLabelSelector("  ");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->empty());
  EXPECT_TRUE(Matches(*s, {{"a", "b"}}));
}

TEST(ParseLabelSelectorTest, EmptyValueIsAllowed) {
  absl::StatusOr<LabelSelector> s = ParseLabelSelector("a=");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(Matches(*s, {{"a", ""}}));
  EXPECT_FALSE(Matches(*s, {{"a", "x"}}));
}

TEST(ParseLabelSelectorTest, RejectsBadSyntax) {
  for (const char* bad : {"a=b,,c", "=b", "a=b=c", "!a=b", "a b", "!", "a==b==c", "-a", "a=b c",
                          "a=-b", "UPPER/x=1", "a,"}) {
    absl::StatusOr<LabelSelector> s = ParseLabelSelector(bad);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.status().message(), HasSubstr("label selector")) << bad;
  }
}

TEST(MatchesTest, FollowsKubernetesSemantics) {
  Labels labels = {{"app", "web"}, {"env", "dev"}};
  auto matches = [&](const char* selector) {
    absl::StatusOr<LabelSelector> s = ParseLabelSelector(selector);
    EXPECT_TRUE(s.ok()) << selector;
    return Matches(*s, labels);
  };
  EXPECT_TRUE(matches("app=web"));
  EXPECT_FALSE(matches("app=db"));
  EXPECT_TRUE(matches("app!=db"));
  EXPECT_TRUE(matches("tier!=front"));  // absent key satisfies !=
  EXPECT_FALSE(matches("env!=dev"));
  EXPECT_TRUE(matches("env"));
  EXPECT_FALSE(matches("tier"));
  EXPECT_TRUE(matches("!tier"));
  EXPECT_FALSE(matches("!env"));
  EXPECT_TRUE(matches("app=web,env=dev"));
  EXPECT_FALSE(matches("app=web,env=prod"));
}

}  // namespace
}  // namespace fsb::store
