#include "agent/image/tar.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fsb::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Builds tar archives in memory, header by header.
class TarWriter {
 public:
  // A ustar header; `prefix` goes to the POSIX prefix field.
  void Header(const std::string& name, char type, int64_t size, const std::string& prefix = "",
              bool base256_size = false) {
    char h[512] = {};
    memcpy(h, name.data(), std::min<size_t>(name.size(), 100));
    snprintf(h + 100, 8, "%07o", 0644);
    snprintf(h + 108, 8, "%07o", 0);
    snprintf(h + 116, 8, "%07o", 0);
    if (base256_size) {
      h[124] = static_cast<char>(0x80);
      for (int i = 0; i < 8; ++i) h[135 - i] = static_cast<char>((size >> (8 * i)) & 0xff);
    } else {
      snprintf(h + 124, 12, "%011llo", static_cast<unsigned long long>(size));
    }
    snprintf(h + 136, 12, "%011o", 0);
    h[156] = type;
    memcpy(h + 257,
           "ustar\0"
           "00",
           8);
    memcpy(h + 345, prefix.data(), std::min<size_t>(prefix.size(), 155));
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : h) sum += c;
    snprintf(h + 148, 8, "%06o", sum);
    out_.append(h, 512);
  }
  void Data(const std::string& data) {
    out_ += data;
    out_.append((512 - data.size() % 512) % 512, '\0');
  }
  void File(const std::string& name, const std::string& data) {
    Header(name, '0', static_cast<int64_t>(data.size()));
    Data(data);
  }
  // A PAX extended header with one record.
  void Pax(const std::string& key, const std::string& value) {
    const std::string body = absl::StrCat(" ", key, "=", value, "\n");
    size_t length = body.size() + 1;
    while (absl::StrCat(length).size() + body.size() != length) ++length;
    const std::string record = absl::StrCat(length, body);
    Header("PaxHeaders/x", 'x', static_cast<int64_t>(record.size()));
    Data(record);
  }
  void GnuLongName(const std::string& name) {
    Header("././@LongLink", 'L', static_cast<int64_t>(name.size() + 1));
    Data(name + '\0');
  }
  void End() { out_.append(1024, '\0'); }
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

// A ChunkSource over `bytes` in chunks of `chunk` bytes.
ChunkSource Chunked(const std::string& bytes, size_t chunk) {
  auto pos = std::make_shared<size_t>(0);
  return [bytes, chunk, pos](std::string* out) {
    if (*pos >= bytes.size()) return false;
    *out = bytes.substr(*pos, chunk);
    *pos += out->size();
    return true;
  };
}

struct Member {
  std::string path;
  TarEntry::Type type;
  std::string data;
  bool operator==(const Member&) const = default;
};

void PrintTo(const Member& m, std::ostream* os) {
  *os << "{" << m.path << ", type " << static_cast<int>(m.type) << ", " << m.data.size()
      << " bytes}";
}

absl::StatusOr<std::vector<Member>> ReadAllMembers(TarReader& reader, size_t piece = 3) {
  std::vector<Member> out;
  for (;;) {
    absl::StatusOr<std::optional<TarEntry>> entry = reader.Next();
    if (!entry.ok()) return entry.status();
    if (!entry->has_value()) return out;
    Member m{(*entry)->path, (*entry)->type, ""};
    for (;;) {
      absl::StatusOr<std::string_view> data = reader.Read(piece);
      if (!data.ok()) return data.status();
      if (data->empty()) break;
      m.data.append(*data);
    }
    EXPECT_EQ(static_cast<int64_t>(m.data.size()), (*entry)->size) << m.path;
    out.push_back(std::move(m));
  }
}

std::string LongName() {
  // 175 bytes; every directory level fits ustar's prefix/name split.
  return absl::StrCat("blobs/sha256/", std::string(60, 'a'), "/", std::string(60, 'c'), "/",
                      std::string(40, 'b'));
}

TEST(TarReaderTest, ReadsMembersWhateverTheChunking) {
  TarWriter tar;
  tar.File("./oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
  tar.Header("blobs/", '5', 0);
  tar.File("blobs/sha256/big", std::string(1500, 'x'));
  tar.Header("link", '2', 0);
  tar.File("empty", "");
  tar.End();
  const std::vector<Member> want = {
      {"oci-layout", TarEntry::Type::kFile, "{\"imageLayoutVersion\":\"1.0.0\"}"},
      {"blobs", TarEntry::Type::kDirectory, ""},
      {"blobs/sha256/big", TarEntry::Type::kFile, std::string(1500, 'x')},
      {"link", TarEntry::Type::kSymlink, ""},
      {"empty", TarEntry::Type::kFile, ""},
  };
  for (size_t chunk : {size_t{1}, size_t{7}, size_t{512}, size_t{100000}}) {
    TarReader reader(Chunked(tar.bytes(), chunk));
    absl::StatusOr<std::vector<Member>> members = ReadAllMembers(reader);
    ASSERT_TRUE(members.ok()) << members.status();
    EXPECT_EQ(*members, want) << "chunk " << chunk;
  }
}

TEST(TarReaderTest, NextSkipsUnreadData) {
  TarWriter tar;
  tar.File("a", std::string(2000, 'a'));
  tar.File("b", "bee");
  tar.End();
  TarReader reader(Chunked(tar.bytes(), 333));
  ASSERT_EQ((*reader.Next())->path, "a");
  ASSERT_EQ(reader.Read(10)->size(), 10u);
  absl::StatusOr<std::optional<TarEntry>> b = reader.Next();
  ASSERT_TRUE(b.ok() && b->has_value()) << b.status();
  EXPECT_EQ((*b)->path, "b");
  EXPECT_EQ(*reader.ReadAll(100, "b"), "bee");
  EXPECT_FALSE(reader.Next()->has_value());
  EXPECT_FALSE(reader.Next()->has_value());  // stays at the end
}

TEST(TarReaderTest, LongNamesFromGnuPaxAndUstarPrefix) {
  const std::string long_name = LongName();
  TarWriter tar;
  tar.GnuLongName(long_name);
  tar.File(long_name.substr(0, 100), "gnu");
  tar.Pax("path", long_name + "-pax");
  tar.File("truncated", "pax");
  tar.Header("name-part", '0', 6, "some/prefix/dir");
  tar.Data("prefix");
  tar.End();
  TarReader reader(Chunked(tar.bytes(), 64));
  absl::StatusOr<std::vector<Member>> members = ReadAllMembers(reader);
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_THAT(*members,
              ElementsAre(Member{long_name, TarEntry::Type::kFile, "gnu"},
                          Member{long_name + "-pax", TarEntry::Type::kFile, "pax"},
                          Member{"some/prefix/dir/name-part", TarEntry::Type::kFile, "prefix"}));
}

TEST(TarReaderTest, PaxSizeAndBase256SizeOverrideTheOctalField) {
  TarWriter tar;
  tar.Pax("size", "5");
  tar.Header("paxsize", '0', 0);
  tar.Data("12345");
  tar.Header("b256", '0', 4, "", /*base256_size=*/true);
  tar.Data("abcd");
  tar.End();
  TarReader reader(Chunked(tar.bytes(), 100));
  absl::StatusOr<std::vector<Member>> members = ReadAllMembers(reader);
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_THAT(*members, ElementsAre(Member{"paxsize", TarEntry::Type::kFile, "12345"},
                                    Member{"b256", TarEntry::Type::kFile, "abcd"}));
}

TEST(TarReaderTest, StreamEndingAtAMemberBoundaryIsTheEnd) {
  TarWriter tar;
  tar.File("only", "x");  // no closing zero blocks
  TarReader reader(Chunked(tar.bytes(), 512));
  absl::StatusOr<std::vector<Member>> members = ReadAllMembers(reader);
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_EQ(members->size(), 1u);
}

TEST(TarReaderTest, RejectsWhatIsNotATarArchive) {
  TarReader garbage(Chunked(std::string(1024, 'z'), 100));
  absl::StatusOr<std::optional<TarEntry>> entry = garbage.Next();
  EXPECT_TRUE(absl::IsInvalidArgument(entry.status())) << entry.status();
  EXPECT_THAT(entry.status().message(), HasSubstr("checksum"));

  TarReader short_input(Chunked("not a tar", 100));
  EXPECT_TRUE(absl::IsInvalidArgument(short_input.Next().status()));
}

TEST(TarReaderTest, RejectsAnArchiveCutInsideAMember) {
  TarWriter tar;
  tar.File("cut", std::string(1000, 'c'));
  std::string bytes = tar.bytes().substr(0, 512 + 600);
  TarReader reader(Chunked(bytes, 256));
  ASSERT_TRUE(reader.Next().ok());
  absl::StatusOr<std::string> all = reader.ReadAll(4096, "cut");
  EXPECT_TRUE(absl::IsInvalidArgument(all.status())) << all.status();
  EXPECT_THAT(all.status().message(), HasSubstr("ends inside a member"));
}

TEST(TarReaderTest, ReadAllRefusesMembersOverTheLimit) {
  TarWriter tar;
  tar.File("index.json", std::string(100, '{'));
  tar.End();
  TarReader reader(Chunked(tar.bytes(), 4096));
  ASSERT_TRUE(reader.Next().ok());
  absl::StatusOr<std::string> all = reader.ReadAll(99, "index.json");
  EXPECT_TRUE(absl::IsInvalidArgument(all.status())) << all.status();
  EXPECT_THAT(all.status().message(), HasSubstr("index.json is larger than 99 bytes"));
}

// GNU tar's own output, in each of its long-name encodings.
TEST(TarReaderTest, ReadsGnuTarOutput) {
  if (access("/bin/tar", X_OK) != 0) GTEST_SKIP() << "needs /bin/tar";
  char tmpl[] = "/tmp/fsb-tar-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string long_name = LongName();
  std::filesystem::create_directories(
      std::filesystem::path(dir + "/src/" + long_name).parent_path());
  std::ofstream(dir + "/src/" + long_name) << "long";
  for (const char* format : {"gnu", "pax", "ustar"}) {
    const std::string archive = absl::StrCat(dir, "/", format, ".tar");
    const std::string cmd = absl::StrCat("/bin/tar --format=", format, " -C ", dir, "/src -cf ",
                                         archive, " . 2>/dev/null");
    // ustar splits the name into its prefix and name fields.
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream in(archive, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    TarReader reader(Chunked(bytes.str(), 1000));
    absl::StatusOr<std::vector<Member>> members = ReadAllMembers(reader, 1 << 20);
    ASSERT_TRUE(members.ok()) << format << ": " << members.status();
    EXPECT_THAT(*members, ::testing::Contains(Member{long_name, TarEntry::Type::kFile, "long"}))
        << format;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fsb::agent
