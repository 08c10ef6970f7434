#include "agent/network/slots.h"

#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/algorithm/container.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/network/netns.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "internal/metrics/metrics.h"

namespace fsb::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(SandboxFilesTest, ResolvConfKeepsReachableNameserversSearchAndOptions) {
  EXPECT_EQ(NetworkSlots::SandboxResolvConf("# comment\nnameserver 127.0.0.53\nnameserver ::1\n"
                                            "nameserver 192.0.2.53\nsearch corp.example\n"
                                            "options edns0 trust-ad\ndomain x\n"),
            "nameserver 192.0.2.53\nsearch corp.example\noptions edns0 trust-ad\n");
  EXPECT_EQ(NetworkSlots::SandboxResolvConf(""), "");
}

TEST(SandboxFilesTest, HostsNamesTheSandboxAtItsAddress) {
  const std::string hosts = NetworkSlots::SandboxHosts("web-1", "10.88.0.9");
  EXPECT_THAT(hosts, HasSubstr("127.0.0.1\tlocalhost\n"));
  EXPECT_THAT(hosts, HasSubstr("10.88.0.9\tweb-1\n"));
}

// Real network namespaces (root only) with fake CNI plugins that hand out addresses.
class NetworkSlotsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    char tmpl[] = "/tmp/fsb-slots-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::FILE* f = std::fopen((dir_ + "/resolv.conf").c_str(), "w");
    std::fputs("nameserver 127.0.0.1\nnameserver 192.0.2.1\n", f);
    std::fclose(f);
    cni_ = std::make_unique<CniNetwork>(
        CniOptions{}, [this](const SubprocessCall& call) -> absl::StatusOr<SubprocessResult> {
          SubprocessResult r;
          const bool add = absl::c_linear_search(call.env, "CNI_COMMAND=ADD");
          if (absl::c_linear_search(call.env, "CNI_COMMAND=DEL")) ++dels_;
          if (absl::c_linear_search(call.env, "CNI_COMMAND=CHECK")) ++checks_;
          if (absl::EndsWith(call.argv[0], "/portmap")) {
            portmap_calls_.push_back(absl::StrCat(add ? "ADD " : "DEL ", call.stdin_data));
          }
          if (add && fail_) return SubprocessResult{1, R"({"msg":"no bridge"})", ""};
          const bool bridge = absl::EndsWith(call.argv[0], "/bridge");
          if (!add && bridge && hold_idle_teardowns_ && sched_getscheduler(0) == SCHED_IDLE) {
            ++held_teardowns_;
            for (int i = 0; i < 1000 && hold_idle_teardowns_; ++i) usleep(10000);
          }
          std::string container;
          for (const std::string& e : call.env) {
            if (absl::StartsWith(e, "CNI_CONTAINERID=")) container = e;
          }
          if (bridge && absl::c_linear_search(call.env, "CNI_COMMAND=DEL")) {
            absl::MutexLock lock(&mu_);
            leases_.erase(container);
          }
          // The bridge plugin leases an address; the chain after it passes its result on.
          if (add && bridge) {
            {
              absl::MutexLock lock(&mu_);
              if (static_cast<int>(leases_.size()) >= addresses_) {
                return SubprocessResult{1, R"({"msg":"no IP addresses available in range"})", ""};
              }
              leases_.insert(container);
            }
            ++next_ip_;
            absl::MutexLock lock(&mu_);
            bridge_add_policies_.push_back(sched_getscheduler(0));
          }
          if (add) {
            r.stdout_data = absl::StrCat(R"({"ips":[{"address":"10.88.0.)", next_ip_.load(),
                                         R"(/16","gateway":"10.88.0.1"}]})");
          }
          return r;
        });
  }
  void TearDown() override {
    slots_.reset();
    if (dir_.empty()) return;
    // Whatever a failed test left mounted goes too.
    std::error_code ec;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_, ec)) {
      if (e.path().filename() == "netns") (void)RemoveNetns(e.path().string());
    }
    std::filesystem::remove_all(dir_, ec);
  }
  void MakeSlots(int free_target) {
    slots_ = std::make_unique<NetworkSlots>(
        NetworkSlots::Options{.dir = dir_ + "/slots",
                              .free_target = free_target,
                              .node_resolv_conf = dir_ + "/resolv.conf"},
        cni_.get(), &clock_, &metrics_);
  }
  int SlotFolders() const {
    int n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_ + "/slots", ec)) {
      (void)e;
      ++n;
    }
    return n;
  }
  template <typename F>
  static bool Eventually(F f) {
    for (int i = 0; i < 500 && !f(); ++i) usleep(10000);
    return f();
  }

  std::string dir_;
  std::atomic<int> next_ip_{1};
  std::atomic<int> dels_{0};
  std::atomic<int> checks_{0};
  absl::Mutex mu_;
  // The scheduling policy of the thread that ran each bridge ADD, in order.
  std::vector<int> bridge_add_policies_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> fail_{false};
  // The range's size, and the containers holding an address of it (bridge ADD to DEL).
  std::atomic<int> addresses_{1000};
  absl::flat_hash_set<std::string> leases_ ABSL_GUARDED_BY(mu_);
  int Leases() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(leases_.size());
  }
  // While set, a bridge DEL on a SCHED_IDLE thread (the background loop) waits.
  std::atomic<bool> hold_idle_teardowns_{false};
  std::atomic<int> held_teardowns_{0};
  std::vector<std::string> portmap_calls_;  // "ADD|DEL <config>" (one thread calls portmap)
  std::unique_ptr<CniNetwork> cni_;
  ManualClock clock_{absl::FromUnixSeconds(1000)};
  metrics::Registry registry_;
  AgentMetrics metrics_{&registry_};
  std::unique_ptr<NetworkSlots> slots_;
};

TEST_F(NetworkSlotsTest, ACreateTearsDownReleasedSlotsItselfWhenTheirAddressesFillTheRange) {
  addresses_ = 2;
  MakeSlots(0);
  ASSERT_TRUE(slots_->Recover({}).ok());
  absl::StatusOr<NetworkSlot> first = slots_->Acquire();
  absl::StatusOr<NetworkSlot> second = slots_->Acquire();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  // The starved idle loop is stuck in the first teardown; the second waits behind it.
  hold_idle_teardowns_ = true;
  slots_->Release(first->id);
  ASSERT_TRUE(Eventually([&] { return held_teardowns_ == 1; }));
  slots_->Release(second->id);

  absl::StatusOr<NetworkSlot> third = slots_->Acquire();
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(Leases(), 2);  // the held first one's and the third's
  hold_idle_teardowns_ = false;
  EXPECT_TRUE(Eventually([&] { return Leases() == 1; }));
}

TEST_F(NetworkSlotsTest, KeepsFreeSlotsAndMakesOneInlineWhenNoneIsLeft) {
  MakeSlots(0);
  ASSERT_TRUE(slots_->Recover({}).ok());
  bool made_inline = false;
  absl::StatusOr<NetworkSlot> slot = slots_->Acquire(&made_inline);
  ASSERT_TRUE(slot.ok()) << slot.status();
  EXPECT_TRUE(made_inline);
  EXPECT_TRUE(IsNetns(slot->netns));
  EXPECT_EQ(slot->attachment.ip, "10.88.0.2");

  MakeSlots(2);  // a fresh pool on the same folder: the assigned slot is owned
  ASSERT_TRUE(slots_->Recover({slot->id}).ok());
  EXPECT_TRUE(slots_->Get(slot->id).ok());
  // The kept slot is checked by every plugin of its chain.
  EXPECT_TRUE(Eventually([&] { return checks_.load() == CniNetwork::kChainLength; }));
  ASSERT_TRUE(Eventually([&] { return slots_->free_count() == 2; }));
  absl::StatusOr<NetworkSlot> second = slots_->Acquire(&made_inline);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(made_inline);
  EXPECT_TRUE(Eventually([&] { return slots_->free_count() == 2; }));  // refilled
  // The slot made for the caller ran at the caller's priority; those made ahead, idle.
  absl::MutexLock lock(&mu_);
  ASSERT_GE(bridge_add_policies_.size(), 4u);
  EXPECT_EQ(bridge_add_policies_[0], SCHED_OTHER);
  EXPECT_EQ(bridge_add_policies_[1], SCHED_IDLE);
  EXPECT_EQ(bridge_add_policies_.back(), SCHED_IDLE);
}

TEST_F(NetworkSlotsTest, ConfigureWritesHostsAndReleaseTearsTheSlotDown) {
  MakeSlots(0);
  ASSERT_TRUE(slots_->Recover({}).ok());
  absl::StatusOr<NetworkSlot> slot = slots_->Acquire();
  ASSERT_TRUE(slot.ok());
  ASSERT_TRUE(slots_->Configure(*slot, "web-1", v1::SANDBOX_NETWORK_EGRESS).ok());
  std::ifstream hosts(slot->hosts);
  std::string text((std::istreambuf_iterator<char>(hosts)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("10.88.0.2\tweb-1\n"));
  std::ifstream resolv(slot->resolv_conf);
  std::string r((std::istreambuf_iterator<char>(resolv)), std::istreambuf_iterator<char>());
  EXPECT_EQ(r, "nameserver 192.0.2.1\n");
  // No default route was ever added in this namespace: removing none is fine.
  EXPECT_TRUE(slots_->Configure(*slot, "web-1", v1::SANDBOX_NETWORK_NO_EGRESS).ok());

  const std::string netns = slot->netns;
  slots_->Release(slot->id);
  ASSERT_TRUE(Eventually([&] { return SlotFolders() == 0; }));
  EXPECT_FALSE(IsNetns(netns));
  EXPECT_GE(dels_.load(), 3);  // the chain's DEL ran
  EXPECT_EQ(slots_->Get(slot->id).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(NetworkSlotsTest, RecoverTearsDownWhatNoContainerOwns) {
  MakeSlots(0);
  ASSERT_TRUE(slots_->Recover({}).ok());
  absl::StatusOr<NetworkSlot> kept = slots_->Acquire();
  absl::StatusOr<NetworkSlot> lost = slots_->Acquire();
  ASSERT_TRUE(kept.ok() && lost.ok());
  std::filesystem::create_directories(dir_ + "/slots/fsbnet-halfmade");  // no attachment
  slots_->Stop();

  MakeSlots(0);
  ASSERT_TRUE(slots_->Recover({kept->id}).ok());
  EXPECT_TRUE(slots_->Get(kept->id).ok());
  EXPECT_TRUE(IsNetns(kept->netns));
  EXPECT_FALSE(slots_->Get(lost->id).ok());
  EXPECT_FALSE(IsNetns(lost->netns));
  EXPECT_EQ(SlotFolders(), 1);
}

TEST_F(NetworkSlotsTest, SweepReleasesAssignedSlotsNoContainerNamesAfterTheGrace) {
  MakeSlots(0);
  ASSERT_TRUE(slots_->Recover({}).ok());
  absl::StatusOr<NetworkSlot> owned = slots_->Acquire();
  absl::StatusOr<NetworkSlot> orphan = slots_->Acquire();
  ASSERT_TRUE(owned.ok() && orphan.ok());
  EXPECT_EQ(slots_->Sweep({owned->id}, absl::Minutes(1)), 0);  // still within the grace
  clock_.Advance(absl::Minutes(2));
  EXPECT_EQ(slots_->Sweep({owned->id}, absl::Minutes(1)), 1);
  EXPECT_TRUE(slots_->Get(owned->id).ok());
  EXPECT_TRUE(Eventually([&] { return SlotFolders() == 1; }));
}

TEST_F(NetworkSlotsTest, PublishedPortsAreUnforwardedWhenTheSlotGoesEvenAfterARestart) {
  MakeSlots(0);
  ASSERT_TRUE(slots_->Recover({}).ok());
  absl::StatusOr<NetworkSlot> slot = slots_->Acquire();
  ASSERT_TRUE(slot.ok());
  ASSERT_TRUE(slots_->Publish(*slot, {{.host_port = 18080, .container_port = 80}}).ok());
  ASSERT_EQ(portmap_calls_.size(), 1u);
  EXPECT_THAT(portmap_calls_[0], HasSubstr("ADD "));
  EXPECT_THAT(portmap_calls_[0], HasSubstr("18080"));
  slots_->Stop();

  MakeSlots(0);  // the agent restarted; the slot's container is gone
  ASSERT_TRUE(slots_->Recover({}).ok());
  ASSERT_EQ(portmap_calls_.size(), 2u);
  EXPECT_THAT(portmap_calls_[1], HasSubstr("DEL "));
  EXPECT_THAT(portmap_calls_[1], HasSubstr("18080"));
  EXPECT_EQ(SlotFolders(), 0);
}

TEST_F(NetworkSlotsTest, AFailedSlotLeavesNothingBehind) {
  MakeSlots(0);
  ASSERT_TRUE(slots_->Recover({}).ok());
  fail_ = true;
  absl::StatusOr<NetworkSlot> slot = slots_->Acquire();
  EXPECT_EQ(slot.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(slot.status().message(), HasSubstr("no bridge"));
  EXPECT_EQ(SlotFolders(), 0);
}

}  // namespace
}  // namespace fsb::agent
