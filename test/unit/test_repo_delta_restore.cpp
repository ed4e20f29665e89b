// Unit tests for core/repo/delta_restore: the plan (which files are compared, written whole or removed), the
// chunk comparison for backups with chunk lists, with a whole-file xxh3 only and with a sha256 only (older
// backups), and a local file brought back to a stored one by rewriting only the chunks that differ.
#include "core/repo/delta_restore.h"

#include "core/codec/xxh3.h"
#include "core/repo/backup_files.h"
#include "core/repo/layout.h"
#include "core/storage/posix/posix_storage.h"
#include "test/unit/test_support.h"

#include <sys/stat.h>

namespace walvault {
namespace {

using test::TempDir;
using Type = LocalEntry::Type;

BackupFile file(const std::string& path, uint64_t size, size_t parts = 0)
{
    BackupFile f;
    f.path = path;
    f.size = size;
    for (size_t i = 0; i < parts; i++)
        f.parts.push_back({i * (size / parts), size / parts, "", 0, "", {}});
    return f;
}

TEST(DeltaPlan, ComparesWritesAndRemoves)
{
    BackupManifest m;
    m.directories = {{"base", 0700}, {"base/1", 0700}, {"global", 0700}, {"pg_wal", 0700}};
    m.files = {file("PG_VERSION", 3), file("base/1/100", 8192), file("base/1/200", 3 * 1048576, 3),
        file("base/1/300", 16384), file("base/1/400", 8192), file("global/pg_control", 8192),
        file("postgresql.auto.conf", 88)};
    const std::vector<LocalEntry> local = {
        {Type::file, "PG_VERSION", 3},            // same size: compare
        {Type::directory, "base", 0},             // kept
        {Type::directory, "base/1", 0},           // kept
        {Type::file, "base/1/100", 16384},        // one object, another size: write whole
        {Type::file, "base/1/200", 5 * 1048576},  // in parts, another size: compare part by part
        {Type::file, "base/1/300_fsm", 24576},    // not in the backup: removed
        {Type::directory, "base/1/400", 0},       // a directory where the backup has a file: removed, written
        {Type::file, "base/1/400/x", 1},          // goes with its directory
        {Type::directory, "base/5", 0},           // a database the backup does not have: removed whole
        {Type::file, "base/5/1259", 8192},        // goes with it
        {Type::file, "backup_label", 200},        // restore writes it: kept
        {Type::directory, "global", 0}, {Type::file, "global/pg_control", 8192},  // written last by the caller: in keep
        {Type::file, "pg_wal", 0},                 // a file where the backup has a directory: removed
        {Type::other, "postgresql.auto.conf", 0},  // a symbolic link where the backup has a file: removed, written
        {Type::file, "postmaster.opts", 40},       // not in the backup: removed
    };
    const DeltaPlan plan = plan_delta(m, local, {"backup_label", "global/pg_control"});
    EXPECT_EQ(plan.compare, (std::vector<size_t>{0, 2}));
    EXPECT_EQ(plan.write, (std::vector<size_t>{1, 3, 4, 6}));
    EXPECT_EQ(plan.remove,
        (std::vector<std::string>{
            "base/1/300_fsm", "base/1/400", "base/5", "pg_wal", "postgresql.auto.conf", "postmaster.opts"}));
}

TEST(DeltaPlan, EmptyDirectoryWritesEverything)
{
    BackupManifest m;
    m.directories = {{"base", 0700}};
    m.files = {file("PG_VERSION", 3), file("base/x", 0)};
    const DeltaPlan plan = plan_delta(m, {}, {});
    EXPECT_TRUE(plan.compare.empty());
    EXPECT_EQ(plan.write, (std::vector<size_t>{0, 1}));
    EXPECT_TRUE(plan.remove.empty());
}

TEST(DeltaChunks, ChunkListMarksEachChunkThatDiffers)
{
    const std::vector<std::string> backup_chunks = {"a", "b", "c", "d"};
    const std::string sha, xxh3 = "whole";
    const DeltaObject object{0, 3 * k_delta_chunk_bytes + 10, &sha, &xxh3, &backup_chunks};
    LocalObject local;
    local.size = object.size;
    local.chunk_xxh3 = {"a", "x", "c", "d"};
    EXPECT_EQ(chunks_to_rewrite(object, local), (std::vector<bool>{false, true, false, false}));
    local.chunk_xxh3 = {"a", "b", "c", "d"};
    EXPECT_EQ(chunks_to_rewrite(object, local), (std::vector<bool>(4, false)));
    // The local file ends in chunk 2: its last chunk differs, chunk 3 is not there.
    local.chunk_xxh3 = {"a", "b", "c2"};
    EXPECT_EQ(chunks_to_rewrite(object, local), (std::vector<bool>{false, false, true, true}));
    local.chunk_xxh3.clear();  // nothing there
    EXPECT_EQ(chunks_to_rewrite(object, local), (std::vector<bool>(4, true)));
}

TEST(DeltaChunks, WithoutChunkListTheWholeObjectDecides)
{
    const std::string sha = "s1", xxh3 = "x1", none;
    const std::vector<std::string> no_chunks;
    const DeltaObject fast{0, 2 * k_delta_chunk_bytes, &sha, &xxh3, &no_chunks};
    LocalObject local;
    local.size = fast.size;
    local.xxh3_128 = "x1";
    EXPECT_EQ(chunks_to_rewrite(fast, local), (std::vector<bool>(2, false)));
    local.xxh3_128 = "x2";
    EXPECT_EQ(chunks_to_rewrite(fast, local), (std::vector<bool>(2, true)));
    local.xxh3_128 = "x1";
    local.size = fast.size - 1;  // the same checksum cannot make up for another length
    EXPECT_EQ(chunks_to_rewrite(fast, local), (std::vector<bool>(2, true)));

    // A backup written before fast checksums: its sha256 decides.
    const DeltaObject old{0, 100, &sha, &none, &no_chunks};
    LocalObject old_local;
    old_local.size = 100;
    old_local.sha256 = "s1";
    EXPECT_EQ(chunks_to_rewrite(old, old_local), (std::vector<bool>{false}));
    old_local.sha256 = "s2";
    EXPECT_EQ(chunks_to_rewrite(old, old_local), (std::vector<bool>{true}));
    EXPECT_EQ(delta_chunk_count(0), 0u);
    EXPECT_EQ(delta_chunk_count(1), 1u);
    EXPECT_EQ(delta_chunk_count(k_delta_chunk_bytes), 1u);
    EXPECT_EQ(delta_chunk_count(k_delta_chunk_bytes + 1), 2u);
}

class DeltaFiles : public ::testing::Test {
protected:
    TempDir m_src;
    TempDir m_dst;
    TempDir m_repo_dir;
    PosixStorage m_storage{m_repo_dir / "repo"};
    Encoder m_encoder;
};

// A stored file records one xxh3 per MiB; a local copy with one chunk changed and a tail appended is hashed,
// only the changed chunk is rewritten, and the bytes written are exactly the backup's.
TEST_F(DeltaFiles, RewritesOnlyTheChunksThatDiffer)
{
    const auto data = test::random_bytes(3 * k_delta_chunk_bytes + 4000, 3);
    test::write_file(m_src / "rel", data);
    BackupFile f;
    f.path = "rel";
    const std::string key = backup_file_key("b1", "rel");
    WV_ASSERT_OK(store_backup_file(m_storage, m_encoder, Compression{}, key, m_src / "rel", f));
    ASSERT_EQ(f.chunk_xxh3.size(), 4u);
    EXPECT_EQ(f.chunk_xxh3[1], xxh3_128_hex(data.data() + k_delta_chunk_bytes, k_delta_chunk_bytes));
    EXPECT_EQ(f.xxh3_128, xxh3_128_hex(data.data(), data.size()));

    auto local = data;
    local[k_delta_chunk_bytes + 17] ^= 1;
    local.insert(local.end(), 5000, 'z');  // the file grew after the backup
    const std::string dest = m_dst / "rel";
    test::write_file(dest, local);
    LocalObject hashed;
    WV_ASSERT_OK(hash_local_object(dest, delta_object(f, std::nullopt), false, hashed));
    EXPECT_EQ(hashed.size, data.size());  // never read past the object's end
    const std::vector<bool> rewrite = chunks_to_rewrite(delta_object(f, std::nullopt), hashed);
    EXPECT_EQ(rewrite, (std::vector<bool>{false, true, false, false}));

    // Mark chunk 0 on the disk: a chunk not rewritten stays as it is.
    local[0] ^= 1;
    test::write_file(dest, local);
    WV_ASSERT_OK(patch_backup_object(m_storage, key, f, std::nullopt, dest, rewrite, nullptr));
    auto expect = data;
    expect[0] ^= 1;
    expect.insert(expect.end(), 5000, 'z');  // the caller sets the length
    EXPECT_EQ(test::read_file(dest), expect);
}

// A backup from before fast checksums were recorded: the local file is compared by its sha256, and an object
// that differs is rewritten whole.
TEST_F(DeltaFiles, OlderBackupsAreComparedBySha256)
{
    const auto data = test::random_bytes(2 * k_delta_chunk_bytes + 500, 5);
    test::write_file(m_src / "rel", data);
    BackupFile f;
    f.path = "rel";
    const std::string key = backup_file_key("b1", "rel");
    WV_ASSERT_OK(store_backup_file(m_storage, m_encoder, Compression{}, key, m_src / "rel", f));
    f.xxh3_128.clear();
    f.chunk_xxh3.clear();
    const std::string dest = m_dst / "rel";
    test::write_file(dest, data);
    LocalObject hashed;
    WV_ASSERT_OK(hash_local_object(dest, delta_object(f, std::nullopt), false, hashed));
    EXPECT_EQ(hashed.sha256, f.sha256);
    EXPECT_EQ(chunks_to_rewrite(delta_object(f, std::nullopt), hashed), (std::vector<bool>(3, false)));

    auto local = data;
    local[2 * k_delta_chunk_bytes + 3] ^= 1;
    test::write_file(dest, local);
    WV_ASSERT_OK(hash_local_object(dest, delta_object(f, std::nullopt), false, hashed));
    const std::vector<bool> rewrite = chunks_to_rewrite(delta_object(f, std::nullopt), hashed);
    EXPECT_EQ(rewrite, (std::vector<bool>(3, true)));
    WV_ASSERT_OK(patch_backup_object(m_storage, key, f, std::nullopt, dest, rewrite, nullptr));
    EXPECT_EQ(test::read_file(dest), data);
}

TEST_F(DeltaFiles, WritesAPartIntoAFileThatIsNotThere)
{
    const auto data = test::random_bytes(2 * k_delta_chunk_bytes + 99, 4);
    test::write_file(m_src / "rel", data);
    BackupPart part;
    const std::string key = backup_file_key("b1", "rel");
    WV_ASSERT_OK(store_backup_range(m_storage, m_encoder, Compression{}, backup_part_key(key, 1), m_src / "rel", "rel",
        k_delta_chunk_bytes, 0, part));
    ASSERT_EQ(part.chunk_xxh3.size(), 2u);
    BackupFile f;
    f.path = "rel";
    f.size = data.size();
    f.parts = {{0, k_delta_chunk_bytes, "", 0, "", {}}, part};
    const std::string dest = m_dst / "rel";
    LocalObject hashed;
    WV_ASSERT_OK(hash_local_object(dest, delta_object(f, 1), true, hashed));  // absent: nothing read
    EXPECT_EQ(hashed.size, 0u);
    const std::vector<bool> rewrite = chunks_to_rewrite(delta_object(f, 1), hashed);
    EXPECT_EQ(rewrite, (std::vector<bool>{true, true}));
    uint32_t crc = 0;
    WV_ASSERT_OK(patch_backup_object(m_storage, key, f, 1, dest, rewrite, &crc));
    const auto back = test::read_file(dest);
    ASSERT_EQ(back.size(), data.size());
    EXPECT_TRUE(std::equal(back.begin() + k_delta_chunk_bytes, back.end(), data.begin() + k_delta_chunk_bytes));

    // A part whose object holds other bytes than the manifest says is refused, naming the object.
    f.parts[1].sha256 = std::string(64, '0');
    const Status s = patch_backup_object(m_storage, key, f, 1, dest, rewrite, nullptr);
    EXPECT_EQ(s.code(), Code::corrupt) << s.message();
    EXPECT_NE(s.message().find(".zst.1"), std::string::npos) << s.message();
}

TEST_F(DeltaFiles, ListsADataDirectoryThroughTablespaceLinksOnly)
{
    test::write_file(m_dst / "PG_VERSION", "15\n");
    ASSERT_EQ(::mkdir((m_dst / "base").c_str(), 0700), 0);
    test::write_file(m_dst / "base/1", "x");
    ASSERT_EQ(::mkdir((m_dst / "pg_tblspc").c_str(), 0700), 0);
    ASSERT_EQ(::mkdir((m_src / "PG_15_1").c_str(), 0700), 0);
    ASSERT_EQ(::mkdir((m_src / "PG_16_2").c_str(), 0700), 0);  // another server's: not walked
    test::write_file(m_src / "PG_15_1/f", "abc");
    test::write_file(m_src / "PG_16_2/g", "abc");
    ASSERT_EQ(::symlink(m_src.path().c_str(), (m_dst / "pg_tblspc/16385").c_str()), 0);
    ASSERT_EQ(::symlink("/nonexistent", (m_dst / "stray_link").c_str()), 0);
    std::vector<LocalEntry> out;
    WV_ASSERT_OK(list_local_directory(m_dst.path(), {{"pg_tblspc/16385", "PG_15_1"}}, out));
    std::vector<std::string> seen;
    for (const LocalEntry& e : out)
        seen.push_back(e.path + ":" + std::to_string(static_cast<int>(e.type)) + ":" + std::to_string(e.size));
    EXPECT_EQ(seen,
        (std::vector<std::string>{"PG_VERSION:0:3", "base:1:0", "base/1:0:1", "pg_tblspc:1:0", "pg_tblspc/16385:2:0",
            "pg_tblspc/16385/PG_15_1:1:0", "pg_tblspc/16385/PG_15_1/f:0:3", "stray_link:2:0"}));
}

}  // namespace
}  // namespace walvault
