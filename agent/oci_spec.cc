#include "agent/oci_spec.h"

#include <linux/capability.h>
#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/seccomp/profile.h"
#include "internal/json_writer.h"
#include "internal/strings.h"

namespace fsb::agent {
namespace {

constexpr std::string_view kDefaultPath =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

bool ParseUint32(std::string_view s, uint32_t* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// The ':'-separated fields of a passwd(5) or group(5) line.
std::vector<std::string_view> SplitFields(absl::string_view line) {
  std::vector<std::string_view> fields;
  for (absl::string_view f : absl::StrSplit(line, ':')) fields.emplace_back(f.data(), f.size());
  return fields;
}

// Splits "user[:group]".
std::pair<std::string_view, std::string_view> SplitUser(std::string_view user) {
  const size_t colon = user.find(':');
  if (colon == std::string_view::npos) return {user, {}};
  return {user.substr(0, colon), user.substr(colon + 1)};
}

absl::Status NotInImage(std::string_view what, std::string_view name, std::string_view file) {
  return absl::FailedPreconditionError(absl::StrCat("image ", std::string(what), " \"",
                                                    std::string(name), "\" is not in the image's ",
                                                    std::string(file)));
}

absl::Status ResolveUser(std::string_view user, const UserDatabase* db, ProcessSpec* p) {
  if (user.empty()) return absl::OkStatus();
  static const UserDatabase* const kNoDatabase = new UserDatabase;
  const UserDatabase& users = db != nullptr ? *db : *kNoDatabase;
  auto [name, group] = SplitUser(user);
  if (ParseUint32(name, &p->uid)) {
    p->gid = p->uid;
    for (const auto& [n, u] : users.users) {
      if (u.uid == p->uid) {
        p->gid = u.gid;
        break;
      }
    }
  } else {
    auto it = users.users.find(std::string(name));
    if (it == users.users.end()) return NotInImage("user", name, "/etc/passwd");
    p->uid = it->second.uid;
    p->gid = it->second.gid;
    if (auto groups = users.member_of.find(it->first); groups != users.member_of.end()) {
      p->additional_gids = groups->second;
    }
  }
  if (!group.empty() && !ParseUint32(group, &p->gid)) {
    auto it = users.groups.find(std::string(group));
    if (it == users.groups.end()) return NotInImage("group", group, "/etc/group");
    p->gid = it->second;
  }
  return absl::OkStatus();
}

void Mount(JsonWriter& w, std::string_view dest, std::string_view type, std::string_view source,
           const std::vector<std::string>& options) {
  w.BeginObject()
      .Key("destination")
      .String(dest)
      .Key("type")
      .String(type)
      .Key("source")
      .String(source)
      .Key("options")
      .StringArray(options)
      .EndObject();
}

}  // namespace

std::vector<std::string> MergeEnv(const std::vector<std::string>& base,
                                  const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> env;
  env.reserve(base.size() + overrides.size());
  std::map<std::string, std::string> rest = overrides;
  for (const std::string& kv : base) {
    const std::string key = kv.substr(0, kv.find('='));
    if (auto it = rest.find(key); it != rest.end()) {
      env.push_back(absl::StrCat(key, "=", it->second));
      rest.erase(it);
    } else {
      env.push_back(kv);
    }
  }
  for (const auto& [key, value] : rest) env.push_back(absl::StrCat(key, "=", value));
  return env;
}

const std::vector<std::string>& DefaultCapabilities() {
  static const auto* caps = new std::vector<std::string>{
      "CAP_CHOWN",      "CAP_DAC_OVERRIDE", "CAP_FSETID",     "CAP_FOWNER",  "CAP_MKNOD",
      "CAP_SETGID",     "CAP_SETUID",       "CAP_SETFCAP",    "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
      "CAP_SYS_CHROOT", "CAP_KILL",         "CAP_AUDIT_WRITE"};
  return *caps;
}

uint64_t CapabilityMask(const std::vector<std::string>& names) {
  static const auto* numbers = new std::vector<std::pair<std::string_view, int>>{
      {"CAP_CHOWN", CAP_CHOWN},
      {"CAP_DAC_OVERRIDE", CAP_DAC_OVERRIDE},
      {"CAP_DAC_READ_SEARCH", CAP_DAC_READ_SEARCH},
      {"CAP_FOWNER", CAP_FOWNER},
      {"CAP_FSETID", CAP_FSETID},
      {"CAP_KILL", CAP_KILL},
      {"CAP_SETGID", CAP_SETGID},
      {"CAP_SETUID", CAP_SETUID},
      {"CAP_SETPCAP", CAP_SETPCAP},
      {"CAP_NET_BIND_SERVICE", CAP_NET_BIND_SERVICE},
      {"CAP_NET_ADMIN", CAP_NET_ADMIN},
      {"CAP_NET_RAW", CAP_NET_RAW},
      {"CAP_SYS_CHROOT", CAP_SYS_CHROOT},
      {"CAP_SYS_PTRACE", CAP_SYS_PTRACE},
      {"CAP_SYS_ADMIN", CAP_SYS_ADMIN},
      {"CAP_SYS_RESOURCE", CAP_SYS_RESOURCE},
      {"CAP_MKNOD", CAP_MKNOD},
      {"CAP_AUDIT_WRITE", CAP_AUDIT_WRITE},
      {"CAP_SETFCAP", CAP_SETFCAP},
  };
  uint64_t mask = 0;
  for (const std::string& name : names) {
    for (const auto& [n, bit] : *numbers) {
      if (n == name) mask |= uint64_t{1} << bit;
    }
  }
  return mask;
}

std::vector<ProcessRlimit> ProcessRlimits(const RuntimeSpecOptions& options) {
  return {{"RLIMIT_NOFILE", RLIMIT_NOFILE, options.nofile, options.nofile}};
}

UserDatabase ParseUserDatabase(std::string_view passwd, std::string_view group) {
  UserDatabase db;
  for (absl::string_view line : absl::StrSplit(Sv(passwd), '\n')) {
    // name:password:uid:gid:gecos:home:shell
    std::vector<std::string_view> f = SplitFields(line);
    UserDatabase::User user;
    if (f.size() < 4 || f[0].empty() || !ParseUint32(f[2], &user.uid) ||
        !ParseUint32(f[3], &user.gid)) {
      continue;
    }
    db.users.emplace(std::string(f[0]), user);
  }
  for (absl::string_view line : absl::StrSplit(Sv(group), '\n')) {
    // name:password:gid:member,member
    std::vector<std::string_view> f = SplitFields(line);
    uint32_t gid = 0;
    if (f.size() < 3 || f[0].empty() || !ParseUint32(f[2], &gid)) continue;
    db.groups.emplace(std::string(f[0]), gid);
    if (f.size() < 4) continue;
    for (absl::string_view member : absl::StrSplit(Sv(f[3]), ',', absl::SkipEmpty())) {
      db.member_of[std::string(member)].push_back(gid);
    }
  }
  return db;
}

bool NeedsUserDatabase(std::string_view user) {
  auto [name, group] = SplitUser(user);
  uint32_t ignored;
  return (!name.empty() && !ParseUint32(name, &ignored)) ||
         (!group.empty() && !ParseUint32(group, &ignored));
}

absl::StatusOr<ProcessSpec> MergeProcess(const fsb::oci::v1::ImageConfig& image,
                                         const fsb::agent::v1::SandboxSpec& request,
                                         const UserDatabase* users) {
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

  p.env = MergeEnv({config.env().begin(), config.env().end()},
                   {request.env().begin(), request.env().end()});
  const bool has_path = std::any_of(p.env.begin(), p.env.end(), [](const std::string& kv) {
    return kv.compare(0, 5, "PATH=") == 0;
  });
  if (!has_path) p.env.insert(p.env.begin(), std::string(kDefaultPath));

  p.cwd = !request.working_dir().empty()  ? request.working_dir()
          : !config.working_dir().empty() ? config.working_dir()
                                          : "/";
  if (absl::Status s = ResolveUser(config.user(), users, &p); !s.ok()) return s;
  return p;
}

std::string BuildRuntimeSpecJson(const ProcessSpec& process, const RuntimeSpecOptions& options) {
  JsonWriter w;
  w.BeginObject().Key("ociVersion").String("1.0.2");

  w.Key("process")
      .BeginObject()
      .Key("terminal")
      .Bool(false)
      .Key("user")
      .BeginObject()
      .Key("uid")
      .Uint(process.uid)
      .Key("gid")
      .Uint(process.gid);
  if (!process.additional_gids.empty()) {
    w.Key("additionalGids").BeginArray();
    for (uint32_t gid : process.additional_gids) w.Uint(gid);
    w.EndArray();
  }
  w.EndObject()
      .Key("args")
      .StringArray(process.args)
      .Key("env")
      .StringArray(process.env)
      .Key("cwd")
      .String(process.cwd);
  std::vector<std::string> capabilities = DefaultCapabilities();
  capabilities.insert(capabilities.end(), options.extra_capabilities.begin(),
                      options.extra_capabilities.end());
  w.Key("capabilities").BeginObject();
  for (const char* set : {"bounding", "effective", "permitted"}) {
    w.Key(set).StringArray(capabilities);
  }
  w.EndObject();
  w.Key("rlimits").BeginArray();
  for (const ProcessRlimit& l : ProcessRlimits(options)) {
    w.BeginObject()
        .Key("type")
        .String(l.type)
        .Key("hard")
        .Uint(l.hard)
        .Key("soft")
        .Uint(l.soft)
        .EndObject();
  }
  w.EndArray();
  if (options.oom_score_adj.has_value()) w.Key("oomScoreAdj").Int(*options.oom_score_adj);
  w.Key("noNewPrivileges").Bool(true).EndObject();

  w.Key("root")
      .BeginObject()
      .Key("path")
      .String("rootfs")
      .Key("readonly")
      .Bool(options.readonly_rootfs)
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
  Mount(w, "/etc/resolv.conf", "bind", options.resolv_conf_file,
        {"rbind", "ro", "nosuid", "nodev", "noexec"});
  Mount(w, "/etc/hosts", "bind", options.hosts_file, {"rbind", "ro", "nosuid", "nodev", "noexec"});
  for (const BindMount& m : options.extra_mounts) {
    Mount(w, m.destination, "bind", m.source,
          {"rbind", m.readonly ? "ro" : "rw", "nosuid", "nodev"});
  }
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
  if (!options.netns.empty()) {
    w.BeginObject().Key("type").String("network").Key("path").String(options.netns).EndObject();
  }
  w.EndArray();
  w.Key("resources")
      .BeginObject()
      .Key("devices")
      .BeginArray()
      .BeginObject()
      .Key("allow")
      .Bool(false)
      .Key("access")
      .String("rwm")
      .EndObject()
      .EndArray();
  if (options.cpu_shares > 0 || options.cpu_millicores > 0) {
    w.Key("cpu").BeginObject();
    if (options.cpu_shares > 0) w.Key("shares").Uint(options.cpu_shares);
    if (options.cpu_millicores > 0) {
      w.Key("quota")
          .Int(CpuQuotaMicros(options.cpu_millicores))
          .Key("period")
          .Uint(kCfsPeriodMicros);
    }
    w.EndObject();
  }
  if (options.memory_bytes > 0) {
    w.Key("memory").BeginObject().Key("limit").Int(options.memory_bytes).EndObject();
  }
  if (options.pids > 0) w.Key("pids").BeginObject().Key("limit").Int(options.pids).EndObject();
  w.EndObject();
  w.Key("cgroupsPath").String(options.cgroups_path);
  w.Key("maskedPaths")
      .StringArray({"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                    "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                    // RAPL energy counters: a side channel on what the node computes.
                    "/sys/devices/virtual/powercap"});
  w.Key("readonlyPaths")
      .StringArray({"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"});
  w.Key("seccomp");
  WriteSeccompProfile(w, options.extra_syscalls);
  w.EndObject();

  w.EndObject();
  return w.str();
}

}  // namespace fsb::agent
