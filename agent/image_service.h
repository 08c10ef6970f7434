#ifndef FSB_AGENT_IMAGE_SERVICE_H_
#define FSB_AGENT_IMAGE_SERVICE_H_

#include "agent/image_importer.h"
#include "agent/image_registry_puller.h"
#include "fsb/agent/v1/agent.grpc.pb.h"

namespace fsb::agent {

// gRPC adapter of fsb.agent.v1.ImageService: ImportImage feeds the streamed archive
// chunks to an ImageImporter as they arrive (nothing is buffered beyond one chunk);
// PullImage asks a RegistryPuller to make sure the image is on the node. Thread-safe as
// the importer and puller are.
class ImageServiceImpl final : public fsb::agent::v1::ImageService::Service {
 public:
  // `importer` and `puller` must outlive the service.
  ImageServiceImpl(ImageImporter* importer, RegistryPuller* puller)
      : importer_(importer), puller_(puller) {}

  grpc::Status ImportImage(grpc::ServerContext* ctx,
                           grpc::ServerReader<v1::ImportImageChunk>* reader,
                           v1::ImportImageResponse* resp) override;
  grpc::Status PullImage(grpc::ServerContext* ctx, const v1::PullImageRequest* req,
                         v1::PullImageResponse* resp) override;

 private:
  ImageImporter* const importer_;
  RegistryPuller* const puller_;
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_IMAGE_SERVICE_H_
