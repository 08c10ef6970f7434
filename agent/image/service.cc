#include "agent/image/service.h"

#include "internal/status.h"

namespace fsb::agent {

grpc::Status ImageServiceImpl::ImportImage(grpc::ServerContext* ctx,
                                           grpc::ServerReader<v1::ImportImageChunk>* reader,
                                           v1::ImportImageResponse* resp) {
  v1::ImportImageChunk chunk;
  // The first chunk carries the import's options and maybe data, handed over first.
  bool unread = reader->Read(&chunk);
  const bool force = unread && chunk.force();
  const ChunkSource source = [&](std::string* out) {
    if (!unread && !reader->Read(&chunk)) return false;
    unread = false;
    out->swap(*chunk.mutable_data());
    return true;
  };
  absl::StatusOr<std::vector<std::string>> names = importer_->Import(source, force);
  if (!names.ok()) return ToGrpcStatus(names.status());
  if (imported_) imported_(*names);
  for (std::string& name : *names) resp->add_images(std::move(name));
  return grpc::Status::OK;
}

grpc::Status ImageServiceImpl::PullImage(grpc::ServerContext* ctx, const v1::PullImageRequest* req,
                                         v1::PullImageResponse* resp) {
  absl::StatusOr<std::pair<std::string, bool>> ensured = puller_->Ensure(req->image());
  if (!ensured.ok()) return ToGrpcStatus(ensured.status());
  resp->set_image(ensured->first);
  resp->set_pulled(ensured->second);
  return grpc::Status::OK;
}

}  // namespace fsb::agent
