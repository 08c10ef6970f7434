#ifndef FSB_INTERNAL_IDS_H_
#define FSB_INTERNAL_IDS_H_

#include <string>

namespace fsb {

// Returns `bytes` random bytes from the OS CSPRNG as lowercase hex (2*bytes chars).
// Thread-safe.
std::string RandomHex(int bytes);

}  // namespace fsb

#endif  // FSB_INTERNAL_IDS_H_
