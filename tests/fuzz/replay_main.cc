// Runs a fuzz target's LLVMFuzzerTestOneInput once on each file of the folders given as
// arguments (the target's corpus/ and regressions/), in name order, without libFuzzer:
// the normal build links every target with it, so that each checked-in input (every
// crash ever found included) runs in every test run, with any compiler.
//
// Usage: <target>_fuzz_replay DIR...   Files whose names start with '.' are skipped.
// Exit status: 0 when every input ran (a violated invariant traps first); 2 when a
// folder cannot be listed or a file read.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "internal/directory.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  int inputs = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string dir = argv[i];
    absl::StatusOr<std::vector<std::string>> names = fsb::ListDirectory(dir);
    if (!names.ok()) {
      std::fprintf(stderr, "replay: %s\n", std::string(names.status().message()).c_str());
      return 2;
    }
    std::sort(names->begin(), names->end());
    for (const std::string& name : *names) {
      if (name.front() == '.') continue;
      const std::string path = dir + "/" + name;
      std::ifstream in(path, std::ios::binary);
      std::ostringstream bytes;
      bytes << in.rdbuf();
      if (!in) {
        std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
        return 2;
      }
      const std::string data = bytes.str();
      std::fprintf(stderr, "replay: %s (%zu bytes)\n", path.c_str(), data.size());
      LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(data.data()), data.size());
      ++inputs;
    }
  }
  std::printf("replay: %d inputs ran, no invariant violated\n", inputs);
  return 0;
}
