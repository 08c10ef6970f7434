#ifndef FSB_CLI_PAGED_LIST_H_
#define FSB_CLI_PAGED_LIST_H_

#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/support/status.h"
#include "internal/request_limits.h"

namespace fsb::cli {

// A paged List* call gives up past this many pages (of kMaxListPageSize items), which no
// real list reaches.
inline constexpr int kMaxListPages = 100000;

// Gathers every item of a paged List* call (ListSandboxes, ListAgents) into `response`:
// sends `request` with page_size kMaxListPageSize, then again with each continue token
// the server answers, until it answers none. `call(request, page)` makes one call and
// returns its status. A server without paging answers everything at once. Fails with
// the first call's error, or INTERNAL when the server sends the same token twice in a
// row or the list goes on past kMaxListPages pages.
template <typename Request, typename Response, typename Call>
grpc::Status ListAllPages(Request request, Response& response, Call&& call) {
  request.set_page_size(kMaxListPageSize);
  for (int pages = 0; pages < kMaxListPages; ++pages) {
    Response page;
    if (grpc::Status status = call(std::as_const(request), page); !status.ok()) return status;
    for (auto& item : *page.mutable_items()) *response.add_items() = std::move(item);
    if (page.continue_token().empty()) return grpc::Status::OK;
    if (page.continue_token() == request.continue_token()) {
      return grpc::Status(grpc::StatusCode::INTERNAL,
                          "the server sent the same continue token twice");
    }
    request.set_continue_token(page.continue_token());
  }
  return grpc::Status(grpc::StatusCode::INTERNAL,
                      absl::StrCat("the list goes on past ", kMaxListPages, " pages"));
}

}  // namespace fsb::cli

#endif  // FSB_CLI_PAGED_LIST_H_
