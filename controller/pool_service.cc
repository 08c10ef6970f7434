#include "controller/pool_service.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "controller/sandbox_spec.h"
#include "glog/logging.h"
#include "internal/image_ref.h"
#include "internal/strings.h"
#include "internal/validation.h"

namespace fsb::controller {

using ::fsb::v1alpha1::SandboxPool;

absl::StatusOr<SandboxPool> PoolFromResource(SandboxPool resource) {
  if (absl::Status s = store::CheckTypeMeta(&resource); !s.ok()) return s;
  v1alpha1::ObjectMeta* meta = resource.mutable_metadata();
  if (!meta->namespace_().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata.namespace: a SandboxPool is cluster-scoped; remove namespace \"",
                     meta->namespace_(), "\""));
  }
  if (absl::Status s = ValidateDnsLabel("metadata.name", meta->name()); !s.ok()) return s;
  if (absl::Status s = ValidateUserMetadata(*meta); !s.ok()) return s;
  store::ClearServerOwnedMetadata(meta);

  v1alpha1::SandboxPoolSpec* spec = resource.mutable_spec();
  if (absl::Status s = ValidateRange("spec.maxSandboxesPerAgent", spec->max_sandboxes_per_agent(),
                                     0, kMaxSandboxesPerAgentLimit, "sandboxes");
      !s.ok()) {
    return s;
  }
  if (spec->warm_images_size() > kMaxWarmImages) {
    return absl::InvalidArgumentError(absl::StrCat("spec.warmImages: ", spec->warm_images_size(),
                                                   " entries, at most ", kMaxWarmImages,
                                                   " are allowed"));
  }
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < spec->warm_images_size(); ++i) {
    v1alpha1::WarmImage* warm = spec->mutable_warm_images(i);
    const std::string field = absl::StrCat("spec.warmImages[", i, "]");
    if (warm->image().empty()) return absl::InvalidArgumentError(field + ".image is required");
    absl::StatusOr<std::string> image = NormalizeImageReference(warm->image());
    if (!image.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ".image: ", image.status().message()));
    }
    if (!seen.insert(*image).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".image: ", *image, " is listed twice"));
    }
    warm->set_image(*std::move(image));
    if (absl::Status s = ValidateRange(absl::StrCat(field, ".count"), warm->count(), 0,
                                       kMaxWarmCount, "instances");
        !s.ok()) {
      return s;
    }
  }
  resource.clear_status();
  return resource;
}

PoolService::PoolService(Scheduler* scheduler, store::Store* store, const Clock* clock)
    : scheduler_(scheduler), pools_(store, clock) {}

absl::StatusOr<std::unique_ptr<PoolService>> PoolService::Create(Scheduler* scheduler,
                                                                 store::Store* store,
                                                                 const Clock* clock) {
  std::unique_ptr<PoolService> service(new PoolService(scheduler, store, clock));
  absl::StatusOr<store::ResourceList<SandboxPool>> stored = service->pools_.List({});
  if (!stored.ok()) return stored.status();
  for (const SandboxPool& pool : stored->items) {
    if (absl::Status s = service->Enact(pool); !s.ok()) return s;
  }
  return service;
}

absl::Status PoolService::Enact(const SandboxPool& pool) {
  const std::string& name = pool.metadata().name();
  if (absl::Status s = scheduler_->SetPoolLimit(name, pool.spec().max_sandboxes_per_agent());
      !s.ok()) {
    return s;
  }
  std::shared_ptr<fsb::agent::v1::WarmTargets> targets;
  if (pool.spec().warm_images_size() > 0) {
    targets = std::make_shared<fsb::agent::v1::WarmTargets>();
    for (const v1alpha1::WarmImage& warm : pool.spec().warm_images()) {
      fsb::agent::v1::WarmTarget* target = targets->add_targets();
      target->set_image(warm.image());
      target->set_count(warm.count());
    }
  }
  const PoolId id = scheduler_->InternPool(name);
  absl::MutexLock lock(&targets_mu_);
  if (targets == nullptr) {
    targets_.erase(id);
  } else {
    targets_[id] = std::move(targets);
  }
  return absl::OkStatus();
}

std::shared_ptr<const fsb::agent::v1::WarmTargets> PoolService::WarmTargets(PoolId pool) const {
  absl::ReaderMutexLock lock(&targets_mu_);
  auto it = targets_.find(pool);
  return it == targets_.end() ? nullptr : it->second;
}

absl::StatusOr<SandboxPool> PoolService::Apply(SandboxPool resource, bool* created) {
  absl::StatusOr<SandboxPool> desired = PoolFromResource(std::move(resource));
  if (!desired.ok()) return desired.status();
  const std::string name = desired->metadata().name();

  absl::MutexLock lock(&write_mu_);
  absl::StatusOr<SandboxPool> current = pools_.Get("", name);
  absl::StatusOr<SandboxPool> written;
  if (absl::IsNotFound(current.status())) {
    *created = true;
    written = pools_.Create(*std::move(desired));
  } else if (!current.ok()) {
    return current.status();
  } else {
    *created = false;
    v1alpha1::ObjectMeta* meta = current->mutable_metadata();
    *meta->mutable_labels() = desired->metadata().labels();
    *meta->mutable_annotations() = desired->metadata().annotations();
    *current->mutable_spec() = desired->spec();
    // Writes are serialized by write_mu_, so the compare-and-swap sees no other writer
    // of this controller.
    written = pools_.Update(*std::move(current));
  }
  if (!written.ok()) return written.status();
  if (absl::Status s = Enact(*written); !s.ok()) return s;
  LOG(INFO) << "pool " << name << (*created ? " created" : " configured")
            << ": maxSandboxesPerAgent " << written->spec().max_sandboxes_per_agent() << ", "
            << written->spec().warm_images_size() << " warm images";
  std::vector<SandboxPool> one{*std::move(written)};
  FillStatus(one);
  return std::move(one.front());
}

absl::StatusOr<std::vector<SandboxPool>> PoolService::List() const {
  absl::StatusOr<store::ResourceList<SandboxPool>> stored = pools_.List({});
  if (!stored.ok()) return stored.status();
  FillStatus(stored->items);
  return std::move(stored->items);
}

absl::Status PoolService::Delete(std::string_view name) {
  if (absl::Status s = ValidateDnsLabel("name", name); !s.ok()) return s;
  absl::MutexLock lock(&write_mu_);
  absl::StatusOr<SandboxPool> deleted = pools_.Delete("", name);
  if (!deleted.ok()) {
    if (absl::IsNotFound(deleted.status())) {
      return absl::NotFoundError(absl::StrCat("sandbox pool \"", Sv(name), "\" not found"));
    }
    return deleted.status();
  }
  LOG(INFO) << "pool " << name << " deleted: its agents keep their own capacity and warm instances";
  SandboxPool none;
  none.mutable_metadata()->set_name(std::string(name));
  return Enact(none);
}

void PoolService::FillStatus(std::vector<SandboxPool>& pools) const {
  struct Count {
    int agents = 0;
    int sandboxes = 0;
    std::map<std::string, v1alpha1::WarmStatus> warm;  // by image, summed
  };
  absl::flat_hash_map<std::string, Count> counts;
  for (const AgentSnapshot& agent : scheduler_->GetAllAgents()) {
    Count& count = counts[agent.identity->pool];
    ++count.agents;
    count.sandboxes += agent.used;
    for (const NamedWarmImage& w : agent.warm) {
      v1alpha1::WarmStatus& sum = count.warm[w.image];
      sum.set_ready(sum.ready() + static_cast<int32_t>(w.ready));
      sum.set_preparing(sum.preparing() + static_cast<int32_t>(w.preparing));
      sum.set_desired(sum.desired() + static_cast<int32_t>(w.desired));
    }
  }
  for (SandboxPool& pool : pools) {
    const auto it = counts.find(pool.metadata().name());
    Count count = it == counts.end() ? Count() : std::move(it->second);
    // Agents keep what the pool lists when it lists anything (and nothing else).
    if (pool.spec().warm_images_size() > 0) {
      for (auto& [image, sum] : count.warm) sum.set_desired(0);
      for (const v1alpha1::WarmImage& listed : pool.spec().warm_images()) {
        count.warm[listed.image()].set_desired(listed.count() * count.agents);
      }
    }
    v1alpha1::SandboxPoolStatus* status = pool.mutable_status();
    status->set_agents(count.agents);
    status->set_sandboxes(count.sandboxes);
    status->set_observed_generation(pool.metadata().generation());
    status->clear_warm();
    for (auto& [image, sum] : count.warm) {
      sum.set_image(image);
      *status->add_warm() = std::move(sum);
    }
  }
}

}  // namespace fsb::controller
