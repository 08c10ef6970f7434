#ifndef FSB_AGENT_IMAGE_SERVICE_H_
#define FSB_AGENT_IMAGE_SERVICE_H_

#include <functional>
#include <string>
#include <vector>

#include "agent/image/importer.h"
#include "agent/image/registry_puller.h"
#include "fsb/agent/v1/agent.grpc.pb.h"

namespace fsb::agent {

// gRPC adapter of fsb.agent.v1.ImageService: ImportImage feeds the streamed archive
// chunks to an ImageImporter as they arrive (nothing is buffered beyond one chunk), with
// the first chunk's `force` (re-point existing names, else ALREADY_EXISTS); PullImage asks a
// RegistryPuller to make sure the image is on the node. Thread-safe as the importer, the puller and
// `imported` are.
class ImageServiceImpl final : public fsb::agent::v1::ImageService::Service {
 public:
  // Called with the names an import (re)pointed, once it succeeded (the warm pool
  // recycles instances made from what the names meant before).
  using ImportedFn = std::function<void(const std::vector<std::string>& images)>;

  // `importer` and `puller` must outlive the service; `imported` may be empty.
  ImageServiceImpl(ImageImporter* importer, RegistryPuller* puller, ImportedFn imported = {})
      : importer_(importer), puller_(puller), imported_(std::move(imported)) {}

  grpc::Status ImportImage(grpc::ServerContext* ctx,
                           grpc::ServerReader<v1::ImportImageChunk>* reader,
                           v1::ImportImageResponse* resp) override;
  grpc::Status PullImage(grpc::ServerContext* ctx, const v1::PullImageRequest* req,
                         v1::PullImageResponse* resp) override;

 private:
  ImageImporter* const importer_;
  RegistryPuller* const puller_;
  const ImportedFn imported_;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_IMAGE_SERVICE_H_
