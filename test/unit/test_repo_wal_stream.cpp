// Unit tests for core/repo/wal_stream: streamed prefixes of a segment in a temporary PosixStorage (written
// create-only, the same bytes again is success, other bytes a conflict, the shorter ones removed), and the
// receive state objects (newest per slot, older ones removed).
#include "core/repo/wal_stream.h"

#include "core/codec/age.h"
#include "core/repo/layout.h"
#include "core/repo/object_io.h"
#include "core/storage/posix/posix_storage.h"
#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace walvault {
namespace {

using test::TempDir;

class WalStream : public ::testing::Test {
protected:
    TempDir m_dir;
    PosixStorage m_storage{m_dir.path()};
    Encoder m_encoder;
    Compression m_zstd;
    WalName m_segment = *parse_wal_name("000000010000000000000003");

    std::vector<std::string> keys(const std::string& prefix)
    {
        std::vector<ObjectInfo> objects;
        EXPECT_TRUE(m_storage.list(prefix, objects).is_ok());
        std::vector<std::string> out;
        for (const ObjectInfo& o : objects)
            out.push_back(o.key);
        return out;
    }
};

TEST_F(WalStream, PrefixesAreNewKeysAndTheShorterOnesGo)
{
    const std::vector<uint8_t> wal = test::compressible_bytes(64 * 1024);
    ASSERT_TRUE(write_stream_prefix(m_storage, m_encoder, m_zstd, m_segment, wal.data(), 8192).is_ok());
    ASSERT_TRUE(write_stream_prefix(m_storage, m_encoder, m_zstd, m_segment, wal.data(), wal.size()).is_ok());
    std::vector<StreamPrefix> prefixes;
    ASSERT_TRUE(list_stream_prefixes(m_storage, m_segment, prefixes).is_ok());
    ASSERT_EQ(prefixes.size(), 2U);
    EXPECT_EQ(prefixes[0].length, 8192U);
    EXPECT_EQ(prefixes[1].length, wal.size());

    std::vector<uint8_t> decoded;
    ObjectMeta meta;
    ASSERT_TRUE(
        decode_object(m_storage, stream_prefix_key(m_segment, wal.size()), test::vector_sink(decoded), meta).is_ok());
    EXPECT_EQ(decoded, wal);
    EXPECT_EQ(meta.name, "000000010000000000000003.00010000.stream");

    ASSERT_TRUE(remove_stream_prefixes(m_storage, m_segment, wal.size()).is_ok());
    EXPECT_EQ(
        keys("wal/"), (std::vector<std::string>{"wal/0000000100000000/000000010000000000000003.00010000.stream.zst"}));
    ASSERT_TRUE(remove_stream_prefixes(m_storage, m_segment, 0).is_ok());
    EXPECT_TRUE(keys("wal/").empty());
}

// Encrypted, through a PrefixEncoder (the receiver's way): every prefix, before and past complete frames, is an
// age file that decodes with the identity to exactly its bytes, and the same prefix again is success.
TEST_F(WalStream, EncryptedIncrementalPrefixesDecodeWithTheIdentity)
{
    AgeIdentity id;
    WV_ASSERT_OK(age_generate_identity(id));
    AgeEncryptStage cipher({age_recipient_of(id)});
    m_encoder.set_stage(&cipher);
    set_object_identities({id});
    PrefixEncoder incremental(k_probe_bytes);  // small frames: several are complete
    const std::vector<uint8_t> wal = test::compressible_bytes(100 * 1024);
    for (const size_t len : {size_t{8192}, size_t{40000}, size_t{2 * k_probe_bytes}, wal.size()}) {
        SCOPED_TRACE("prefix of " + std::to_string(len) + " bytes");
        WV_ASSERT_OK(write_stream_prefix(m_storage, m_encoder, m_zstd, m_segment, wal.data(), len, &incremental));
        const std::string key = stream_prefix_key(m_segment, len);
        const std::vector<uint8_t> stored = test::read_file(m_dir.path() + "/" + key);
        EXPECT_TRUE(looks_like_age(stored.data(), stored.size()));
        std::vector<uint8_t> decoded;
        ObjectMeta meta;
        WV_ASSERT_OK(decode_object(m_storage, key, test::vector_sink(decoded), meta));
        EXPECT_EQ(decoded, std::vector<uint8_t>(wal.begin(), wal.begin() + static_cast<std::ptrdiff_t>(len)));
        EXPECT_EQ(meta.name, stream_prefix_name(m_segment, len));
        WV_ASSERT_OK(write_stream_prefix(m_storage, m_encoder, m_zstd, m_segment, wal.data(), len, &incremental));
        EXPECT_EQ(test::read_file(m_dir.path() + "/" + key), stored);
    }
    m_encoder.set_stage(nullptr);
    set_object_identities({});
}

TEST_F(WalStream, SamePrefixAgainIsSuccessOtherBytesAConflict)
{
    std::vector<uint8_t> wal = test::compressible_bytes(16 * 1024);
    ASSERT_TRUE(write_stream_prefix(m_storage, m_encoder, m_zstd, m_segment, wal.data(), wal.size()).is_ok());
    ASSERT_TRUE(write_stream_prefix(m_storage, m_encoder, m_zstd, m_segment, wal.data(), wal.size()).is_ok());
    wal[100] ^= 1;
    const Status s = write_stream_prefix(m_storage, m_encoder, m_zstd, m_segment, wal.data(), wal.size());
    EXPECT_EQ(s.code(), Code::conflict);
    EXPECT_NE(s.message().find("000000010000000000000003.00004000.stream\" is already in the repository with "
                               "different content"),
        std::string::npos)
        << s.message();
}

TEST_F(WalStream, OtherObjectsOfTheSegmentAreNoPrefixes)
{
    const std::vector<uint8_t> wal = test::compressible_bytes(4096);
    for (const char* key : {"wal/0000000100000000/000000010000000000000003.partial.zst",
             "wal/0000000100000000/000000010000000000000003.00000028.backup.zst",
             "wal/0000000100000000/000000010000000000000003.zst",
             "wal/0000000100000000/000000010000000000000030.00001000.stream.zst"}) {
        std::filesystem::create_directories(std::filesystem::path(m_dir / key).parent_path());
        test::write_file(m_dir / key, wal);
    }
    std::vector<StreamPrefix> prefixes;
    ASSERT_TRUE(list_stream_prefixes(m_storage, m_segment, prefixes).is_ok());
    EXPECT_TRUE(prefixes.empty());
}

TEST_F(WalStream, ReceiveStateNewestWinsAndOlderAreRemoved)
{
    ReceiveState state;
    state.slot = "walvault";
    state.system_identifier = 7412345678901234567ULL;
    state.timeline = 2;
    state.received_lsn = 0x3001000;
    state.flushed_lsn = 0x3000800;
    state.server_lsn = 0x3002000;
    state.segment = "000000020000000000000003";
    state.updated = 1796592608;
    state.host = "db1";
    state.pid = 42;
    ASSERT_TRUE(write_receive_state(m_storage, state, 1000).is_ok());
    state.flushed_lsn = 0x3001000;
    ASSERT_TRUE(write_receive_state(m_storage, state, 2000).is_ok());
    EXPECT_EQ(keys("receive/"), (std::vector<std::string>{"receive/walvault/state.000000000002000.json"}));
    std::vector<ReceiveState> states;
    ASSERT_TRUE(read_receive_states(m_storage, states).is_ok());
    ASSERT_EQ(states.size(), 1U);
    EXPECT_EQ(states[0].slot, "walvault");
    EXPECT_EQ(states[0].system_identifier, 7412345678901234567ULL);
    EXPECT_EQ(states[0].timeline, 2U);
    EXPECT_EQ(states[0].received_lsn, 0x3001000U);
    EXPECT_EQ(states[0].flushed_lsn, 0x3001000U);
    EXPECT_EQ(states[0].server_lsn, 0x3002000U);
    EXPECT_EQ(states[0].segment, "000000020000000000000003");
    EXPECT_EQ(states[0].host, "db1");
    EXPECT_EQ(states[0].pid, 42);
}

TEST_F(WalStream, RemovingAReceiveStateLeavesOtherSlots)
{
    ReceiveState state;
    state.slot = "old";
    ASSERT_TRUE(write_receive_state(m_storage, state, 1000).is_ok());
    state.slot = "kept";
    ASSERT_TRUE(write_receive_state(m_storage, state, 1500).is_ok());
    size_t removed = 9;
    ASSERT_TRUE(remove_receive_states(m_storage, "old", removed).is_ok());
    EXPECT_EQ(removed, 1U);
    EXPECT_EQ(keys("receive/"), (std::vector<std::string>{"receive/kept/state.000000000001500.json"}));
    ASSERT_TRUE(remove_receive_states(m_storage, "old", removed).is_ok());
    EXPECT_EQ(removed, 0U);
}

TEST(ReceiveStateJson, DamagedIsCorrupt)
{
    ReceiveState out;
    EXPECT_EQ(receive_state_from_json("{", out).code(), Code::corrupt);
    EXPECT_EQ(receive_state_from_json(R"({"format": 9})", out).code(), Code::corrupt);
}

}  // namespace
}  // namespace walvault
