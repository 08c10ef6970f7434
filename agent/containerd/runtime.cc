#include "agent/containerd/runtime.h"

#include <csignal>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/containerd/layer_file.h"
#include "agent/labels.h"
#include "glog/logging.h"
#include "internal/deadline.h"
#include "internal/ids.h"
#include "internal/proto_json.h"
#include "internal/stopwatch.h"
#include "internal/strings.h"

namespace fsb::agent {
namespace {

namespace cctr = containerd::services::containers::v1;
namespace ctasks = containerd::services::tasks::v1;

constexpr char kSpecTypeUrl[] = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
// Where ContainerParams::extension is kept on the container.
constexpr char kExtensionKey[] = "fsb.io/sandbox";
constexpr char kExtensionTypeUrl[] = "fsb.io/agent-extension";
// A snapshot view's lease outlives any read of one file by far.
constexpr absl::Duration kViewLeaseExpiry = absl::Minutes(10);

#if defined(__x86_64__)
constexpr char kArch[] = "amd64";
#elif defined(__aarch64__)
constexpr char kArch[] = "arm64";
#else
#error "unsupported architecture"
#endif

bool IsIndex(const std::string& media_type) {
  return media_type == "application/vnd.oci.image.index.v1+json" ||
         media_type == "application/vnd.docker.distribution.manifest.list.v2+json";
}

template <typename Message>
absl::StatusOr<Message> ParseJson(const std::string& json, std::string_view what) {
  Message msg;
  if (absl::Status s = ProtoFromJson(json, &msg, {.ignore_unknown_fields = true}); !s.ok()) {
    return absl::DataLossError(
        absl::StrCat("cannot parse ", std::string(what), ": ", std::string(s.message())));
  }
  return msg;
}

TaskState FromContainerd(containerd::v1::types::Status s) {
  switch (s) {
    case containerd::v1::types::CREATED:
      return TaskState::kCreated;
    case containerd::v1::types::RUNNING:
      return TaskState::kRunning;
    case containerd::v1::types::STOPPED:
      return TaskState::kStopped;
    case containerd::v1::types::PAUSED:
    case containerd::v1::types::PAUSING:
      return TaskState::kPaused;
    default:
      return TaskState::kUnknown;
  }
}

}  // namespace

absl::Status TaskCreateError(const absl::Status& status) {
  // runc: "unable to start container process: exec: \"x\": executable file not found in
  // $PATH" / "...: error during container init: mkdir /etc/passwd: not a directory".
  const absl::string_view m = status.message();
  const size_t at = m.find("unable to start container process: ");
  if (status.ok() || at == absl::string_view::npos) return status;
  const absl::string_view cause = m.substr(at + sizeof("unable to start container process: ") - 1);
  if (absl::StartsWith(cause, "exec: ") || absl::StrContains(cause, "chdir to cwd") ||
      absl::StrContains(cause, "container init: mkdir ")) {
    return absl::InvalidArgumentError(absl::StrCat("cannot start the sandbox's process: ",
                                                   absl::StripSuffix(cause, ": unknown")));
  }
  return status;
}

ContainerdRuntime::ContainerdRuntime(Containerd* containerd, Options options)
    : containerd_(containerd), options_(std::move(options)) {}

absl::StatusOr<std::string> ContainerdRuntime::ManifestDigest(
    const std::string& image_name, const containerd::types::Descriptor& target) {
  if (!IsIndex(target.media_type())) return target.digest();
  absl::StatusOr<std::string> raw = containerd_->ReadContent(target.digest());
  if (!raw.ok()) return raw.status();
  absl::StatusOr<fsb::oci::v1::Index> index = ParseJson<fsb::oci::v1::Index>(*raw, "image index");
  if (!index.ok()) return index.status();
  for (const auto& m : index->manifests()) {
    if (!m.has_platform() ||
        (m.platform().os() == "linux" && m.platform().architecture() == kArch)) {
      return m.digest();
    }
  }
  return absl::NotFoundError(
      absl::StrCat("image \"", image_name, "\" has no manifest for linux/", kArch));
}

absl::StatusOr<ResolvedImage> ContainerdRuntime::ResolveImage(std::string_view name) {
  auto image = containerd_->GetImage(name);
  if (absl::IsNotFound(image.status()) && options_.puller != nullptr) {
    if (absl::Status pulled = options_.puller->Pull(name); !pulled.ok()) {
      return absl::Status(pulled.code(), absl::StrCat("image \"", Sv(name),
                                                      "\" is not on this node and pulling it "
                                                      "failed: ",
                                                      pulled.message()));
    }
    image = containerd_->GetImage(name);
  }
  if (!image.ok()) {
    if (absl::IsNotFound(image.status())) {
      return absl::NotFoundError(absl::StrCat("image \"", std::string(name),
                                              "\" not found on this node (containerd namespace \"",
                                              containerd_->options().ns, "\")"));
    }
    return image.status();
  }
  absl::StatusOr<std::string> manifest_digest = ManifestDigest(image->name(), image->target());
  if (!manifest_digest.ok()) return manifest_digest.status();
  {
    absl::MutexLock lock(&mu_);
    if (auto it = by_manifest_.find(*manifest_digest); it != by_manifest_.end()) {
      ResolvedImage hit = it->second;
      hit.name = image->name();
      return hit;
    }
  }
  absl::StatusOr<std::string> raw_manifest = containerd_->ReadContent(*manifest_digest);
  if (!raw_manifest.ok()) return raw_manifest.status();
  auto manifest = ParseJson<fsb::oci::v1::Manifest>(*raw_manifest, "image manifest");
  if (!manifest.ok()) return manifest.status();
  const std::string& config_digest = manifest->config().digest();
  absl::StatusOr<std::string> raw_config = containerd_->ReadContent(config_digest);
  if (!raw_config.ok()) return raw_config.status();
  auto config = ParseJson<fsb::oci::v1::ImageConfig>(*raw_config, "image config");
  if (!config.ok()) return config.status();
  // containerd records the unpacked snapshot (the chain id) as a GC label on the config.
  auto info = containerd_->ContentInfo(config_digest);
  if (!info.ok()) return info.status();
  auto chain = info->labels().find(containerd_->SnapshotRefLabel());
  if (chain == info->labels().end()) {
    return absl::FailedPreconditionError(absl::StrCat("image \"", image->name(),
                                                      "\" is not unpacked for snapshotter \"",
                                                      containerd_->options().snapshotter, "\""));
  }
  ResolvedImage resolved{image->name(), chain->second, *std::move(config)};
  absl::MutexLock lock(&mu_);
  by_manifest_[*manifest_digest] = resolved;
  return resolved;
}

absl::StatusOr<uint32_t> ContainerdRuntime::CreateAndStart(const ContainerParams& params,
                                                           AgentTimings& timings) {
  Stopwatch stage;
  // The container record comes first: it references the snapshot key, which protects
  // the snapshot from containerd's garbage collector as soon as it exists.
  cctr::Container container;
  container.set_id(params.id);
  container.mutable_labels()->insert(params.labels.begin(), params.labels.end());
  (*container.mutable_labels())[kManagedLabel] = "true";
  (*container.mutable_labels())[kOwnerLabel] = options_.owner;
  if (!params.extension.empty()) {
    google::protobuf::Any& extension = (*container.mutable_extensions())[kExtensionKey];
    extension.set_type_url(kExtensionTypeUrl);
    extension.set_value(params.extension);
  }
  container.set_image(params.image);
  container.mutable_runtime()->set_name(options_.runtime_name);
  container.mutable_spec()->set_type_url(kSpecTypeUrl);
  container.mutable_spec()->set_value(params.spec_json);
  container.set_snapshotter(containerd_->options().snapshotter);
  container.set_snapshot_key(params.id);
  absl::Status created = containerd_->CreateContainer(container);
  timings[AgentStage::kContainerCreate] = stage.Lap();
  if (!created.ok()) return created;

  auto cleanup = [&](absl::Status cause) {
    // Best effort: whatever of task, snapshot and container exists goes away.
    if (absl::Status s = Remove(params.id); !s.ok() && !absl::IsNotFound(s)) {
      LOG(WARNING) << "cleanup of " << params.id << " after failed create: " << s;
    }
    return cause;
  };

  auto mounts = containerd_->PrepareSnapshot(
      params.id, params.chain_id, {{kManagedLabel, "true"}, {kOwnerLabel, options_.owner}});
  timings[AgentStage::kSnapshotPrepare] = stage.Lap();
  if (!mounts.ok()) return cleanup(mounts.status());

  ctasks::CreateTaskRequest req;
  req.set_container_id(params.id);
  for (auto& m : *mounts) *req.add_rootfs() = std::move(m);
  const std::string log_uri = options_.stdio_uri ? options_.stdio_uri(params.log_path)
                                                 : absl::StrCat("file://", params.log_path);
  req.set_stdout(log_uri);
  req.set_stderr(log_uri);
  absl::StatusOr<uint32_t> task = containerd_->CreateTask(req);
  timings[AgentStage::kTaskCreate] = stage.Lap();
  if (!task.ok()) return cleanup(TaskCreateError(task.status()));
  absl::StatusOr<uint32_t> pid = containerd_->StartTask(params.id);
  timings[AgentStage::kTaskStart] = stage.Lap();
  if (!pid.ok()) return cleanup(pid.status());
  return *pid;
}

absl::Status ContainerdRuntime::Stop(std::string_view id, absl::Duration grace) {
  if (grace > absl::ZeroDuration()) {
    absl::Status kill = containerd_->KillTask(id, SIGTERM, /*all=*/false);
    if (absl::IsNotFound(kill)) return absl::OkStatus();
    // FAILED_PRECONDITION: the process has already exited; Wait returns at once.
    if (!kill.ok() && !absl::IsFailedPrecondition(kill)) return kill;
    auto waited = containerd_->WaitTask(id, grace);
    if (waited.ok() || absl::IsNotFound(waited.status())) return absl::OkStatus();
    // Not gone within the grace period. containerd reports its side of the deadline as
    // UNKNOWN "context deadline exceeded", so every failure of the wait escalates.
    LOG(INFO) << "sandbox " << id << " still runs after SIGTERM and " << grace << " ("
              << waited.status() << "); sending SIGKILL";
  }
  absl::Status kill = containerd_->KillTask(id, SIGKILL, /*all=*/true);
  if (absl::IsNotFound(kill)) return absl::OkStatus();
  if (!kill.ok() && !absl::IsFailedPrecondition(kill)) return kill;
  auto waited = containerd_->WaitTask(id, options_.kill_timeout);
  if (waited.ok() || absl::IsNotFound(waited.status())) return absl::OkStatus();
  return waited.status();
}

absl::Status ContainerdRuntime::UpdateContainer(std::string_view id,
                                                const std::map<std::string, std::string>& labels,
                                                std::string_view extension,
                                                std::string_view spec_json) {
  cctr::Container container;
  container.set_id(std::string(id));
  for (const auto& [key, value] : labels) (*container.mutable_labels())[key] = value;
  google::protobuf::Any& ext = (*container.mutable_extensions())[kExtensionKey];
  ext.set_type_url(kExtensionTypeUrl);
  ext.set_value(std::string(extension));
  container.mutable_spec()->set_type_url(kSpecTypeUrl);
  container.mutable_spec()->set_value(std::string(spec_json));
  std::vector<std::string> paths = {"spec", absl::StrCat("extensions.", kExtensionKey)};
  for (const auto& [key, value] : labels) paths.push_back(absl::StrCat("labels.", key));
  return containerd_->UpdateContainer(container, paths);
}

absl::Status ContainerdRuntime::Remove(std::string_view id) {
  bool found = false;
  auto deleted = containerd_->DeleteTask(id);
  if (!deleted.ok() && !absl::IsNotFound(deleted.status())) {
    // Still running (the caller did not Stop it): kill it, then delete. containerd says
    // so with FAILED_PRECONDITION, but for a task it restored after its own restart the
    // shim's UNKNOWN "cannot delete a running process" comes through instead (found by
    // chaos_test: such a warm instance could never be removed).
    (void)containerd_->KillTask(id, SIGKILL, /*all=*/true);
    (void)containerd_->WaitTask(id, options_.kill_timeout);
    deleted = containerd_->DeleteTask(id);
  }
  if (deleted.ok()) {
    found = true;
  } else if (!absl::IsNotFound(deleted.status())) {
    return deleted.status();
  }
  if (absl::Status s = containerd_->DeleteContainer(id); s.ok()) {
    found = true;
  } else if (!absl::IsNotFound(s)) {
    return s;
  }
  if (absl::Status s = containerd_->RemoveSnapshot(id); s.ok()) {
    found = true;
  } else if (!absl::IsNotFound(s)) {
    return s;
  }
  if (!found) return absl::NotFoundError(absl::StrCat("no container \"", std::string(id), "\""));
  return absl::OkStatus();
}

std::string ContainerdRuntime::OwnedFilter() const {
  return absl::StrCat("labels.\"", kManagedLabel, "\"==true,labels.\"", kOwnerLabel, "\"==\"",
                      options_.owner, "\"");
}

absl::StatusOr<std::vector<ContainerState>> ContainerdRuntime::ListManaged() {
  auto containers = containerd_->ListContainers(OwnedFilter());
  if (!containers.ok()) return containers.status();
  auto tasks = containerd_->ListTasks();
  if (!tasks.ok()) return tasks.status();
  absl::flat_hash_map<std::string, const containerd::v1::types::Process*> by_id;
  for (const auto& t : *tasks) by_id[t.container_id().empty() ? t.id() : t.container_id()] = &t;
  std::vector<ContainerState> out;
  out.reserve(containers->size());
  for (const auto& c : *containers) {
    ContainerState state;
    state.id = c.id();
    state.labels.insert(c.labels().begin(), c.labels().end());
    if (auto ext = c.extensions().find(kExtensionKey); ext != c.extensions().end()) {
      state.extension = ext->second.value();
    }
    state.spec_json = c.spec().value();
    state.created_at =
        absl::FromUnixSeconds(c.created_at().seconds()) + absl::Nanoseconds(c.created_at().nanos());
    if (auto it = by_id.find(c.id()); it != by_id.end()) {
      state.task = FromContainerd(it->second->status());
      state.pid = it->second->pid();
      state.exit_status = it->second->exit_status();
    }
    out.push_back(std::move(state));
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> ContainerdRuntime::ListImages() {
  auto images = containerd_->ListImages();
  if (!images.ok()) return images.status();
  std::vector<std::string> names;
  names.reserve(images->size());
  for (const auto& i : *images) names.push_back(i.name());
  return names;
}

absl::StatusOr<std::vector<std::string>> ContainerdRuntime::ListManagedSnapshots() {
  auto snapshots = containerd_->ListSnapshots(OwnedFilter());
  if (!snapshots.ok()) return snapshots.status();
  std::vector<std::string> keys;
  keys.reserve(snapshots->size());
  for (const auto& s : *snapshots) keys.push_back(s.name());
  return keys;
}

absl::StatusOr<std::string> ContainerdRuntime::ReadImageFile(std::string_view chain_id,
                                                             std::string_view path) {
  const std::pair<std::string, std::string> key{std::string(chain_id), std::string(path)};
  {
    absl::MutexLock lock(&mu_);
    if (auto it = files_.find(key); it != files_.end()) return it->second;
  }
  absl::StatusOr<std::string> content = ReadFromView(chain_id, path);
  if (content.ok() || absl::IsNotFound(content.status())) {
    absl::MutexLock lock(&mu_);
    files_.emplace(key, content);
  }
  return content;
}

absl::StatusOr<std::string> ContainerdRuntime::ReadFromView(std::string_view chain_id,
                                                            std::string_view path) {
  const std::string view = absl::StrCat("fsb-view-", RandomHex(8));
  {
    absl::MutexLock lock(&mu_);
    views_in_use_.insert(view);
  }
  struct InUse {
    ~InUse() {
      absl::MutexLock lock(&runtime->mu_);
      runtime->views_in_use_.erase(view);
    }
    ContainerdRuntime* runtime;
    const std::string& view;
  } in_use{this, view};
  // The view's own lease keeps containerd's garbage collector off it while it is read;
  // if the agent dies mid-read, the lease expires and the collector takes both (the
  // janitor removes them sooner: RemoveLeftoverViews).
  if (absl::Status s = containerd_->CreateLease(view, Deadline::In(kViewLeaseExpiry).time());
      !s.ok()) {
    return s;
  }
  auto mounts =
      containerd_->ViewSnapshot(view, chain_id, {{kSnapshotViewLabel, options_.owner}}, view);
  if (!mounts.ok()) {
    RemoveView(view).IgnoreError();  // logged
    return mounts.status();
  }
  // The view's directories, topmost first: a bind mount of one layer, or an overlay
  // whose lowerdir lists the layers (a view has no upper layer).
  std::vector<std::string> dirs;
  for (const containerd::types::Mount& m : *mounts) {
    if (m.type() == "bind") dirs.push_back(m.source());
    for (const std::string& option : m.options()) {
      if (absl::StartsWith(option, "lowerdir=")) {
        for (absl::string_view dir : absl::StrSplit(option.substr(9), ':')) {
          dirs.emplace_back(dir);
        }
      }
    }
  }
  absl::StatusOr<std::string> content = ReadLayerFile(dirs, path, LayerFileLimits());
  if (absl::IsNotFound(content.status())) {
    content = absl::NotFoundError(
        absl::StrCat(Sv(path), " is not in the image (snapshot ", Sv(chain_id), ")"));
  }
  RemoveView(view).IgnoreError();  // logged
  return content;
}

absl::Status ContainerdRuntime::RemoveView(const std::string& view) {
  absl::Status status = containerd_->RemoveSnapshot(view);
  if (status.ok() || absl::IsNotFound(status)) {
    if (absl::Status s = containerd_->DeleteLease(view); !s.ok() && !absl::IsNotFound(s)) {
      status = s;
    }
  }
  if (!status.ok() && !absl::IsNotFound(status)) {
    LOG(WARNING) << "removing snapshot view " << view << " (left to the janitor): " << status;
  }
  return status;
}

absl::StatusOr<int> ContainerdRuntime::RemoveLeftoverViews() {
  // Listed before the views in use are looked at: a view made after the listing is not
  // seen, and one listed whose read has ended since is already gone (NOT_FOUND).
  auto views = containerd_->ListSnapshots(
      absl::StrCat("labels.\"", kSnapshotViewLabel, "\"==\"", options_.owner, "\""));
  if (!views.ok()) return views.status();
  int removed = 0;
  for (const auto& view : *views) {
    {
      absl::MutexLock lock(&mu_);
      if (views_in_use_.contains(view.name())) continue;
    }
    if (!RemoveView(view.name()).ok()) continue;  // NOT_FOUND: its read removed it
    LOG(INFO) << "removed snapshot view " << view.name() << ", left by a read cut short";
    ++removed;
  }
  return removed;
}

}  // namespace fsb::agent
