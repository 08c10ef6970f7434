#ifndef FSB_AGENT_FAKE_RUNTIME_H_
#define FSB_AGENT_FAKE_RUNTIME_H_

// Test-only: an in-memory Runtime for the sandbox manager's and the warm pool's tests.
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "agent/runtime.h"

namespace fsb::agent {

// A deterministic in-memory Runtime that records what it was asked to do.
class FakeRuntime : public Runtime {
 public:
  absl::StatusOr<ResolvedImage> ResolveImage(std::string_view name) override {
    ++resolves;
    if (!resolve_error.ok()) return resolve_error;
    if (name != "docker.io/fsb/busybox:latest") {
      return absl::NotFoundError(absl::StrCat("image \"", std::string(name), "\" not found"));
    }
    ResolvedImage image{std::string(name), chain_id, {}};
    image.config.mutable_config()->add_cmd("sh");
    image.config.mutable_config()->set_user(image_user);
    return image;
  }
  absl::StatusOr<uint32_t> CreateAndStart(const ContainerParams& params,
                                          AgentTimings& timings) override {
    timings[AgentStage::kTaskStart] = absl::Microseconds(5);
    if (on_create) on_create(params);
    if (!create_error.ok()) return create_error;
    created.push_back(params);
    ContainerState& c = running[params.id];
    c.id = params.id;
    c.labels = params.labels;
    c.extension = params.extension;
    c.spec_json = params.spec_json;
    c.created_at = absl::FromUnixSeconds(1000);
    c.task = TaskState::kRunning;
    c.pid = 100;
    snapshots.insert(params.id);
    return 100 + static_cast<uint32_t>(created.size());
  }
  absl::Status UpdateContainer(std::string_view id,
                               const std::map<std::string, std::string>& labels,
                               std::string_view extension, std::string_view spec_json) override {
    auto it = running.find(std::string(id));
    if (it == running.end()) return absl::NotFoundError("no container");
    for (const auto& [k, v] : labels) it->second.labels[k] = v;
    it->second.extension = std::string(extension);
    it->second.spec_json = std::string(spec_json);
    ++updates;
    return absl::OkStatus();
  }
  absl::Status Stop(std::string_view id, absl::Duration grace) override {
    stops.emplace_back(std::string(id), grace);
    if (on_stop) on_stop(id);
    return absl::OkStatus();
  }
  absl::Status Remove(std::string_view id) override {
    removed.emplace_back(id);
    const bool had_snapshot = snapshots.erase(std::string(id)) > 0;
    return running.erase(std::string(id)) || had_snapshot ? absl::OkStatus()
                                                          : absl::NotFoundError("gone");
  }
  absl::StatusOr<std::vector<ContainerState>> ListManaged() override {
    std::vector<ContainerState> out;
    for (const auto& [id, s] : running) out.push_back(s);
    return out;
  }
  absl::StatusOr<std::vector<std::string>> ListManagedSnapshots() override {
    return std::vector<std::string>(snapshots.begin(), snapshots.end());
  }
  absl::StatusOr<std::vector<std::string>> ListImages() override {
    return std::vector<std::string>{"docker.io/fsb/busybox:latest"};
  }
  absl::StatusOr<std::string> ReadImageFile(std::string_view chain_id,
                                            std::string_view path) override {
    auto it = files.find(std::string(path));
    if (chain_id != this->chain_id || it == files.end()) return absl::NotFoundError("no file");
    return it->second;
  }

  std::function<void(const ContainerParams&)> on_create;  // runs inside CreateAndStart
  std::function<void(std::string_view)> on_stop;          // runs inside Stop
  std::string image_user;
  std::string chain_id = "sha256:chain";  // of the one image it has
  absl::Status resolve_error;
  int resolves = 0;
  std::map<std::string, std::string> files;  // path -> content in the image
  std::set<std::string> snapshots;
  absl::Status create_error;
  std::vector<ContainerParams> created;
  std::vector<std::pair<std::string, absl::Duration>> stops;
  std::vector<std::string> removed;
  std::map<std::string, ContainerState> running;
  int updates = 0;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_FAKE_RUNTIME_H_
