#ifndef FSB_CONTROLLER_LIST_PAGER_H_
#define FSB_CONTROLLER_LIST_PAGER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "internal/request_limits.h"

namespace fsb::controller {

// The most bytes of items one List* response carries: gRPC's default 4 MiB receive
// limit less 64 KiB for the rest of the response (the continue token), so that every
// client, the seed's included, can read every page.
inline constexpr size_t kMaxListPageBytes = (size_t{4} << 20) - (size_t{64} << 10);

// One page of a List* RPC over a list ordered by a key (a tuple of strings, compared
// part by part): decodes the request's page_size and continue_token, admits items in
// order until the page is full, and encodes the next page's token. The token is opaque
// to clients (base64url of a version, the query and the last key of the page), so a page
// starts strictly after the previous page's last key: an item that exists throughout is
// listed once, whatever is created or deleted meanwhile. Not thread-safe.
class ListPager {
 public:
  using Key = std::vector<std::string>;

  // `query` holds the request fields a token is bound to (namespace, selector): a token
  // issued for another query is refused. `key_parts` is the size of a key. Errors are
  // INVALID_ARGUMENT naming page_size (0 to kMaxListPageSize) or continue_token.
  static absl::StatusOr<ListPager> Start(int32_t page_size, std::string_view continue_token,
                                         Key query, size_t key_parts);

  // The last key of the previous page; empty on the first page.
  const Key& after() const { return after_; }
  // How many items to read for this page: one more than page_size (it tells whether
  // another page follows), or 0 (all of them) without a page size.
  size_t read_limit() const { return page_size_ == 0 ? 0 : page_size_ + 1; }

  // Whether the next item in order, with key `key` and `bytes` encoded, is part of the
  // page: false once page_size items are in or when it would take the page past
  // kMaxListPageBytes (a page holds at least one item). After a false, the page is
  // closed and so is every later item.
  bool Add(const Key& key, size_t bytes);

  // The response's continue token: empty when no item was refused. RESOURCE_EXHAUSTED
  // (naming page_size) when a request without page size matched more than one response
  // carries.
  absl::StatusOr<std::string> Finish() const;

 private:
  ListPager(size_t page_size, Key query, Key after)
      : page_size_(page_size), query_(std::move(query)), after_(std::move(after)) {}

  const size_t page_size_;  // 0: none
  const Key query_;
  const Key after_;
  Key last_;  // the key of the last item admitted
  size_t items_ = 0;
  size_t bytes_ = 0;
  bool closed_ = false;
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_LIST_PAGER_H_
