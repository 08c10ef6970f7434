#ifndef FSB_TESTS_FUZZ_PROTO_INPUT_H_
#define FSB_TESTS_FUZZ_PROTO_INPUT_H_

#include <string>
#include <string_view>

#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/message.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/text_format.h"
#include "internal/proto_json.h"

namespace fsb::fuzz {

// A fuzz input that holds a protobuf message: its first byte names the encoding of the
// rest, 'b' binary (the wire form gRPC delivers), 't' text format, 'j' proto3 JSON; any
// other byte picks one by its value. Text and JSON let hand-written seeds stay readable
// and let the fuzzer reach deep fields. Only messages the wire form can carry are
// returned: text format accepts what binary parsing refuses (strings that are not
// UTF-8), so a decoded message counts only if it survives a binary round trip, as a
// request through gRPC would. Returns false when the rest does not decode (`out` is
// then unspecified). Silences protobuf's log (its complaints about such strings).
inline bool ParseMessageInput(std::string_view input, google::protobuf::Message* out) {
  static const bool kQuiet = (google::protobuf::SetLogHandler(nullptr), true);
  (void)kQuiet;
  if (input.empty()) return false;
  const unsigned char encoding = static_cast<unsigned char>(input.front());
  input.remove_prefix(1);
  bool decoded = false;
  switch (encoding == 'b' ? 0 : encoding == 't' ? 1 : encoding == 'j' ? 2 : encoding % 3) {
    case 0:
      return out->ParseFromArray(input.data(), static_cast<int>(input.size()));
    case 1: {
      // Syntax errors are expected by the thousand: not reported.
      class Quiet : public google::protobuf::io::ErrorCollector {
        void AddError(int, int, const std::string&) override {}
      } quiet;
      google::protobuf::TextFormat::Parser parser;
      parser.RecordErrorsTo(&quiet);
      decoded = parser.ParseFromString(std::string(input), out);
      break;
    }
    default:
      decoded = ProtoFromJson(input, out).ok();
      break;
  }
  std::string wire;
  return decoded && out->SerializeToString(&wire) && out->ParseFromString(wire);
}

}  // namespace fsb::fuzz

#endif  // FSB_TESTS_FUZZ_PROTO_INPUT_H_
