// Unit tests for core/repo/backup_files: a file into a PosixStorage and back, with its length, sha256,
// mode and mtime; damage and mismatches are refused and leave nothing behind.
#include "core/repo/backup_files.h"

#include "core/codec/sha256.h"
#include "core/storage/posix/posix_storage.h"
#include "test/unit/test_support.h"

#include <sys/stat.h>

namespace walvault {
namespace {

using test::TempDir;

class BackupFiles : public ::testing::Test {
protected:
    BackupFile store(const std::string& rel, const std::vector<uint8_t>& data, const std::string& compression)
    {
        test::write_file(m_src / rel, data);
        BackupFile f;
        f.path = rel;
        f.mode = 0640;
        f.mtime = 1790000000;
        const Status s = store_backup_file(
            m_storage, m_encoder, *Compression::parse(compression, nullptr), key(rel), m_src / rel, f);
        EXPECT_TRUE(s.is_ok()) << s.message();
        return f;
    }
    std::string key(const std::string& rel) { return backup_file_key("b1", rel); }

    TempDir m_src;
    TempDir m_dst;
    TempDir m_repo_dir;
    PosixStorage m_storage{m_repo_dir / "repo"};
    Encoder m_encoder;
};

TEST_F(BackupFiles, RoundTripKeepsBytesModeAndTime)
{
    for (const char* compression : {"zstd:3", "none"}) {
        const std::string rel = std::string("rel_") + (compression[0] == 'z' ? "z" : "n");
        const auto data = test::random_bytes(3 * 1024 * 1024 + 17, 7);
        const BackupFile f = store(rel, data, compression);
        EXPECT_EQ(f.size, data.size());
        EXPECT_EQ(f.sha256, sha256_hex(data.data(), data.size()));
        ObjectInfo info;
        WV_ASSERT_OK(m_storage.head(key(rel), info));
        EXPECT_EQ(f.stored_size, info.size);

        const std::string dest = m_dst / rel;
        WV_ASSERT_OK(restore_backup_file(m_storage, key(rel), dest, f));
        EXPECT_EQ(test::read_file(dest), data);
        struct stat st;
        ASSERT_EQ(::stat(dest.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 07777, 0640u);
        EXPECT_EQ(st.st_mtime, 1790000000);
    }
}

TEST_F(BackupFiles, EmptyFile)
{
    const BackupFile f = store("empty", {}, "zstd:3");
    EXPECT_EQ(f.size, 0u);
    WV_ASSERT_OK(restore_backup_file(m_storage, key("empty"), m_dst / "empty", f));
    EXPECT_TRUE(test::read_file(m_dst / "empty").empty());
}

TEST_F(BackupFiles, VanishedFileIsNotFound)
{
    BackupFile f;
    f.path = "gone";
    EXPECT_EQ(
        store_backup_file(m_storage, m_encoder, Compression{}, key("gone"), m_src / "gone", f).code(), Code::not_found);
    std::vector<ObjectInfo> listed;
    WV_ASSERT_OK(m_storage.list("", listed));
    EXPECT_TRUE(listed.empty());
}

TEST_F(BackupFiles, MismatchWithTheManifestIsCorruptAndLeavesNothing)
{
    const BackupFile good = store("f", test::compressible_bytes(100000), "zstd:3");
    struct Case {
        const char* what;
        BackupFile entry;
    };
    BackupFile wrong_sha = good, wrong_size = good, wrong_name = good;
    wrong_sha.sha256 = std::string(64, '0');
    wrong_size.size += 1;
    wrong_name.path = "g";
    for (const Case& c : {Case{"sha256", wrong_sha}, Case{"size", wrong_size}, Case{"name", wrong_name}}) {
        const std::string dest = m_dst / "f";
        const Status s = restore_backup_file(m_storage, key("f"), dest, c.entry);
        EXPECT_EQ(s.code(), Code::corrupt) << c.what;
        EXPECT_NE(s.message().find("the manifest expects"), std::string::npos) << s.message();
        EXPECT_FALSE(test::file_exists(dest)) << c.what;
    }
}

TEST_F(BackupFiles, DamagedOrMissingObjectIsCorrupt)
{
    const BackupFile f = store("f", test::random_bytes(200000, 3), "zstd:3");
    const std::string object = m_storage.location(key("f"));
    auto bytes = test::read_file(object);
    bytes[bytes.size() / 2] ^= 0x55;
    ::chmod(object.c_str(), 0600);
    test::write_file(object, bytes);
    Status s = restore_backup_file(m_storage, key("f"), m_dst / "f", f);
    EXPECT_EQ(s.code(), Code::corrupt) << s.message();
    EXPECT_FALSE(test::file_exists(m_dst / "f"));

    s = restore_backup_file(m_storage, key("absent"), m_dst / "absent", f);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_NE(s.message().find("is missing"), std::string::npos) << s.message();
    EXPECT_FALSE(test::file_exists(m_dst / "absent"));
}

TEST_F(BackupFiles, ExistingDestinationIsNotOverwritten)
{
    const BackupFile f = store("f", test::compressible_bytes(1000), "zstd:3");
    test::write_file(m_dst / "f", std::string("keep me"));
    const Status s = restore_backup_file(m_storage, key("f"), m_dst / "f", f);
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(test::to_string(test::read_file(m_dst / "f")), "keep me");
}

}  // namespace
}  // namespace walvault
