// Unit tests for core/codec/crc32c: the CRC-32C check value and RFC 3720's test patterns, extending in
// pieces, combining parts, and the manifest's spelling (pg_verifybackup accepting it is tested in
// test_pgdata_pg_backup_manifest.cpp).
#include "core/codec/crc32c.h"

#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace walvault {
namespace {

uint32_t crc_of(const std::vector<uint8_t>& data)
{
    return crc32c_extend(0, data.data(), data.size());
}

TEST(Crc32c, KnownValues)
{
    ASSERT_TRUE(crc32c_available()) << "this x86-64 machine has SSE4.2";
    EXPECT_EQ(crc_of(test::to_bytes("123456789")), 0xe3069283u);
    EXPECT_EQ(crc_of({}), 0u);
    // RFC 3720, B.4: 32 bytes of zeros, of ones, and ascending 0..31.
    std::vector<uint8_t> ascending(32);
    for (size_t i = 0; i < ascending.size(); i++)
        ascending[i] = static_cast<uint8_t>(i);
    EXPECT_EQ(crc_of(std::vector<uint8_t>(32, 0x00)), 0x8a9136aau);
    EXPECT_EQ(crc_of(std::vector<uint8_t>(32, 0xff)), 0x62a8ab43u);
    EXPECT_EQ(crc_of(ascending), 0x46dd794eu);
}

TEST(Crc32c, ExtendAndConcatEqualOnePass)
{
    ASSERT_TRUE(crc32c_available());
    const std::vector<uint8_t> data = test::random_bytes(1000003, 11);
    const uint32_t one_pass = crc_of(data);
    for (size_t chunk : {size_t{1}, size_t{7}, size_t{4096}, size_t{65537}}) {
        uint32_t crc = 0;
        for (size_t at = 0; at < data.size(); at += chunk)
            crc = crc32c_extend(crc, data.data() + at, std::min(chunk, data.size() - at));
        EXPECT_EQ(crc, one_pass) << "chunk " << chunk;
    }
    for (size_t cut : {size_t{0}, size_t{1}, size_t{4096}, size_t{500000}, data.size()}) {
        const uint32_t a = crc32c_extend(0, data.data(), cut);
        const uint32_t b = crc32c_extend(0, data.data() + cut, data.size() - cut);
        EXPECT_EQ(crc32c_concat(a, b, data.size() - cut), one_pass) << "cut at " << cut;
    }
}

TEST(Crc32c, ManifestSpellingIsMemoryOrder)
{
    EXPECT_EQ(crc32c_manifest_hex(0xe3069283u), "839206e3");
    EXPECT_EQ(crc32c_manifest_hex(0), "00000000");
    EXPECT_EQ(crc32c_manifest_hex(0x0000000fu), "0f000000");
}

}  // namespace
}  // namespace walvault
