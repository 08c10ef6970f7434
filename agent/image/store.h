#ifndef FSB_AGENT_IMAGE_STORE_H_
#define FSB_AGENT_IMAGE_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/containerd/client.h"
#include "fsb/oci/v1/image.pb.h"

namespace fsb::agent {

// Images in containerd, written the way containerd's own pull and import do it, so that
// ContainerdRuntime::ResolveImage (and `ctr`) see them as unpacked images:
//  * blobs go into the content store through the streaming Write API, verified against
//    their digest and size by containerd when committed;
//  * everything written belongs to a lease until the image record references it, so
//    containerd's garbage collector cannot take it half-way (the lease also carries an
//    expiry, so an agent that dies mid-import leaks nothing for long);
//  * layers are applied with Diff.Apply onto snapshots committed under their chain ids;
//  * the GC labels chain image -> index -> manifest -> config and layers
//    (`containerd.io/gc.ref.content.*`) and config -> top snapshot
//    (`containerd.io/gc.ref.snapshot.<snapshotter>`), which is also how the runtime
//    finds the snapshot to start containers from.
// Every step is idempotent: content, snapshots and image records that exist are kept, so
// importing or pulling an image again succeeds. Every call carries a deadline.
// Thread-safe; concurrent writes of the same blob are serialized.
class ImageStore {
 public:
  struct Options {
    absl::Duration write_timeout = absl::Minutes(30);  // one blob's Write stream
    absl::Duration apply_timeout = absl::Minutes(10);  // one layer's Diff.Apply
    absl::Duration lease_expiry = absl::Hours(1);
  };

  // Protects what is written under it from garbage collection until it is destroyed
  // (which deletes it, best effort). Move-only.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    const std::string& id() const { return id_; }

   private:
    friend class ImageStore;
    Lease(ImageStore* store, std::string id) : store_(store), id_(std::move(id)) {}
    ImageStore* store_;
    std::string id_;  // empty once moved from
  };

  // One blob being written. Data is sent to containerd in pieces of up to 1 MiB (small
  // writes are gathered first), so at most about that much is held per writer.
  // Destroying it before Commit abandons the write (containerd drops the partial data).
  // It must not outlive the store or the lease it was opened under. Not thread-safe.
  class BlobWriter {
   public:
    ~BlobWriter();
    // Appends `data`.
    absl::Status Write(std::string_view data);
    // Commits the blob: DATA_LOSS when what was written does not have the expected
    // size and digest. OK when another writer committed the same blob meanwhile.
    absl::Status Commit();

   private:
    friend class ImageStore;
    BlobWriter(ImageStore* store, std::string lease_id, std::string digest, int64_t size);
    // Sends what `pending_` holds, in pieces.
    absl::Status Flush();
    // Ends the stream: drains what the server still sends, returns its status.
    absl::Status Finish();
    // The stream's final status, after a failed Write/Read, with context.
    absl::Status Fail(std::string_view doing);

    ImageStore* const store_;
    const std::string lease_id_;
    const std::string digest_;
    const int64_t size_;
    grpc::ClientContext ctx_;
    std::unique_ptr<Containerd::ContentWriteStream> stream_;
    std::string pending_;    // written, not yet sent
    int64_t offset_ = 0;     // bytes sent (and acknowledged)
    bool finished_ = false;  // the stream's status was collected
  };

  // `containerd` must outlive the store.
  ImageStore(Containerd* containerd, Options options);

  absl::StatusOr<Lease> CreateLease();

  // Starts writing the blob `digest` of `size` bytes. Returns nullptr when containerd
  // already has it (it is then added to the lease).
  absl::StatusOr<std::unique_ptr<BlobWriter>> OpenBlob(const Lease& lease, std::string_view digest,
                                                       int64_t size);
  // Writes a small blob held in memory (a manifest, an index).
  absl::Status PutBlob(const Lease& lease, std::string_view digest, std::string_view data);

  // Unpacks the image `target` describes (a manifest, or an index: its manifest for
  // linux/<this machine's architecture>) from blobs already in the content store, sets
  // the GC labels, and creates or re-points the image record `name` (normalized) to
  // `target`. NOT_FOUND when a blob it needs is not in the content store;
  // INVALID_ARGUMENT for documents that are not a valid image; DATA_LOSS when a layer
  // does not unpack to the diff id its config states.
  absl::Status Install(const Lease& lease, std::string_view name,
                       const fsb::oci::v1::Descriptor& target);

  // The digest the image record `name` points to; nullopt when there is no such record.
  absl::StatusOr<std::optional<std::string>> ImageTarget(std::string_view name);

 private:
  void DeleteLease(const std::string& id);
  // Reads the JSON document `digest` (at most kMaxManifestBytes) into `out`.
  absl::Status ReadDocument(std::string_view digest, std::string_view what,
                            google::protobuf::Message* out);
  // Merges `labels` into the labels of the blob `digest`.
  absl::Status SetContentLabels(std::string_view digest,
                                const std::map<std::string, std::string>& labels);
  // Makes the committed snapshot `chain_id` (parent `parent_chain_id`) hold `layer`
  // applied, unless it exists.
  absl::Status UnpackLayer(const Lease& lease, const fsb::oci::v1::Descriptor& layer,
                           std::string_view diff_id, const std::string& chain_id,
                           const std::string& parent_chain_id);
  absl::Status NameImage(std::string_view name, const fsb::oci::v1::Descriptor& target);
  void EndWrite(const std::string& digest);

  Containerd* const containerd_;
  const Options options_;

  absl::Mutex mu_;
  absl::CondVar write_done_;
  // Digests being written by a BlobWriter of this store; at most one writer per digest.
  absl::flat_hash_set<std::string> writing_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fsb::agent

#endif  // FSB_AGENT_IMAGE_STORE_H_
