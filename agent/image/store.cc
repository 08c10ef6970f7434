#include "agent/image/store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "agent/image/oci.h"
#include "glog/logging.h"
#include "internal/deadline.h"
#include "internal/ids.h"
#include "internal/status.h"
#include "internal/strings.h"

namespace fsb::agent {
namespace {

namespace ccontent = containerd::services::content::v1;
namespace cimages = containerd::services::images::v1;
namespace csnap = containerd::services::snapshots::v1;

// containerd's gRPC server takes messages up to 16 MiB; writes stay well below.
constexpr size_t kWritePiece = 1 << 20;

containerd::types::Descriptor ToContainerd(const fsb::oci::v1::Descriptor& d) {
  containerd::types::Descriptor out;
  out.set_media_type(d.media_type());
  out.set_digest(d.digest());
  out.set_size(d.size());
  return out;
}

// The ref of the content store ingest of `digest`: stable, so that a write an earlier
// agent left half-done is taken over (the first write at offset 0 truncates it).
std::string IngestRef(std::string_view digest) { return absl::StrCat("fsb-", Sv(digest)); }

// The status `s` with `context` put in front of its message; OK stays OK.
absl::Status WithContext(const absl::Status& s, std::string_view context) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(Sv(context), ": ", s.message()));
}

}  // namespace

ImageStore::Lease::Lease(Lease&& other) noexcept
    : store_(other.store_), id_(std::exchange(other.id_, "")) {}

ImageStore::Lease::~Lease() {
  if (!id_.empty()) store_->DeleteLease(id_);
}

ImageStore::ImageStore(Containerd* containerd, Options options)
    : containerd_(containerd), options_(std::move(options)) {}

absl::StatusOr<ImageStore::Lease> ImageStore::CreateLease() {
  std::string id = absl::StrCat("fsb-image-", RandomHex(8));
  if (absl::Status s = containerd_->CreateLease(id, Deadline::In(options_.lease_expiry).time());
      !s.ok()) {
    return WithContext(s, "cannot create a containerd lease");
  }
  return Lease(this, std::move(id));
}

void ImageStore::DeleteLease(const std::string& id) {
  if (absl::Status s = containerd_->DeleteLease(id); !s.ok()) {
    LOG(WARNING) << "cannot delete containerd lease " << id << " (it expires by itself): " << s;
  }
}

// ---- Blobs ----

ImageStore::BlobWriter::BlobWriter(ImageStore* store, std::string lease_id, std::string digest,
                                   int64_t size)
    : store_(store), lease_id_(std::move(lease_id)), digest_(std::move(digest)), size_(size) {}

ImageStore::BlobWriter::~BlobWriter() {
  if (stream_ != nullptr && !finished_) {
    // Abandoned: containerd drops the partial ingest when the stream is cancelled
    // and its ref is aborted.
    ctx_.TryCancel();
    (void)Finish();
    (void)store_->containerd_->AbortContentWrite(IngestRef(digest_));
  }
  store_->EndWrite(digest_);
}

absl::Status ImageStore::BlobWriter::Finish() {
  // containerd sends the last response once more as the stream ends; gRPC delivers the
  // status only once every message has been read.
  ccontent::WriteContentResponse resp;
  while (stream_->Read(&resp)) {
  }
  finished_ = true;
  return FromGrpcStatus(stream_->Finish());
}

absl::Status ImageStore::BlobWriter::Fail(std::string_view doing) {
  absl::Status s = Finish();
  if (s.ok()) s = absl::UnavailableError("containerd closed the write stream");
  return WithContext(s, absl::StrCat(Sv(doing), " blob ", digest_));
}

absl::Status ImageStore::BlobWriter::Write(std::string_view data) {
  if (finished_) return absl::FailedPreconditionError("blob write already ended");
  pending_.append(data);
  return pending_.size() < kWritePiece ? absl::OkStatus() : Flush();
}

absl::Status ImageStore::BlobWriter::Flush() {
  for (std::string_view rest = pending_; !rest.empty();) {
    const std::string_view piece = rest.substr(0, kWritePiece);
    rest.remove_prefix(piece.size());
    ccontent::WriteContentRequest req;
    req.set_action(ccontent::WRITE);
    req.set_offset(offset_);
    req.set_data(piece.data(), piece.size());
    ccontent::WriteContentResponse resp;
    if (!stream_->Write(req) || !stream_->Read(&resp)) return Fail("writing");
    offset_ += static_cast<int64_t>(piece.size());
    if (resp.offset() != offset_) {
      return absl::DataLossError(absl::StrCat("writing blob ", digest_,
                                              ": containerd is at offset ", resp.offset(),
                                              ", expected ", offset_));
    }
  }
  pending_.clear();
  return absl::OkStatus();
}

absl::Status ImageStore::BlobWriter::Commit() {
  if (finished_) return absl::FailedPreconditionError("blob write already ended");
  if (absl::Status s = Flush(); !s.ok()) return s;
  if (offset_ != size_) {
    return absl::DataLossError(
        absl::StrCat("blob ", digest_, " has ", offset_, " bytes, its descriptor says ", size_));
  }
  ccontent::WriteContentRequest req;
  req.set_action(ccontent::COMMIT);
  req.set_offset(offset_);
  req.set_total(size_);
  req.set_expected(digest_);
  ccontent::WriteContentResponse resp;
  const bool answered = stream_->Write(req) && stream_->Read(&resp);
  absl::Status s = Finish();
  if (s.ok() && !answered) s = absl::UnavailableError("containerd closed the write stream");
  if (s.ok()) return absl::OkStatus();
  // Another process committed it meanwhile: it is not in this writer's lease yet.
  if (absl::IsAlreadyExists(s)) {
    return store_->containerd_->AddLeaseResource(lease_id_, digest_, "content");
  }
  if (absl::IsFailedPrecondition(s)) {
    return absl::DataLossError(
        absl::StrCat("blob ", digest_, " does not match its digest or size: ", s.message()));
  }
  return WithContext(s, absl::StrCat("committing blob ", digest_));
}

void ImageStore::EndWrite(const std::string& digest) {
  absl::MutexLock lock(&mu_);
  writing_.erase(digest);
  write_done_.SignalAll();
}

absl::StatusOr<std::unique_ptr<ImageStore::BlobWriter>> ImageStore::OpenBlob(
    const Lease& lease, std::string_view digest, int64_t size) {
  if (!IsSha256Digest(digest)) {
    return absl::InvalidArgumentError(
        absl::StrCat("blob digest \"", Sv(digest), "\" is not a sha256 digest"));
  }
  std::string key(digest);
  {
    absl::MutexLock lock(&mu_);
    while (writing_.contains(key)) write_done_.Wait(&mu_);
    writing_.insert(key);
  }
  // From here on the writer's destructor releases `key`.
  std::unique_ptr<BlobWriter> writer(new BlobWriter(this, lease.id(), key, size));
  writer->stream_ = containerd_->WriteContent(&writer->ctx_, options_.write_timeout, lease.id());
  ccontent::WriteContentRequest stat;
  stat.set_action(ccontent::STAT);
  stat.set_ref(IngestRef(key));
  stat.set_total(size);
  stat.set_expected(key);
  ccontent::WriteContentResponse resp;
  if (writer->stream_->Write(stat) && writer->stream_->Read(&resp)) return writer;
  absl::Status s = writer->Fail("starting to write");
  if (!absl::IsAlreadyExists(s)) return s;
  writer.reset();
  if (absl::Status added = containerd_->AddLeaseResource(lease.id(), key, "content"); !added.ok()) {
    return added;
  }
  return nullptr;
}

absl::Status ImageStore::PutBlob(const Lease& lease, std::string_view digest,
                                 std::string_view data) {
  absl::StatusOr<std::unique_ptr<BlobWriter>> writer =
      OpenBlob(lease, digest, static_cast<int64_t>(data.size()));
  if (!writer.ok()) return writer.status();
  if (*writer == nullptr) return absl::OkStatus();
  if (absl::Status s = (*writer)->Write(data); !s.ok()) return s;
  return (*writer)->Commit();
}

absl::Status ImageStore::ReadDocument(std::string_view digest, std::string_view what,
                                      google::protobuf::Message* out) {
  absl::StatusOr<ccontent::Info> info = containerd_->ContentInfo(digest);
  if (absl::IsNotFound(info.status())) {
    return absl::NotFoundError(
        absl::StrCat(Sv(what), " (blob ", Sv(digest), ") is not in the content store"));
  }
  if (!info.ok()) return WithContext(info.status(), absl::StrCat("reading ", Sv(what)));
  if (info->size() > kMaxManifestBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(Sv(what), " is larger than ", kMaxManifestBytes, " bytes"));
  }
  absl::StatusOr<std::string> raw = containerd_->ReadContent(digest);
  if (!raw.ok()) return WithContext(raw.status(), absl::StrCat("reading ", Sv(what)));
  return ParseJsonDocument(*raw, what, out);
}

absl::Status ImageStore::SetContentLabels(std::string_view digest,
                                          const std::map<std::string, std::string>& labels) {
  return WithContext(containerd_->SetContentLabels(digest, labels),
                     absl::StrCat("labelling blob ", Sv(digest)));
}

// ---- Unpacking ----

absl::Status ImageStore::Install(const Lease& lease, std::string_view name,
                                 const fsb::oci::v1::Descriptor& target) {
  const std::string image(name);
  fsb::oci::v1::Descriptor manifest_desc = target;
  if (IsIndexType(target.media_type())) {
    fsb::oci::v1::Index index;
    if (absl::Status s =
            ReadDocument(target.digest(), absl::StrCat("index of image ", image), &index);
        !s.ok()) {
      return s;
    }
    std::map<std::string, std::string> labels;
    for (int i = 0; i < index.manifests_size(); ++i) {
      labels[absl::StrCat(kGcManifestLabelPrefix, i)] = index.manifests(i).digest();
    }
    if (absl::Status s = SetContentLabels(target.digest(), labels); !s.ok()) return s;
    absl::StatusOr<fsb::oci::v1::Descriptor> selected =
        SelectPlatformManifest(index, image, "linux", HostArchitecture(), "");
    if (!selected.ok()) return selected.status();
    manifest_desc = *std::move(selected);
  }
  if (!IsManifestType(manifest_desc.media_type())) {
    return absl::InvalidArgumentError(absl::StrCat("image ", image, ": unsupported media type \"",
                                                   manifest_desc.media_type(), "\""));
  }
  fsb::oci::v1::Manifest manifest;
  if (absl::Status s = ReadDocument(manifest_desc.digest(),
                                    absl::StrCat("manifest of image ", image), &manifest);
      !s.ok()) {
    return s;
  }
  const std::string& config_digest = manifest.config().digest();
  fsb::oci::v1::ImageConfig config;
  if (absl::Status s =
          ReadDocument(config_digest, absl::StrCat("config of image ", image), &config);
      !s.ok()) {
    return s;
  }
  if (manifest.layers().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("image ", image, " has no layers"));
  }
  std::vector<std::string> diff_ids(config.rootfs().diff_ids().begin(),
                                    config.rootfs().diff_ids().end());
  if (diff_ids.size() != static_cast<size_t>(manifest.layers_size())) {
    return absl::InvalidArgumentError(absl::StrCat("image ", image, ": its manifest has ",
                                                   manifest.layers_size(), " layers, its config ",
                                                   diff_ids.size(), " diff ids"));
  }
  absl::StatusOr<std::vector<std::string>> chain = ChainIds(diff_ids);
  if (!chain.ok()) return WithContext(chain.status(), absl::StrCat("image ", image));

  std::map<std::string, std::string> labels = {{kGcConfigLabel, config_digest}};
  for (int i = 0; i < manifest.layers_size(); ++i) {
    labels[absl::StrCat(kGcLayerLabelPrefix, i)] = manifest.layers(i).digest();
  }
  if (absl::Status s = SetContentLabels(manifest_desc.digest(), labels); !s.ok()) return s;
  for (int i = 0; i < manifest.layers_size(); ++i) {
    if (absl::Status s = UnpackLayer(lease, manifest.layers(i), diff_ids[i], (*chain)[i],
                                     i == 0 ? "" : (*chain)[i - 1]);
        !s.ok()) {
      return WithContext(s, absl::StrCat("image ", image, ": layer ", i));
    }
  }
  if (absl::Status s =
          SetContentLabels(config_digest, {{containerd_->SnapshotRefLabel(), chain->back()}});
      !s.ok()) {
    return s;
  }
  return NameImage(image, target);
}

absl::Status ImageStore::UnpackLayer(const Lease& lease, const fsb::oci::v1::Descriptor& layer,
                                     std::string_view diff_id, const std::string& chain_id,
                                     const std::string& parent_chain_id) {
  const std::string snapshot_type = absl::StrCat("snapshots/", containerd_->options().snapshotter);
  absl::StatusOr<csnap::Info> existing = containerd_->StatSnapshot(chain_id);
  if (existing.ok()) return containerd_->AddLeaseResource(lease.id(), chain_id, snapshot_type);
  if (!absl::IsNotFound(existing.status())) return existing.status();

  // Extract into a uniquely named active snapshot, then commit it under the chain id;
  // a concurrent unpack of the same layer loses the commit race harmlessly.
  const std::string key = absl::StrCat("fsb-extract-", RandomHex(8), "-", chain_id);
  absl::StatusOr<std::vector<containerd::types::Mount>> mounts =
      containerd_->PrepareSnapshot(key, parent_chain_id, {}, lease.id());
  if (!mounts.ok()) return WithContext(mounts.status(), "preparing a snapshot");
  auto discard = [&](absl::Status cause) {
    if (absl::Status s = containerd_->RemoveSnapshot(key); !s.ok()) {
      LOG(WARNING) << "cannot remove extraction snapshot " << key << ": " << s;
    }
    return cause;
  };
  absl::StatusOr<containerd::types::Descriptor> applied =
      containerd_->ApplyDiff(ToContainerd(layer), *mounts, options_.apply_timeout, lease.id());
  if (!applied.ok()) {
    return discard(WithContext(applied.status(), absl::StrCat("applying ", layer.digest())));
  }
  if (applied->digest() != diff_id) {
    return discard(
        absl::DataLossError(absl::StrCat(layer.digest(), " unpacks to ", applied->digest(),
                                         " but the image config says ", Sv(diff_id))));
  }
  absl::Status committed = containerd_->CommitSnapshot(chain_id, key, lease.id());
  if (absl::IsAlreadyExists(committed)) {
    return discard(containerd_->AddLeaseResource(lease.id(), chain_id, snapshot_type));
  }
  if (!committed.ok()) return discard(WithContext(committed, "committing the snapshot"));
  return absl::OkStatus();
}

absl::Status ImageStore::NameImage(std::string_view name, const fsb::oci::v1::Descriptor& target) {
  cimages::Image image;
  image.set_name(std::string(name));
  *image.mutable_target() = ToContainerd(target);
  if (absl::Status s = containerd_->CreateImage(image); !absl::IsAlreadyExists(s)) {
    return WithContext(s, absl::StrCat("creating image ", Sv(name)));
  }
  // The name exists: point it at this target (the same one when importing again).
  return WithContext(containerd_->UpdateImage(image, {"target"}),
                     absl::StrCat("updating image ", Sv(name)));
}

absl::StatusOr<std::optional<std::string>> ImageStore::ImageTarget(std::string_view name) {
  absl::StatusOr<cimages::Image> image = containerd_->GetImage(name);
  if (image.ok()) return std::move(*image->mutable_target()->mutable_digest());
  if (absl::IsNotFound(image.status())) return std::nullopt;
  return WithContext(image.status(), absl::StrCat("looking up image ", Sv(name)));
}

}  // namespace fsb::agent
