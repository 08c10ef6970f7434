#include "controller/image_proxy.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fsb/agent/v1/agent.grpc.pb.h"
#include "internal/deadline.h"
#include "internal/status.h"

namespace fsb::controller {
namespace {

// One agent's ImportImage call in flight.
struct Upstream {
  std::string agent;
  grpc::ClientContext ctx;
  fsb::agent::v1::ImportImageResponse resp;
  std::unique_ptr<grpc::ClientWriter<fsb::agent::v1::ImportImageChunk>> writer;
  bool accepting = true;  // the agent still takes data
};

void CancelAll(std::vector<std::unique_ptr<Upstream>>& upstreams) {
  for (auto& u : upstreams) {
    u->ctx.TryCancel();
    (void)u->writer->Finish();
  }
}

}  // namespace

grpc::Status ImageProxy::ImportImage(grpc::ServerContext* ctx,
                                     grpc::ServerReader<fastpath::v1::ImportImageRequest>* reader,
                                     fastpath::v1::ImportImageResponse* resp) {
  if (absl::StatusOr<auth::Principal> caller =
          auth_->Authorize(*ctx, "/fastpath.v1.Images/ImportImage", "");
      !caller.ok()) {
    return ToGrpcStatus(caller.status());
  }
  fastpath::v1::ImportImageRequest req;
  if (!reader->Read(&req) || !req.has_target()) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        "the first message of ImportImage must be the target (an agent name, or empty for "
        "every agent)"));
  }
  std::vector<AgentSnapshot> agents;
  if (const std::string& name = req.target().agent(); !name.empty()) {
    absl::StatusOr<AgentSnapshot> agent = scheduler_->GetAgentByID(name);
    if (!agent.ok()) {
      return ToGrpcStatus(
          absl::NotFoundError(absl::StrCat("agent \"", name, "\" is not registered")));
    }
    agents.push_back(*std::move(agent));
  } else {
    agents = scheduler_->GetAllAgents();
    if (agents.empty()) {
      return ToGrpcStatus(absl::FailedPreconditionError("no agent is registered"));
    }
  }

  std::vector<std::unique_ptr<Upstream>> upstreams;
  for (const AgentSnapshot& agent : agents) {
    auto u = std::make_unique<Upstream>();
    u->agent = agent.identity->id;
    u->ctx.set_deadline(Deadline::In(options_.import_timeout).ToChrono());
    u->writer = fsb::agent::v1::ImageService::NewStub(channel_for_(agent.identity->address))
                    ->ImportImage(&u->ctx, &u->resp);
    upstreams.push_back(std::move(u));
  }
  fsb::agent::v1::ImportImageChunk chunk;
  chunk.set_force(req.target().force());  // agents read it from the first chunk
  while (reader->Read(&req)) {
    if (!req.has_data()) {
      CancelAll(upstreams);
      return ToGrpcStatus(
          absl::InvalidArgumentError("only the first message of ImportImage may be a target"));
    }
    chunk.mutable_data()->swap(*req.mutable_data());
    for (auto& u : upstreams) {
      if (u->accepting) u->accepting = u->writer->Write(chunk);
    }
    chunk.clear_force();
    if (ctx->IsCancelled()) {
      CancelAll(upstreams);
      return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
    }
  }

  std::vector<std::string> failures;
  absl::StatusCode first_failure = absl::StatusCode::kOk;
  for (auto& u : upstreams) {
    if (u->accepting) (void)u->writer->WritesDone();
    absl::Status s = FromGrpcStatus(u->writer->Finish());
    if (upstreams.size() == 1 && !s.ok()) return ToGrpcStatus(s);
    auto* result = resp->add_results();
    result->set_agent(u->agent);
    if (s.ok()) {
      result->mutable_images()->Swap(u->resp.mutable_images());
      continue;
    }
    result->set_error(s.ToString());
    failures.push_back(absl::StrCat("agent ", u->agent, ": ", s.message()));
    if (first_failure == absl::StatusCode::kOk) first_failure = s.code();
  }
  if (failures.size() == upstreams.size()) {
    return ToGrpcStatus(absl::Status(
        first_failure,
        absl::StrCat("every agent failed to import the image: ", absl::StrJoin(failures, "; "))));
  }
  return grpc::Status::OK;
}

}  // namespace fsb::controller
