// Unit tests for core/codec/sha256: FIPS 180-2 known digests, incremental hashing against one-shot, and
// hashing files (chunked reads, missing files, directories).
#include "core/codec/sha256.h"

#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <string>

namespace walvault {
namespace {

using test::TempDir;

constexpr const char* k_empty_digest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* k_abc_digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* k_two_block_message = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
constexpr const char* k_two_block_digest = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr const char* k_million_a_digest = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

std::string hex_of(const std::string& s)
{
    return sha256_hex(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(Sha256, KnownDigests)
{
    EXPECT_EQ(hex_of(""), k_empty_digest);
    EXPECT_EQ(sha256_hex(nullptr, 0), k_empty_digest);
    EXPECT_EQ(hex_of("abc"), k_abc_digest);
    EXPECT_EQ(hex_of(k_two_block_message), k_two_block_digest);
    EXPECT_EQ(hex_of(std::string(1000000, 'a')), k_million_a_digest);
}

TEST(Sha256, IncrementalEqualsOneShot)
{
    const std::vector<uint8_t> data = test::random_bytes(300000, 7);
    const std::string one_shot = sha256_hex(data.data(), data.size());
    for (size_t chunk : {size_t{1}, size_t{3}, size_t{63}, size_t{64}, size_t{65}, size_t{4099}, size_t{200000}}) {
        Sha256 h;
        for (size_t pos = 0; pos < data.size(); pos += chunk)
            h.update(data.data() + pos, std::min(chunk, data.size() - pos));
        EXPECT_EQ(h.finish_hex(), one_shot) << "chunk " << chunk;
    }
    Sha256 h;
    for (char c : std::string("abc"))
        h.update(reinterpret_cast<const uint8_t*>(&c), 1);
    h.update(nullptr, 0);
    EXPECT_EQ(h.finish_hex(), k_abc_digest);
}

TEST(Sha256, StartsOverAfterFinish)
{
    Sha256 h;
    h.update(reinterpret_cast<const uint8_t*>("xyz"), 3);
    EXPECT_EQ(h.finish_hex(), hex_of("xyz"));
    EXPECT_EQ(h.finish_hex(), k_empty_digest);
    h.update(reinterpret_cast<const uint8_t*>("abc"), 3);
    EXPECT_EQ(h.finish_hex(), k_abc_digest);
}

TEST(Sha256File, HashesFiles)
{
    TempDir dir;
    std::string hex;
    uint64_t length = 99;

    test::write_file(dir / "abc", std::string("abc"));
    WV_ASSERT_OK(sha256_file(dir / "abc", hex, length));
    EXPECT_EQ(hex, k_abc_digest);
    EXPECT_EQ(length, 3u);

    test::write_file(dir / "empty", std::string());
    WV_ASSERT_OK(sha256_file(dir / "empty", hex, length));
    EXPECT_EQ(hex, k_empty_digest);
    EXPECT_EQ(length, 0u);

    // Larger than the read chunk, not a multiple of it.
    const std::vector<uint8_t> big = test::random_bytes(3 * test::k_mib + 17, 11);
    test::write_file(dir / "big", big);
    WV_ASSERT_OK(sha256_file(dir / "big", hex, length));
    EXPECT_EQ(hex, sha256_hex(big.data(), big.size()));
    EXPECT_EQ(length, big.size());
}

TEST(Sha256File, MissingFileIsNotFound)
{
    TempDir dir;
    std::string hex = "unchanged";
    uint64_t length = 0;
    const Status s = sha256_file(dir / "missing", hex, length);
    EXPECT_EQ(s.code(), Code::not_found);
    EXPECT_EQ(s.message().rfind("could not open file \"" + (dir / "missing") + "\": ", 0), 0u) << s.message();
    EXPECT_EQ(hex, "unchanged");
}

TEST(Sha256File, DirectoryIsAnIoError)
{
    TempDir dir;
    std::string hex;
    uint64_t length = 0;
    const Status s = sha256_file(dir.path(), hex, length);
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(s.message().rfind("could not read file \"" + dir.path() + "\": ", 0), 0u) << s.message();
}

}  // namespace
}  // namespace walvault
