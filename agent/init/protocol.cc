#include "agent/init/protocol.h"

#include <algorithm>
#include <cstring>

namespace fsb::init {
namespace {

// ---- Encoding (agent side) ----

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void PutString(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
  out.push_back('\0');
}

// Prefixes `payload` with its length.
std::string Frame(const std::string& payload) {
  std::string frame;
  frame.reserve(4 + payload.size());
  PutU32(frame, static_cast<uint32_t>(payload.size()));
  frame.append(payload);
  return frame;
}

// ---- Decoding (no allocation) ----

class Reader {
 public:
  Reader(const char* data, size_t size) : data_(data), size_(size) {}

  bool U32(uint32_t* v) {
    if (size_ - pos_ < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) {
      *v |= static_cast<uint32_t>(static_cast<unsigned char>(data_[pos_ + i])) << (8 * i);
    }
    pos_ += 4;
    return true;
  }

  bool U64(uint64_t* v) {
    if (size_ - pos_ < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) {
      *v |= static_cast<uint64_t>(static_cast<unsigned char>(data_[pos_ + i])) << (8 * i);
    }
    pos_ += 8;
    return true;
  }

  // A string that must not contain NUL bytes; `*s` points at it in the buffer.
  bool String(const char** s, uint32_t* len) {
    uint32_t n = 0;
    if (!U32(&n) || size_ - pos_ < static_cast<size_t>(n) + 1) return false;
    const char* start = data_ + pos_;
    if (start[n] != '\0' || std::memchr(start, '\0', n) != nullptr) return false;
    *s = start;
    if (len != nullptr) *len = n;
    pos_ += n + 1;
    return true;
  }

  bool done() const { return pos_ == size_; }

 private:
  const char* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Decodes a count-prefixed string list into `out` (NULL-terminated), at most `max`.
const char* DecodeStrings(Reader& r, uint32_t max, char** out, uint32_t* count,
                          const char* too_many) {
  if (!r.U32(count)) return "truncated string list";
  if (*count > max) return too_many;
  for (uint32_t i = 0; i < *count; ++i) {
    const char* s = nullptr;
    if (!r.String(&s, nullptr)) return "malformed string (truncated or with a NUL byte)";
    out[i] = const_cast<char*>(s);
  }
  out[*count] = nullptr;
  return nullptr;
}

void PutU32At(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

}  // namespace

std::string EncodeOrder(const Order& order) {
  std::string p;
  PutU32(p, static_cast<uint32_t>(MessageKind::kOrder));
  PutU32(p, order.uid);
  PutU32(p, order.gid);
  PutU32(p, static_cast<uint32_t>(order.groups.size()));
  for (uint32_t g : order.groups) PutU32(p, g);
  PutString(p, order.hostname);
  PutString(p, order.cwd);
  PutU32(p, static_cast<uint32_t>(order.argv.size()));
  for (const std::string& a : order.argv) PutString(p, a);
  PutU32(p, static_cast<uint32_t>(order.env.size()));
  for (const std::string& e : order.env) PutString(p, e);
  PutU32(p, static_cast<uint32_t>(order.rlimits.size()));
  for (const Rlimit& l : order.rlimits) {
    PutU32(p, l.resource);
    PutU64(p, l.soft);
    PutU64(p, l.hard);
  }
  const Capabilities& c = order.capabilities;
  for (uint64_t set : {c.bounding, c.effective, c.permitted, c.inheritable, c.ambient}) {
    PutU64(p, set);
  }
  PutU32(p, (order.readonly_rootfs ? 1u : 0u) | (order.no_new_privileges ? 2u : 0u));
  return Frame(p);
}

std::string EncodeHello() {
  std::string p;
  PutU32(p, static_cast<uint32_t>(MessageKind::kHello));
  PutU32(p, kMagic);
  PutU32(p, kVersion);
  return Frame(p);
}

const char* DecodeOrder(char* payload, size_t size, OrderView* out) {
  Reader r(payload, size);
  uint32_t kind = 0;
  if (!r.U32(&kind) || kind != static_cast<uint32_t>(MessageKind::kOrder)) {
    return "not an order";
  }
  if (!r.U32(&out->uid) || !r.U32(&out->gid) || !r.U32(&out->group_count)) {
    return "truncated user";
  }
  if (out->group_count > kMaxGroups) return "too many supplementary groups";
  for (uint32_t i = 0; i < out->group_count; ++i) {
    if (!r.U32(&out->groups[i])) return "truncated groups";
  }
  if (!r.String(&out->hostname, &out->hostname_len)) return "malformed hostname";
  if (!r.String(&out->cwd, nullptr)) return "malformed working directory";
  if (const char* e = DecodeStrings(r, kMaxStrings, out->argv, &out->argc, "too many arguments")) {
    return e;
  }
  if (out->argc == 0) return "empty argv";
  if (const char* e =
          DecodeStrings(r, kMaxStrings, out->envp, &out->envc, "too many environment variables")) {
    return e;
  }
  if (!r.U32(&out->rlimit_count)) return "truncated rlimits";
  if (out->rlimit_count > kMaxRlimits) return "too many rlimits";
  for (uint32_t i = 0; i < out->rlimit_count; ++i) {
    Rlimit& l = out->rlimits[i];
    if (!r.U32(&l.resource) || !r.U64(&l.soft) || !r.U64(&l.hard)) return "truncated rlimit";
  }
  Capabilities& c = out->capabilities;
  for (uint64_t* set : {&c.bounding, &c.effective, &c.permitted, &c.inheritable, &c.ambient}) {
    if (!r.U64(set)) return "truncated capabilities";
  }
  uint32_t flags = 0;
  if (!r.U32(&flags)) return "truncated flags";
  if (!r.done()) return "trailing bytes after the order";
  out->readonly_rootfs = (flags & 1u) != 0;
  out->no_new_privileges = (flags & 2u) != 0;
  if (out->cwd[0] != '/') return "working directory is not absolute";
  return nullptr;
}

size_t EncodeFailure(FailureReason reason, int err, std::string_view message, char* buf,
                     size_t capacity) {
  // frame length, kind, reason, errno, message length, message, NUL
  constexpr size_t kFixed = 4 * 5 + 1;
  if (capacity < kFixed) return 0;
  const size_t n = std::min(message.size(), capacity - kFixed);
  PutU32At(buf, static_cast<uint32_t>(kFixed - 4 + n));
  PutU32At(buf + 4, static_cast<uint32_t>(MessageKind::kFailure));
  PutU32At(buf + 8, static_cast<uint32_t>(reason));
  PutU32At(buf + 12, static_cast<uint32_t>(err));
  PutU32At(buf + 16, static_cast<uint32_t>(n));
  std::memcpy(buf + 20, message.data(), n);
  buf[20 + n] = '\0';
  return kFixed + n;
}

size_t EncodeExecuting(char* buf, size_t capacity) {
  if (capacity < 8) return 0;
  PutU32At(buf, 4);
  PutU32At(buf + 4, static_cast<uint32_t>(MessageKind::kExecuting));
  return 8;
}

bool PayloadKind(std::string_view payload, MessageKind* kind) {
  Reader r(payload.data(), payload.size());
  uint32_t k = 0;
  if (!r.U32(&k)) return false;
  *kind = static_cast<MessageKind>(k);
  return true;
}

bool DecodeHello(std::string_view payload, uint32_t* version) {
  Reader r(payload.data(), payload.size());
  uint32_t kind = 0, magic = 0;
  return r.U32(&kind) && kind == static_cast<uint32_t>(MessageKind::kHello) && r.U32(&magic) &&
         magic == kMagic && r.U32(version) && r.done();
}

bool DecodeFailure(std::string_view payload, Failure* out) {
  Reader r(payload.data(), payload.size());
  uint32_t kind = 0, reason = 0, err = 0;
  const char* message = nullptr;
  uint32_t len = 0;
  if (!r.U32(&kind) || kind != static_cast<uint32_t>(MessageKind::kFailure) || !r.U32(&reason) ||
      !r.U32(&err) || !r.String(&message, &len) || !r.done()) {
    return false;
  }
  out->reason = static_cast<FailureReason>(reason);
  out->err = static_cast<int>(err);
  out->message.assign(message, len);
  return true;
}

}  // namespace fsb::init
