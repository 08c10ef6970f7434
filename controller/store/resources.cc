#include "controller/store/resources.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "internal/ids.h"
#include "internal/strings.h"
#include "internal/validation.h"

namespace fsb::store {
namespace {

namespace pb = ::google::protobuf;

void SetTimestamp(absl::Time time, pb::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(time);
  out->set_seconds(seconds);
  out->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(time - absl::FromUnixSeconds(seconds))));
}

void ApplyKindDefaults(v1alpha1::Sandbox* sandbox) { ApplyDefaults(sandbox); }
void ApplyKindDefaults(v1alpha1::SandboxPool*) {}
void ApplyKindDefaults(v1alpha1::Agent*) {}

template <typename T>
std::string NamespaceFor(std::string_view ns) {
  if constexpr (!KindTraits<T>::kNamespaced) return "";
  return std::string(ns);
}

// Checks and fills apiVersion and kind, and the namespace of `object`.
template <typename T>
absl::Status Normalize(T* object) {
  if (absl::Status s = CheckTypeMeta(object); !s.ok()) return s;
  v1alpha1::ObjectMeta* meta = object->mutable_metadata();
  if constexpr (KindTraits<T>::kNamespaced) {
    if (meta->namespace_().empty()) meta->set_namespace_(kDefaultNamespace);
    if (absl::Status s = ValidateDnsLabel("metadata.namespace", meta->namespace_()); !s.ok()) {
      return s;
    }
  } else {
    meta->clear_namespace_();
  }
  if constexpr (KindTraits<T>::kSubdomainName) {
    return ValidateDnsSubdomain("metadata.name", meta->name());
  }
  return ValidateDnsLabel("metadata.name", meta->name());
}

}  // namespace

template <typename T>
absl::Status CheckTypeMeta(T* object) {
  constexpr std::string_view kind = KindTraits<T>::kKind;
  if (!object->api_version().empty() && object->api_version() != kApiVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("apiVersion must be ", kApiVersion, ", not ", object->api_version()));
  }
  if (!object->kind().empty() && object->kind() != kind) {
    return absl::InvalidArgumentError(
        absl::StrCat("kind must be ", Sv(kind), ", not ", object->kind()));
  }
  object->set_api_version(kApiVersion);
  object->set_kind(std::string(kind));
  return absl::OkStatus();
}

void ClearServerOwnedMetadata(v1alpha1::ObjectMeta* meta) {
  meta->clear_uid();
  meta->clear_resource_version();
  meta->clear_generation();
  meta->clear_creation_timestamp();
  meta->clear_deletion_timestamp();
}

template <typename T>
ObjectKey KeyOf(const T& object) {
  return {KindTraits<T>::kKind, NamespaceFor<T>(object.metadata().namespace_()),
          object.metadata().name()};
}

template <typename T>
Object EncodeObject(const T& object) {
  // The stored bytes never carry the resourceVersion: the store's row is the truth.
  T copy = object;
  copy.mutable_metadata()->clear_resource_version();
  Object stored;
  stored.key = KeyOf(copy);
  copy.SerializeToString(&stored.value);
  stored.labels = Labels(copy.metadata().labels().begin(), copy.metadata().labels().end());
  return stored;
}

template <typename T>
absl::StatusOr<T> DecodeObject(const Object& stored) {
  T object;
  const std::string what = absl::StrCat("stored ", Sv(stored.key.kind), " ", Sv(stored.key.ns), "/",
                                        Sv(stored.key.name));
  if (!object.ParseFromString(stored.value)) {
    return absl::DataLossError(absl::StrCat(what, " does not parse"));
  }
  // Bytes that parse (an empty value does) but describe another object are no better.
  if (const ObjectKey named = KeyOf(object); !(named == stored.key)) {
    return absl::DataLossError(absl::StrCat(what, " holds a ", Sv(named.kind), " named \"",
                                            Sv(named.ns), "/", Sv(named.name), "\""));
  }
  object.mutable_metadata()->set_resource_version(stored.resource_version);
  return object;
}

template <typename T>
absl::StatusOr<std::vector<T>> DecodeOrQuarantine(Store* store, std::vector<Object> page) {
  std::vector<T> decoded;
  decoded.reserve(page.size());
  for (Object& stored : page) {
    absl::StatusOr<T> object = DecodeObject<T>(stored);
    if (object.ok()) {
      decoded.push_back(*std::move(object));
      continue;
    }
    const std::string reason(object.status().message());
    LOG(ERROR) << reason << " (" << stored.value.size() << " bytes, resourceVersion "
               << stored.resource_version
               << "): moved to the store's quarantine with its bytes, not loaded";
    if (absl::Status s = store->Quarantine(stored.key, stored.resource_version, reason); !s.ok()) {
      return s;
    }
  }
  return decoded;
}

void ApplyDefaults(v1alpha1::Sandbox* sandbox) {
  v1alpha1::SandboxSpec* spec = sandbox->mutable_spec();
  if (spec->failure_policy() == v1alpha1::SandboxSpec::FAILURE_POLICY_UNSET) {
    spec->set_failure_policy(v1alpha1::SandboxSpec::Manual);
  }
  if (spec->consistency_mode() == v1alpha1::SandboxSpec::CONSISTENCY_MODE_UNSET) {
    spec->set_consistency_mode(v1alpha1::SandboxSpec::fast);
  }
  if (sandbox->status().phase() == v1alpha1::SandboxStatus::PHASE_UNSET) {
    sandbox->mutable_status()->set_phase(v1alpha1::SandboxStatus::Pending);
  }
}

template <typename T>
absl::StatusOr<T> ResourceClient<T>::Create(T object) {
  if (absl::Status s = Normalize(&object); !s.ok()) return s;
  ApplyKindDefaults(&object);
  v1alpha1::ObjectMeta* meta = object.mutable_metadata();
  meta->set_uid(RandomHex(16));
  meta->set_generation(1);
  meta->clear_deletion_timestamp();
  SetTimestamp(clock_->Now(), meta->mutable_creation_timestamp());
  absl::StatusOr<int64_t> revision = store_->Create(EncodeObject(object));
  if (!revision.ok()) return revision.status();
  meta->set_resource_version(*revision);
  return object;
}

template <typename T>
absl::StatusOr<T> ResourceClient<T>::Get(std::string_view ns, std::string_view name) {
  absl::StatusOr<Object> stored =
      store_->Get({KindTraits<T>::kKind, NamespaceFor<T>(ns), std::string(name)});
  if (!stored.ok()) return stored.status();
  return DecodeObject<T>(*stored);
}

template <typename T>
absl::StatusOr<T> ResourceClient<T>::Update(T object) {
  if (absl::Status s = Normalize(&object); !s.ok()) return s;
  const int64_t expected = object.metadata().resource_version();
  if (expected <= 0) {
    return absl::InvalidArgumentError("metadata.resourceVersion is required for an update");
  }
  absl::StatusOr<T> current = Get(object.metadata().namespace_(), object.metadata().name());
  if (!current.ok()) return current.status();
  // A stale `expected` is caught by the store's compare-and-swap below, so the fields
  // carried over here come from the version the write is checked against.
  const v1alpha1::ObjectMeta& was = current->metadata();
  v1alpha1::ObjectMeta* meta = object.mutable_metadata();
  meta->set_uid(was.uid());
  *meta->mutable_creation_timestamp() = was.creation_timestamp();
  if (was.has_deletion_timestamp()) {
    *meta->mutable_deletion_timestamp() = was.deletion_timestamp();
  }
  const bool spec_changed =
      !google::protobuf::util::MessageDifferencer::Equals(object.spec(), current->spec());
  meta->set_generation(was.generation() + (spec_changed ? 1 : 0));
  absl::StatusOr<int64_t> revision = store_->Update(EncodeObject(object), expected);
  if (!revision.ok()) return revision.status();
  meta->set_resource_version(*revision);
  return object;
}

template <typename T>
absl::StatusOr<T> ResourceClient<T>::Delete(std::string_view ns, std::string_view name,
                                            std::optional<int64_t> expected_resource_version) {
  absl::StatusOr<Object> deleted = store_->Delete(
      {KindTraits<T>::kKind, NamespaceFor<T>(ns), std::string(name)}, expected_resource_version);
  if (!deleted.ok()) return deleted.status();
  return DecodeObject<T>(*deleted);
}

template <typename T>
absl::StatusOr<ResourceList<T>> ResourceClient<T>::List(ListOptions options) {
  options.kind = KindTraits<T>::kKind;
  absl::StatusOr<ListResult> page = store_->List(options);
  if (!page.ok()) return page.status();
  ResourceList<T> list;
  list.continue_token = std::move(page->continue_token);
  list.resource_version = page->resource_version;
  absl::StatusOr<std::vector<T>> items = DecodeOrQuarantine<T>(store_, std::move(page->items));
  if (!items.ok()) return items.status();
  list.items = *std::move(items);
  return list;
}

template <typename T>
absl::StatusOr<std::unique_ptr<WatchHandle>> ResourceClient<T>::Watch(
    std::string_view ns, int64_t from_resource_version,
    std::function<void(const absl::StatusOr<ResourceEvent<T>>&)> callback) {
  WatchOptions options{KindTraits<T>::kKind, NamespaceFor<T>(ns), from_resource_version};
  return store_->Watch(options,
                       [callback = std::move(callback)](const absl::StatusOr<WatchEvent>& event) {
                         if (!event.ok()) {
                           callback(event.status());
                           return;
                         }
                         absl::StatusOr<T> object = DecodeObject<T>(event->object);
                         if (!object.ok()) {
                           LOG(ERROR) << "watch: skipping event: " << object.status();
                           return;
                         }
                         callback(ResourceEvent<T>{event->type, *std::move(object)});
                       });
}

#define FSB_INSTANTIATE_RESOURCE(T)                          \
  template class ResourceClient<T>;                          \
  template absl::Status CheckTypeMeta<T>(T*);                \
  template ObjectKey KeyOf<T>(const T&);                     \
  template Object EncodeObject<T>(const T&);                 \
  template absl::StatusOr<T> DecodeObject<T>(const Object&); \
  template absl::StatusOr<std::vector<T>> DecodeOrQuarantine<T>(Store*, std::vector<Object>);
FSB_INSTANTIATE_RESOURCE(v1alpha1::Sandbox)
FSB_INSTANTIATE_RESOURCE(v1alpha1::SandboxPool)
FSB_INSTANTIATE_RESOURCE(v1alpha1::Agent)
#undef FSB_INSTANTIATE_RESOURCE

}  // namespace fsb::store
