#ifndef FSB_CONTROLLER_IMAGE_PROXY_H_
#define FSB_CONTROLLER_IMAGE_PROXY_H_

#include <functional>
#include <memory>
#include <string_view>

#include "absl/time/time.h"
#include "controller/client_auth.h"
#include "controller/scheduler/scheduler.h"
#include "fastpath/v1/fastpath.grpc.pb.h"
#include "grpcpp/channel.h"

namespace fsb::controller {

// gRPC adapter of fastpath.v1.Images: forwards an image archive streamed by a client to
// the agent it names (fsb.agent.v1.ImageService.ImportImage), or to every registered
// agent at once. Chunks are relayed as they arrive, in order, to each agent still
// accepting them; the controller holds one chunk at a time whatever the archive's size,
// and the slowest agent paces the upload. The target's `force` goes to every agent, in
// the first chunk.
//
// Only callers ClientAuth lets import images (admins) are served: UNAUTHENTICATED or
// PERMISSION_DENIED before anything is read. Errors: INVALID_ARGUMENT when the first message is not
// an ImportTarget (or a later one is); NOT_FOUND for an agent that is not registered;
// FAILED_PRECONDITION when no agent is. With a named agent, that agent's error is the call's error.
// With every agent, each gets a result (its images, or its error as "CODE: message"); the call
// fails only when all of them failed, with the first failure's code and every agent's message.
// Every agent call has a deadline (`import_timeout`). Thread-safe: calls share nothing
// but the scheduler and the channels, both thread-safe.
class ImageProxy final : public fastpath::v1::Images::Service {
 public:
  struct Options {
    absl::Duration import_timeout = absl::Minutes(30);
  };
  // The (shared, long-lived) channel to the agent at `address`.
  using ChannelFor =
      std::function<std::shared_ptr<grpc::ChannelInterface>(std::string_view address)>;

  // `scheduler` and `auth` must outlive the proxy.
  ImageProxy(const Scheduler* scheduler, ChannelFor channel_for, const ClientAuth* auth,
             Options options)
      : scheduler_(scheduler),
        channel_for_(std::move(channel_for)),
        auth_(auth),
        options_(options) {}

  grpc::Status ImportImage(grpc::ServerContext* ctx,
                           grpc::ServerReader<fastpath::v1::ImportImageRequest>* reader,
                           fastpath::v1::ImportImageResponse* resp) override;

 private:
  const Scheduler* const scheduler_;
  const ChannelFor channel_for_;
  const ClientAuth* const auth_;
  const Options options_;
};

}  // namespace fsb::controller

#endif  // FSB_CONTROLLER_IMAGE_PROXY_H_
