// Unit tests for core/repo/backup_delete: which objects delete_backup removes and in which order (manifest,
// data, started.json), what it reports, and what a deletion that stops half way leaves.
#include "core/repo/backup_delete.h"

#include "core/repo/backup_catalog.h"
#include "core/repo/layout.h"
#include "core/storage/posix/posix_storage.h"
#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace walvault {
namespace {

using test::TempDir;

// A PosixStorage that records every removal, and can fail the removal of one key.
class RecordingStorage : public Storage {
public:
    explicit RecordingStorage(const std::string& root)
        : m_inner(root)
    {
    }

    std::string location() const override { return m_inner.location(); }
    std::string location(const std::string& key) const override { return m_inner.location(key); }
    std::string identity() const override { return m_inner.identity(); }
    Status head(const std::string& key, ObjectInfo& out) override { return m_inner.head(key, out); }
    Status create(const std::string& key, std::unique_ptr<Writer>& out) override { return m_inner.create(key, out); }
    Status get(const std::string& key, const ByteSink& sink) override { return m_inner.get(key, sink); }
    Status get_range(const std::string& key, uint64_t offset, size_t len, std::vector<uint8_t>& out) override
    {
        return m_inner.get_range(key, offset, len, out);
    }
    Status list(const std::string& prefix, const ListRange& range, std::vector<ObjectInfo>& out) override
    {
        return m_inner.list(prefix, range, out);
    }
    using Storage::list;
    Status remove(const std::string& key) override
    {
        removed.push_back(key);
        if (key == fail_key)
            return Status::error(Code::io_error, "injected failure");
        return m_inner.remove(key);
    }
    Status sync(const std::string& key) override { return m_inner.sync(key); }

    std::vector<std::string> removed;
    std::string fail_key;

private:
    PosixStorage m_inner;
};

class BackupDelete : public ::testing::Test {
protected:
    void put(const std::string& key, const std::string& text)
    {
        const Status s = test::put_object(m_storage, key, text);
        ASSERT_TRUE(s.is_ok()) << key << ": " << s.message();
    }
    std::vector<std::string> keys()
    {
        std::vector<ObjectInfo> objects;
        EXPECT_TRUE(m_storage.list("", objects).is_ok());
        std::vector<std::string> out;
        for (const ObjectInfo& o : objects)
            out.push_back(o.key);
        return out;
    }
    // Backup "b": started.json (19 bytes), two data objects (10 and 5 bytes), backup.json (2 bytes); and
    // backup "other" and a WAL file, which no deletion of "b" may touch.
    void fill()
    {
        put(backup_started_key("b"), R"({"started":"2026"} )");
        put(backup_file_key("b", "base/1/1259"), "0123456789");
        put(backup_part_key("b", "base/1/2600", 0), "01234");
        put(backup_manifest_key("b"), "{}");
        put(backup_started_key("other"), "{}");
        put("wal/00000002.history.zst", "history");
    }

    TempDir m_dir;
    RecordingStorage m_storage{m_dir.path()};
};

TEST_F(BackupDelete, ManifestFirstThenDataThenStartMarker)
{
    fill();
    DeleteReport report;
    WV_EXPECT_OK(delete_backup(m_storage, "b", report));
    EXPECT_EQ(report.objects, 4u);
    EXPECT_EQ(report.bytes, 36u);
    EXPECT_EQ(m_storage.removed,
        (std::vector<std::string>{"backup/b/backup.json", "backup/b/data/base/1/1259.zst",
            "backup/b/data/base/1/2600.zst.0", "backup/b/started.json"}));
    EXPECT_EQ(keys(), (std::vector<std::string>{"backup/other/started.json", "wal/00000002.history.zst"}));
}

TEST_F(BackupDelete, BackupWithoutManifest)
{
    put(backup_started_key("killed"), "{}");
    put(backup_file_key("killed", "PG_VERSION"), "15\n");
    DeleteReport report;
    WV_EXPECT_OK(delete_backup(m_storage, "killed", report));
    EXPECT_EQ(report.objects, 2u);
    EXPECT_EQ(report.bytes, 5u);
    EXPECT_EQ(m_storage.removed,
        (std::vector<std::string>{
            "backup/killed/backup.json", "backup/killed/data/PG_VERSION.zst", "backup/killed/started.json"}));
    EXPECT_TRUE(keys().empty());
}

TEST_F(BackupDelete, UnknownLabel)
{
    fill();
    DeleteReport report;
    const Status s = delete_backup(m_storage, "missing", report);
    EXPECT_EQ(s.code(), Code::not_found);
    EXPECT_EQ(s.message(), "backup \"missing\" is not in repository \"" + m_storage.location() + "\"");
    EXPECT_EQ(s.hint(), "walvault list shows the backups.");
    EXPECT_TRUE(m_storage.removed.empty());
    EXPECT_EQ(report.objects, 0u);
}

TEST_F(BackupDelete, InvalidLabelRemovesNothing)
{
    fill();
    DeleteReport report;
    for (const char* label : {"", "b/..", "../b", "LATEST"}) {
        EXPECT_EQ(delete_backup(m_storage, label, report).code(), Code::invalid) << label;
    }
    EXPECT_TRUE(m_storage.removed.empty());
    EXPECT_EQ(keys().size(), 6u);
}

TEST_F(BackupDelete, StoppedHalfWayLeavesAnIncompleteBackupAndRunsAgain)
{
    fill();
    m_storage.fail_key = backup_part_key("b", "base/1/2600", 0);
    DeleteReport report;
    Status s = delete_backup(m_storage, "b", report);
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(s.message(),
        "could not delete backup \"b\" (it is no longer restorable; run backup-delete again to "
        "remove the rest): injected failure");
    EXPECT_EQ(report.objects, 0u);

    std::vector<BackupRecord> backups;
    WV_EXPECT_OK(read_backup_catalog(m_storage, backups));
    ASSERT_EQ(backups.size(), 2u);
    EXPECT_EQ(backups[0].label, "other");
    EXPECT_EQ(backups[1].label, "b");
    EXPECT_FALSE(backups[1].complete);
    EXPECT_EQ(backups[1].started, "2026");
    EXPECT_EQ(backups[1].objects, 2u);  // the part that could not go, and started.json

    m_storage.fail_key.clear();
    WV_EXPECT_OK(delete_backup(m_storage, "b", report));
    EXPECT_EQ(report.objects, 2u);
    EXPECT_EQ(keys(), (std::vector<std::string>{"backup/other/started.json", "wal/00000002.history.zst"}));
}

}  // namespace
}  // namespace walvault
