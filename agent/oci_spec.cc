#include "agent/oci_spec.h"

#include <algorithm>
#include <charconv>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "internal/json_writer.h"

namespace fsb::agent {
namespace {

constexpr std::string_view kDefaultPath =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Docker's default capability set.
const std::vector<std::string>& DefaultCapabilities() {
  static const auto* caps = new std::vector<std::string>{
      "CAP_CHOWN",  "CAP_DAC_OVERRIDE", "CAP_FSETID",     "CAP_FOWNER",           "CAP_MKNOD",
      "CAP_NET_RAW", "CAP_SETGID",      "CAP_SETUID",     "CAP_SETFCAP",          "CAP_SETPCAP",
      "CAP_NET_BIND_SERVICE",           "CAP_SYS_CHROOT", "CAP_KILL",             "CAP_AUDIT_WRITE"};
  return *caps;
}

bool ParseUint32(std::string_view s, uint32_t* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

absl::Status ParseUser(std::string_view user, ProcessSpec* p) {
  if (user.empty() || user == "root" || user == "0") return absl::OkStatus();
  std::string_view uid = user, gid;
  if (size_t colon = user.find(':'); colon != std::string_view::npos) {
    uid = user.substr(0, colon);
    gid = user.substr(colon + 1);
  }
  if (!ParseUint32(uid, &p->uid) || (!gid.empty() && !ParseUint32(gid, &p->gid))) {
    return absl::UnimplementedError(absl::StrCat(
        "image user \"", std::string(user),
        "\" is a name; only numeric uid[:gid] users are supported so far"));
  }
  if (gid.empty()) p->gid = p->uid;
  return absl::OkStatus();
}

void Mount(JsonWriter& w, std::string_view dest, std::string_view type, std::string_view source,
           const std::vector<std::string>& options) {
  w.BeginObject()
      .Key("destination").String(dest)
      .Key("type").String(type)
      .Key("source").String(source)
      .Key("options").StringArray(options)
      .EndObject();
}

}  // namespace

absl::StatusOr<ProcessSpec> MergeProcess(const fsb::oci::v1::ImageConfig& image,
                                         const fsb::agent::v1::SandboxSpec& request) {
  const auto& config = image.config();
  ProcessSpec p;
  if (!request.command().empty()) {
    p.args.assign(request.command().begin(), request.command().end());
    p.args.insert(p.args.end(), request.args().begin(), request.args().end());
  } else {
    p.args.assign(config.entrypoint().begin(), config.entrypoint().end());
    const auto& tail = request.args().empty() ? config.cmd() : request.args();
    p.args.insert(p.args.end(), tail.begin(), tail.end());
  }
  if (p.args.empty()) {
    return absl::InvalidArgumentError(
        "no command: the request has none and the image defines no Entrypoint or Cmd");
  }

  std::map<std::string, std::string> overrides(request.env().begin(), request.env().end());
  bool has_path = false;
  for (const std::string& kv : config.env()) {
    std::string key = kv.substr(0, kv.find('='));
    has_path |= key == "PATH";
    if (auto it = overrides.find(key); it != overrides.end()) {
      p.env.push_back(absl::StrCat(key, "=", it->second));
      overrides.erase(it);
    } else {
      p.env.push_back(kv);
    }
  }
  for (const auto& [key, value] : overrides) {
    has_path |= key == "PATH";
    p.env.push_back(absl::StrCat(key, "=", value));
  }
  if (!has_path) p.env.insert(p.env.begin(), std::string(kDefaultPath));

  p.cwd = !request.working_dir().empty() ? request.working_dir()
          : !config.working_dir().empty() ? config.working_dir()
                                          : "/";
  if (absl::Status s = ParseUser(config.user(), &p); !s.ok()) return s;
  return p;
}

std::string BuildRuntimeSpecJson(const ProcessSpec& process, const RuntimeSpecOptions& options) {
  JsonWriter w;
  w.BeginObject().Key("ociVersion").String("1.0.2");

  w.Key("process").BeginObject()
      .Key("terminal").Bool(false)
      .Key("user").BeginObject().Key("uid").Uint(process.uid).Key("gid").Uint(process.gid).EndObject()
      .Key("args").StringArray(process.args)
      .Key("env").StringArray(process.env)
      .Key("cwd").String(process.cwd);
  w.Key("capabilities").BeginObject();
  for (const char* set : {"bounding", "effective", "permitted"}) {
    w.Key(set).StringArray(DefaultCapabilities());
  }
  w.EndObject();
  w.Key("rlimits").BeginArray()
      .BeginObject().Key("type").String("RLIMIT_NOFILE").Key("hard").Uint(1024).Key("soft").Uint(1024).EndObject()
      .EndArray();
  w.Key("noNewPrivileges").Bool(true).EndObject();

  w.Key("root").BeginObject()
      .Key("path").String("rootfs")
      .Key("readonly").Bool(options.readonly_rootfs)
      .EndObject();
  w.Key("hostname").String(options.hostname);

  w.Key("mounts").BeginArray();
  Mount(w, "/proc", "proc", "proc", {"nosuid", "noexec", "nodev"});
  Mount(w, "/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"});
  Mount(w, "/dev/pts", "devpts", "devpts",
        {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"});
  Mount(w, "/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"});
  Mount(w, "/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"});
  Mount(w, "/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"});
  Mount(w, "/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"});
  // Sandboxes share the agent's network namespace, so they use the host's resolver.
  Mount(w, "/etc/resolv.conf", "bind", "/etc/resolv.conf", {"rbind", "ro", "nosuid", "nodev", "noexec"});
  Mount(w, "/etc/hosts", "bind", "/etc/hosts", {"rbind", "ro", "nosuid", "nodev", "noexec"});
  w.EndArray();

  if (!options.annotations.empty()) {
    w.Key("annotations").BeginObject();
    for (const auto& [k, v] : options.annotations) w.Key(k).String(v);
    w.EndObject();
  }

  w.Key("linux").BeginObject();
  w.Key("namespaces").BeginArray();
  for (const char* ns : {"pid", "ipc", "uts", "mount"}) {
    w.BeginObject().Key("type").String(ns).EndObject();
  }
  w.EndArray();
  w.Key("resources").BeginObject()
      .Key("devices").BeginArray()
      .BeginObject().Key("allow").Bool(false).Key("access").String("rwm").EndObject()
      .EndArray()
      .EndObject();
  w.Key("cgroupsPath").String(options.cgroups_path);
  w.Key("maskedPaths").StringArray({"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                                    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                                    "/proc/sched_debug", "/proc/scsi", "/sys/firmware"});
  w.Key("readonlyPaths").StringArray({"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                      "/proc/sysrq-trigger"});
  w.EndObject();

  w.EndObject();
  return w.str();
}

}  // namespace fsb::agent
