#include "controller/list_pager.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "internal/strings.h"

namespace fsb::controller {
namespace {

// The token format's version: its first field.
constexpr char kTokenVersion[] = "1";
// An item's framing in a repeated message field beyond its own bytes: a one-byte tag
// and a varint length of at most 5 bytes.
constexpr size_t kItemFraming = 6;

// Fields as "<length>:<bytes>" each, so that any byte may appear in a field.
std::string EncodeFields(const std::vector<std::string>& fields) {
  std::string out;
  for (const std::string& f : fields) absl::StrAppend(&out, f.size(), ":", f);
  return out;
}

bool DecodeFields(std::string_view in, std::vector<std::string>* fields) {
  while (!in.empty()) {
    const size_t colon = in.find(':');
    size_t size = 0;
    if (colon == std::string_view::npos || !absl::SimpleAtoi(Sv(in.substr(0, colon)), &size) ||
        size > in.size() - colon - 1) {
      return false;
    }
    fields->emplace_back(in.substr(colon + 1, size));
    in.remove_prefix(colon + 1 + size);
  }
  return true;
}

}  // namespace

absl::StatusOr<ListPager> ListPager::Start(int32_t page_size, std::string_view continue_token,
                                           Key query, size_t key_parts) {
  if (page_size < 0 || page_size > kMaxListPageSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size: ", page_size, " is out of range: 0 (no paging) to ", kMaxListPageSize));
  }
  Key after;
  if (!continue_token.empty()) {
    std::string raw;
    std::vector<std::string> fields;
    if (!absl::WebSafeBase64Unescape(Sv(continue_token), &raw) || !DecodeFields(raw, &fields) ||
        fields.size() != 1 + query.size() + key_parts || fields[0] != kTokenVersion) {
      return absl::InvalidArgumentError(
          "continue_token: not a token of this list (pass a previous response's "
          "continue_token unchanged)");
    }
    if (!std::equal(query.begin(), query.end(), fields.begin() + 1)) {
      return absl::InvalidArgumentError(
          "continue_token: issued for another query (the namespace and selector must stay "
          "those of the first page)");
    }
    after.assign(std::make_move_iterator(fields.end() - key_parts),
                 std::make_move_iterator(fields.end()));
  }
  return ListPager(static_cast<size_t>(page_size), std::move(query), std::move(after));
}

bool ListPager::Add(const Key& key, size_t bytes) {
  if (closed_) return false;
  const size_t framed = bytes + kItemFraming;
  if ((page_size_ != 0 && items_ == page_size_) ||
      (items_ > 0 && bytes_ + framed > kMaxListPageBytes)) {
    closed_ = true;
    return false;
  }
  ++items_;
  bytes_ += framed;
  last_ = key;
  return true;
}

absl::StatusOr<std::string> ListPager::Finish() const {
  if (!closed_) return std::string();
  if (page_size_ == 0) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the list is larger than one response carries (", kMaxListPageBytes,
        " bytes): set page_size (1 to ", kMaxListPageSize, ") and follow continue_token"));
  }
  std::vector<std::string> fields = {kTokenVersion};
  fields.insert(fields.end(), query_.begin(), query_.end());
  fields.insert(fields.end(), last_.begin(), last_.end());
  return absl::WebSafeBase64Escape(EncodeFields(fields));
}

}  // namespace fsb::controller
