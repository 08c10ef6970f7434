#include "agent/seccomp/profile.h"

#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <string>
#include <vector>

#include "agent/init/seccomp_filter.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;

// The profile as parsed JSON.
Struct Profile(const std::vector<std::string>& extra = {}) {
  JsonWriter w;
  w.BeginObject().Key("seccomp");
  WriteSeccompProfile(w, extra);
  w.EndObject();
  Struct spec;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(w.str(), &spec).ok()) << w.str();
  return spec.fields().at("seccomp").struct_value();
}

std::vector<std::string> Strings(const ListValue& list) {
  std::vector<std::string> out;
  for (const Value& v : list.values()) out.push_back(v.string_value());
  return out;
}

const ListValue& Rules(const Struct& profile) {
  return profile.fields().at("syscalls").list_value();
}

// The names allowed by rules without argument conditions.
std::set<std::string> UnconditionallyAllowed(const Struct& profile) {
  std::set<std::string> names;
  for (const Value& rule : Rules(profile).values()) {
    const auto& f = rule.struct_value().fields();
    if (f.at("action").string_value() != "SCMP_ACT_ALLOW" || f.contains("args")) continue;
    for (const std::string& name : Strings(f.at("names").list_value())) names.insert(name);
  }
  return names;
}

// The rules naming `name`.
std::vector<Struct> RulesFor(const Struct& profile, const std::string& name) {
  std::vector<Struct> out;
  for (const Value& rule : Rules(profile).values()) {
    const std::vector<std::string> names =
        Strings(rule.struct_value().fields().at("names").list_value());
    if (std::find(names.begin(), names.end(), name) != names.end())
      out.push_back(rule.struct_value());
  }
  return out;
}

TEST(SeccompProfileTest, DeniesWithEpermByDefaultOnThisBuildsAbis) {
  const Struct p = Profile();
  EXPECT_EQ(p.fields().at("defaultAction").string_value(), "SCMP_ACT_ERRNO");
  EXPECT_EQ(p.fields().at("defaultErrnoRet").number_value(), EPERM);
#if defined(__x86_64__)
  const std::vector<std::string> abis = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"};
#elif defined(__aarch64__)
  const std::vector<std::string> abis = {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"};
#endif
  EXPECT_EQ(Strings(p.fields().at("architectures").list_value()), abis);
}

TEST(SeccompProfileTest, AllowsWhatProgramsNeedAndNoneOfWhatConfinementForbids) {
  const std::set<std::string> allowed = UnconditionallyAllowed(Profile());
  std::vector<std::string> listed(SeccompAllowedSyscalls().begin(), SeccompAllowedSyscalls().end());
  EXPECT_THAT(allowed, UnorderedElementsAreArray(listed)) << "a name is listed twice";
  for (const char* needed :
       {"read", "write", "openat", "execve", "mmap", "futex", "wait4", "rt_sigaction", "exit_group",
        "prctl", "seccomp", "chroot", "ptrace"}) {
    EXPECT_TRUE(allowed.contains(needed)) << needed;
  }
  for (const char* forbidden : {"unshare",
                                "setns",
                                "clone",
                                "clone3",
                                "mount",
                                "umount",
                                "umount2",
                                "pivot_root",
                                "move_mount",
                                "open_tree",
                                "fsopen",
                                "fsmount",
                                "fsconfig",
                                "fspick",
                                "mount_setattr",
                                "keyctl",
                                "add_key",
                                "request_key",
                                "bpf",
                                "kexec_load",
                                "kexec_file_load",
                                "init_module",
                                "finit_module",
                                "delete_module",
                                "perf_event_open",
                                "swapon",
                                "swapoff",
                                "reboot",
                                "syslog",
                                "acct",
                                "settimeofday",
                                "stime",
                                "clock_settime",
                                "clock_settime64",
                                "userfaultfd",
                                "open_by_handle_at",
                                "name_to_handle_at",
                                "personality",
                                "socket",
                                "io_uring_setup",
                                "io_uring_enter",
                                "io_uring_register",
                                "sethostname",
                                "setdomainname",
                                "quotactl",
                                "iopl",
                                "ioperm",
                                "lookup_dcookie",
                                "kcmp",
                                "pidfd_getfd",
                                "vhangup",
                                "nfsservctl",
                                "uselib",
                                "_sysctl",
                                "vm86",
                                "vm86old"}) {
    EXPECT_FALSE(allowed.contains(forbidden)) << forbidden;
  }
}

TEST(SeccompProfileTest, CloneOnlyWithoutNewNamespacesAndClone3IsEnosys) {
  const Struct p = Profile();
  const std::vector<Struct> clone = RulesFor(p, "clone");
  ASSERT_EQ(clone.size(), 1u);
  EXPECT_EQ(clone[0].fields().at("action").string_value(), "SCMP_ACT_ALLOW");
  const ListValue& args = clone[0].fields().at("args").list_value();
  ASSERT_EQ(args.values_size(), 1);
  const auto& arg = args.values(0).struct_value().fields();
  EXPECT_EQ(arg.at("index").number_value(), 0);
  EXPECT_EQ(arg.at("op").string_value(), "SCMP_CMP_MASKED_EQ");
  // (flags & value) == valueTwo: every CLONE_NEW* flag clear.
  EXPECT_EQ(static_cast<uint64_t>(arg.at("value").number_value()),
            static_cast<uint64_t>(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
                                  CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET));
  EXPECT_EQ(arg.at("valueTwo").number_value(), 0);

  const std::vector<Struct> clone3 = RulesFor(p, "clone3");
  ASSERT_EQ(clone3.size(), 1u);
  EXPECT_EQ(clone3[0].fields().at("action").string_value(), "SCMP_ACT_ERRNO");
  EXPECT_EQ(clone3[0].fields().at("errnoRet").number_value(), ENOSYS);
  EXPECT_FALSE(clone3[0].fields().contains("args"));
}

TEST(SeccompProfileTest, PersonalityAndSocketOnlyWithTheirArguments) {
  const Struct p = Profile();
  std::vector<uint64_t> personas;
  for (const Struct& rule : RulesFor(p, "personality")) {
    const ListValue& args = rule.fields().at("args").list_value();
    ASSERT_EQ(args.values_size(), 1);
    EXPECT_EQ(args.values(0).struct_value().fields().at("op").string_value(), "SCMP_CMP_EQ");
    personas.push_back(args.values(0).struct_value().fields().at("value").number_value());
  }
  EXPECT_THAT(personas,
              UnorderedElementsAreArray({0x0ull, 0x8ull, 0x20000ull, 0x20008ull, 0xffffffffull}));
  const std::vector<Struct> socket = RulesFor(p, "socket");
  ASSERT_EQ(socket.size(), 1u);
  const auto& arg = socket[0].fields().at("args").list_value().values(0).struct_value().fields();
  EXPECT_EQ(arg.at("op").string_value(), "SCMP_CMP_NE");
  EXPECT_EQ(arg.at("value").number_value(), AF_VSOCK);
}

// A prepared instance's profile: the sandbox's, plus exactly what fsb-init denies again.
TEST(SeccompProfileTest, ExtraSyscallsAreAllowedOnTopOfTheProfile) {
  std::vector<std::string> init_only;
  for (const auto& s : init::kInitOnlySyscalls) init_only.emplace_back(s.name);
  const std::set<std::string> sandbox = UnconditionallyAllowed(Profile());
  std::set<std::string> instance = UnconditionallyAllowed(Profile(init_only));
  for (const std::string& name : init_only) {
    EXPECT_FALSE(sandbox.contains(name)) << name << " is in the sandbox profile already: "
                                         << "init's filter would make warm stricter than cold";
    EXPECT_EQ(instance.erase(name), 1u) << name;
  }
  EXPECT_EQ(instance, sandbox);
  EXPECT_THAT(RulesFor(Profile(), "mount"), IsEmpty());
}

}  // namespace
}  // namespace fsb::agent
