#include "agent/io/exec.h"

#include <filesystem>
#include <string>

#include "agent/logger/fd_testing.h"
#include "agent/logger/log_testing.h"
#include "agent/oci_spec.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::ExecStart Start(std::vector<std::string> args) {
  v1::ExecStart start;
  start.set_sandbox_id("s1");
  for (auto& a : args) start.add_args(a);
  return start;
}

TEST(ValidateExecStartTest, AcceptsACommand) {
  v1::ExecStart start = Start({"sh", "-c", "true"});
  (*start.mutable_env())["A_1"] = "x";
  start.set_working_dir("/tmp");
  EXPECT_TRUE(ValidateExecStart(start).ok());
  start.set_tty(true);
  start.mutable_size()->set_rows(24);
  start.mutable_size()->set_cols(80);
  EXPECT_TRUE(ValidateExecStart(start).ok());
}

TEST(ValidateExecStartTest, RejectsBadInput) {
  struct Case {
    std::string name;
    v1::ExecStart start;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({"no args", Start({}), "args"});
  cases.push_back({"empty command", Start({""}), "args"});
  {
    v1::ExecStart s = Start({"ls"});
    (*s.mutable_env())["1BAD"] = "x";
    cases.push_back({"env name", s, "env"});
  }
  {
    v1::ExecStart s = Start({"ls"});
    s.set_working_dir("relative");
    cases.push_back({"relative cwd", s, "working_dir"});
  }
  {
    v1::ExecStart s = Start({"ls"});
    s.mutable_size()->set_rows(24);
    s.mutable_size()->set_cols(80);
    cases.push_back({"size without tty", s, "tty"});
  }
  {
    v1::ExecStart s = Start({"ls"});
    s.set_tty(true);
    s.mutable_size()->set_rows(24);
    cases.push_back({"half a size", s, "size"});
  }
  {
    v1::ExecStart s = Start({"ls"});
    s.set_tty(true);
    s.mutable_size()->set_rows(70000);
    s.mutable_size()->set_cols(80);
    cases.push_back({"huge size", s, "size"});
  }
  for (const Case& c : cases) {
    absl::Status s = ValidateExecStart(c.start);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << c.name << ": " << s;
    EXPECT_THAT(s.message(), HasSubstr(c.message)) << c.name;
  }
}

// The process object of `json`.
google::protobuf::Struct Parse(const std::string& json) {
  google::protobuf::Struct out;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &out).ok()) << json;
  return out;
}

std::vector<std::string> Strings(const google::protobuf::Struct& s, const std::string& key) {
  std::vector<std::string> out;
  for (const auto& v : s.fields().at(key).list_value().values()) out.push_back(v.string_value());
  return out;
}

TEST(ExecProcessJsonTest, KeepsTheSandboxProcessAndAppliesTheRequest) {
  ProcessSpec process{.args = {"sleep", "3600"},
                      .env = {"PATH=/bin", "HOME=/root", "MODE=prod"},
                      .cwd = "/srv",
                      .uid = 1000,
                      .gid = 1001};
  const std::string spec = BuildRuntimeSpecJson(process, {.hostname = "h"});
  v1::ExecStart start = Start({"sh", "-c", "echo hi"});
  (*start.mutable_env())["MODE"] = "debug";
  (*start.mutable_env())["ZED"] = "1";
  (*start.mutable_env())["ALPHA"] = "2";
  absl::StatusOr<std::string> json = ExecProcessJson(spec, start);
  ASSERT_TRUE(json.ok()) << json.status();
  google::protobuf::Struct exec = Parse(*json);
  EXPECT_THAT(Strings(exec, "args"), ElementsAre("sh", "-c", "echo hi"));
  EXPECT_THAT(Strings(exec, "env"),
              ElementsAre("PATH=/bin", "HOME=/root", "MODE=debug", "ALPHA=2", "ZED=1"));
  EXPECT_EQ(exec.fields().at("cwd").string_value(), "/srv");
  EXPECT_FALSE(exec.fields().at("terminal").bool_value());
  // The sandbox's identity and confinement come along, numbers as integers.
  EXPECT_THAT(*json, HasSubstr(R"("uid":1000)"));
  EXPECT_THAT(*json, HasSubstr(R"("gid":1001)"));
  EXPECT_THAT(*json, HasSubstr(R"("hard":1024)"));
  EXPECT_TRUE(exec.fields().at("noNewPrivileges").bool_value());
  EXPECT_TRUE(exec.fields().contains("capabilities"));
}

TEST(ExecProcessJsonTest, WorkingDirAndTerminal) {
  const std::string spec =
      BuildRuntimeSpecJson({.args = {"x"}, .env = {}, .cwd = "/"}, {.hostname = "h"});
  v1::ExecStart start = Start({"sh"});
  start.set_working_dir("/tmp");
  start.set_tty(true);
  absl::StatusOr<std::string> json = ExecProcessJson(spec, start);
  ASSERT_TRUE(json.ok()) << json.status();
  google::protobuf::Struct exec = Parse(*json);
  EXPECT_EQ(exec.fields().at("cwd").string_value(), "/tmp");
  EXPECT_TRUE(exec.fields().at("terminal").bool_value());
}

TEST(ExecProcessJsonTest, ASpecWithoutAProcessIsAFailedPrecondition) {
  EXPECT_TRUE(absl::IsFailedPrecondition(ExecProcessJson("{}", Start({"ls"})).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(ExecProcessJson("not json", Start({"ls"})).status()));
}

// Makes a session for exec-1 of s1 (FIFOs in dir/exec-1; no containerd) and runs it with
// `spare` descriptors left.
absl::Status RunWithSpareDescriptors(const std::string& dir, int spare) {
  Containerd containerd({.socket = dir + "/no-containerd.sock"});
  logger::DescriptorLimit limit(spare);
  ExecSession session(&containerd, {.container_id = "s1",
                                    .exec_id = "exec-1",
                                    .fifo_dir = dir + "/exec-1",
                                    .max_duration = absl::Minutes(1)});
  return session.Run([](v1::ExecOutput) { return true; });
}

TEST(ExecSessionTest, WithoutADescriptorLeftRunIsRefusedBeforeAnythingIsCreated) {
  logger::TempDir temp;
  const std::string& dir = temp.path();
  const absl::Status s = RunWithSpareDescriptors(dir, 0);
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_EQ(s.message(), "no file descriptor left for an eventfd: Too many open files");
  EXPECT_FALSE(std::filesystem::exists(dir + "/exec-1"));
}

// (Its FIFO folder may stay behind, since removing it needs a descriptor too: the
// janitor's CollectOrphans removes it later.)
TEST(ExecSessionTest, WithoutADescriptorForItsFifosRunIsRefusedBeforeTheExec) {
  logger::TempDir temp;
  const std::string& dir = temp.path();
  // Four: the session's and its run's events.
  const absl::Status s = RunWithSpareDescriptors(dir, /*spare=*/4);
  EXPECT_TRUE(absl::IsResourceExhausted(s)) << s;
  EXPECT_EQ(s.message(), "cannot open " + dir + "/exec-1/stdout: Too many open files");
}

}  // namespace
}  // namespace fsb::agent
