// Unit tests for core/repo/backup_files: a file into a PosixStorage and back, whole or in parts, with its
// length, sha256, mode and mtime; a part read short leaves zeros at the right offsets; damage and
// mismatches are refused, name the object and leave nothing behind. A label is claimed by one run only,
// also on a store that ignores create-only writes.
#include "core/repo/backup_files.h"

#include "core/codec/crc32c.h"
#include "core/codec/sha256.h"
#include "core/repo/layout.h"
#include "core/repo/object_io.h"
#include "core/storage/posix/posix_storage.h"
#include "test/unit/test_support.h"

#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

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

    // Stores part `index` of the file rel as a backup with part size k_part does: k_part bytes at
    // index * k_part, or to the end of the file for the last part.
    BackupPart store_part(const std::string& rel, size_t index, bool last)
    {
        BackupPart p;
        const Status s = store_backup_range(m_storage, m_encoder, Compression{}, backup_part_key("b1", rel, index),
            m_src / rel, rel, index * k_part, last ? 0 : k_part, p);
        EXPECT_TRUE(s.is_ok()) << s.message();
        return p;
    }
    // The manifest entry backup builds from the parts.
    static BackupFile parted_entry(const std::string& rel, std::vector<BackupPart> parts)
    {
        BackupFile f;
        f.path = rel;
        f.mode = 0600;
        f.mtime = 1790000000;
        for (const BackupPart& p : parts)
            if (p.size > 0)
                f.size = std::max(f.size, p.offset + p.size);
        f.parts = std::move(parts);
        return f;
    }

    static constexpr uint64_t k_part = 1024 * 1024;

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

// A backup taken by an older walvault (objects without xxh3_128 in their trailers) restores all the same:
// each object is read a second time and checked by its sha256, whole files and files in parts alike.
TEST_F(BackupFiles, OlderWalvaultsObjectsRestore)
{
    auto make_old = [&](const std::string& object, bool damage) {
        std::vector<uint8_t> bytes = test::without_xxh3(test::read_file(object));
        if (damage)
            bytes[1000] ^= 0x20;  // in the first raw block's payload (its frame and block headers are 9 bytes)
        ::chmod(object.c_str(), 0600);
        test::write_file(object, bytes);
    };
    const auto whole = test::random_bytes(3 * k_part + 17, 21);
    const BackupFile w = store("whole", whole, "none");
    make_old(m_storage.location(key("whole")), false);
    WV_ASSERT_OK(restore_backup_file(m_storage, key("whole"), m_dst / "whole", w));
    EXPECT_EQ(test::read_file(m_dst / "whole"), whole);

    const auto data = test::random_bytes(2 * k_part + 5000, 22);
    test::write_file(m_src / "rel", data);
    const BackupFile f =
        parted_entry("rel", {store_part("rel", 0, false), store_part("rel", 1, false), store_part("rel", 2, true)});
    for (size_t i = 0; i < 3; ++i)
        make_old(m_storage.location(backup_part_key("b1", "rel", i)), false);
    WV_ASSERT_OK(restore_backup_file(m_storage, key("rel"), m_dst / "rel", f));
    EXPECT_EQ(test::read_file(m_dst / "rel"), data);

    // Damaged in a raw block, where only the content checksum can tell: refused, nothing left behind.
    const BackupFile d = store("damaged", whole, "none");
    make_old(m_storage.location(key("damaged")), true);
    const Status s = restore_backup_file(m_storage, key("damaged"), m_dst / "damaged", d);
    EXPECT_EQ(s.code(), Code::corrupt) << s.message();
    EXPECT_NE(s.message().find("bytes with sha256"), std::string::npos) << s.message();
    EXPECT_FALSE(test::file_exists(m_dst / "damaged"));
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

TEST_F(BackupFiles, PartCount)
{
    EXPECT_EQ(backup_part_count(0, k_part), 0u);
    EXPECT_EQ(backup_part_count(k_part, k_part), 0u);  // not larger than the part size: one object
    EXPECT_EQ(backup_part_count(k_part + 1, k_part), 2u);
    EXPECT_EQ(backup_part_count(3 * k_part + k_part / 2, k_part), 4u);
    EXPECT_EQ(backup_part_count(1024 * k_part, 64 * k_part), 16u);  // a full relation segment, default parts
}

TEST_F(BackupFiles, FileInPartsRoundTrip)
{
    // 3.5 parts: three full ones and a last one of half a part.
    const auto data = test::random_bytes(3 * k_part + k_part / 2, 11);
    test::write_file(m_src / "big", data);
    std::vector<BackupPart> parts;
    for (size_t i = 0; i < 4; i++)
        parts.push_back(store_part("big", i, i == 3));
    const uint64_t offsets[] = {0, k_part, 2 * k_part, 3 * k_part};
    const uint64_t sizes[] = {k_part, k_part, k_part, k_part / 2};
    for (size_t i = 0; i < 4; i++) {
        EXPECT_EQ(parts[i].offset, offsets[i]) << i;
        EXPECT_EQ(parts[i].size, sizes[i]) << i;
        EXPECT_EQ(parts[i].sha256, sha256_hex(data.data() + offsets[i], sizes[i])) << i;
        ObjectInfo info;
        WV_ASSERT_OK(m_storage.head(backup_part_key("b1", "big", i), info));
        EXPECT_EQ(parts[i].stored_size, info.size) << i;
        ObjectMeta meta;
        WV_ASSERT_OK(read_object_meta(m_storage, backup_part_key("b1", "big", i), meta));
        EXPECT_EQ(meta.name, "big") << i;
    }
    ObjectInfo whole;
    EXPECT_EQ(m_storage.head(key("big"), whole).code(), Code::not_found);  // only the parts are stored

    // Parts restore in any order, on any threads; the file is whole after the last.
    const BackupFile f = parted_entry("big", parts);
    EXPECT_EQ(f.size, data.size());
    FileRestore backwards(f, key("big"), m_dst / "backwards");
    for (size_t i = 4; i-- > 0;)
        WV_ASSERT_OK(backwards.restore_task(m_storage, i));
    EXPECT_EQ(test::read_file(m_dst / "backwards"), data);
    // backup_manifest's checksum of a file in parts: CRC-32C, combined from the parts' as they were written.
    const std::string crc = crc32c_manifest_hex(crc32c_extend(0, data.data(), data.size()));
    EXPECT_EQ(backwards.checksum_algorithm(), "CRC32C");
    EXPECT_EQ(backwards.checksum(), crc);
    struct stat st;
    ASSERT_EQ(::stat((m_dst / "backwards").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(st.st_mtime, 1790000000);

    FileRestore threaded(f, key("big"), m_dst / "threaded");
    std::vector<Status> results(4);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < 4; i++)
        threads.emplace_back([&, i] { results[i] = threaded.restore_task(m_storage, i); });
    for (std::thread& t : threads)
        t.join();
    for (const Status& r : results)
        WV_EXPECT_OK(r);
    EXPECT_EQ(test::read_file(m_dst / "threaded"), data);
    EXPECT_EQ(threaded.checksum_algorithm(), "CRC32C");
    EXPECT_EQ(threaded.checksum(), crc);

    WV_ASSERT_OK(restore_backup_file(m_storage, key("big"), m_dst / "whole", f));
    EXPECT_EQ(test::read_file(m_dst / "whole"), data);
}

TEST_F(BackupFiles, ShortMiddlePartLeavesZerosAtItsPlace)
{
    // Part 1 is read while the relation is truncated to 1.25 parts; by part 2 it has grown again. Every
    // byte stays at its own offset: the gap after the short part is zeros, the later parts are not shifted.
    const auto data = test::random_bytes(3 * k_part + k_part / 2, 12);
    test::write_file(m_src / "rel", data);
    std::vector<BackupPart> parts;
    parts.push_back(store_part("rel", 0, false));
    ASSERT_EQ(::truncate((m_src / "rel").c_str(), static_cast<off_t>(k_part + k_part / 4)), 0);
    parts.push_back(store_part("rel", 1, false));
    test::write_file(m_src / "rel", data);
    parts.push_back(store_part("rel", 2, false));
    parts.push_back(store_part("rel", 3, true));
    EXPECT_EQ(parts[1].offset, k_part);
    EXPECT_EQ(parts[1].size, k_part / 4);
    EXPECT_EQ(parts[2].offset, 2 * k_part);
    EXPECT_EQ(parts[2].size, k_part);

    const BackupFile f = parted_entry("rel", parts);
    EXPECT_EQ(f.size, data.size());
    FileRestore file(f, key("rel"), m_dst / "rel");
    // Part 2 last: a whole MiB written past the page cache, and then the read-back through the same descriptor.
    for (const size_t i : {3, 0, 1, 2})
        WV_ASSERT_OK(file.restore_task(m_storage, i));
    auto expected = data;
    std::fill(expected.begin() + k_part + k_part / 4, expected.begin() + 2 * k_part, 0);
    const auto restored = test::read_file(m_dst / "rel");
    ASSERT_EQ(restored.size(), expected.size());
    EXPECT_TRUE(restored == expected);
    // The parts' CRCs do not cover the gap: the file was read back for a SHA-256.
    EXPECT_EQ(file.checksum_algorithm(), "SHA256");
    EXPECT_EQ(file.checksum(), sha256_hex(expected.data(), expected.size()));
}

TEST_F(BackupFiles, PartsOfAShrunkFileAreEmpty)
{
    // The file shrank to two parts before parts 2 and 3 were read: they are stored with 0 bytes, and the
    // file restores to where part 1 ends.
    const auto data = test::random_bytes(3 * k_part + 100, 13);
    test::write_file(m_src / "rel", data);
    std::vector<BackupPart> parts;
    parts.push_back(store_part("rel", 0, false));
    parts.push_back(store_part("rel", 1, false));
    ASSERT_EQ(::truncate((m_src / "rel").c_str(), static_cast<off_t>(2 * k_part)), 0);
    parts.push_back(store_part("rel", 2, false));
    parts.push_back(store_part("rel", 3, true));
    EXPECT_EQ(parts[2].size, 0u);
    EXPECT_EQ(parts[3].size, 0u);
    EXPECT_EQ(parts[3].offset, 3 * k_part);
    const BackupFile f = parted_entry("rel", parts);
    EXPECT_EQ(f.size, 2 * k_part);
    WV_ASSERT_OK(restore_backup_file(m_storage, key("rel"), m_dst / "rel", f));
    EXPECT_TRUE(test::read_file(m_dst / "rel") == std::vector<uint8_t>(data.begin(), data.begin() + 2 * k_part));
}

TEST_F(BackupFiles, DamagedPartIsCorruptNamingTheObject)
{
    const auto data = test::random_bytes(2 * k_part + 5000, 14);
    test::write_file(m_src / "rel", data);
    const BackupFile f =
        parted_entry("rel", {store_part("rel", 0, false), store_part("rel", 1, false), store_part("rel", 2, true)});
    const std::string object = m_storage.location(backup_part_key("b1", "rel", 1));
    const auto good = test::read_file(object);
    auto bytes = good;
    bytes[bytes.size() / 3] ^= 0x55;
    ::chmod(object.c_str(), 0600);
    test::write_file(object, bytes);

    FileRestore file(f, key("rel"), m_dst / "rel");
    WV_ASSERT_OK(file.restore_task(m_storage, 0));
    const Status s = file.restore_task(m_storage, 1);
    EXPECT_EQ(s.code(), Code::corrupt) << s.message();
    EXPECT_NE(s.message().find("\"" + object + "\""), std::string::npos) << s.message();
    EXPECT_FALSE(test::file_exists(m_dst / "rel"));
    // The file's other parts do not bring it back.
    EXPECT_FALSE(file.restore_task(m_storage, 2).is_ok());
    EXPECT_FALSE(test::file_exists(m_dst / "rel"));
    test::write_file(object, good);

    // A part whose object holds other bytes than the manifest's part says: the same, by the manifest.
    BackupFile wrong = f;
    wrong.parts[2].sha256 = std::string(64, '0');
    const Status m = restore_backup_file(m_storage, key("rel"), m_dst / "rel2", wrong);
    EXPECT_EQ(m.code(), Code::corrupt);
    EXPECT_NE(m.message().find("\"" + m_storage.location(backup_part_key("b1", "rel", 2)) +
                  "\" holds \"rel\" with 5000 "
                  "bytes"),
        std::string::npos)
        << m.message();
    EXPECT_NE(m.message().find("the manifest expects \"rel\" with 5000 bytes and sha256 " + std::string(64, '0')),
        std::string::npos)
        << m.message();
    EXPECT_FALSE(test::file_exists(m_dst / "rel2"));

    // A missing part.
    WV_ASSERT_OK(m_storage.remove(backup_part_key("b1", "rel", 0)));
    const Status g = restore_backup_file(m_storage, key("rel"), m_dst / "rel3", f);
    EXPECT_EQ(g.code(), Code::corrupt);
    EXPECT_EQ(g.message(), "object \"" + m_storage.location(backup_part_key("b1", "rel", 0)) + "\" is missing");
    EXPECT_FALSE(test::file_exists(m_dst / "rel3"));
}

TEST_F(BackupFiles, RangeOfAVanishedFileIsNotFound)
{
    BackupPart p;
    EXPECT_EQ(store_backup_range(m_storage, m_encoder, Compression{}, backup_part_key("b1", "gone", 1), m_src / "gone",
                  "gone", k_part, k_part, p)
                  .code(),
        Code::not_found);
    std::vector<ObjectInfo> listed;
    WV_ASSERT_OK(m_storage.list("", listed));
    EXPECT_TRUE(listed.empty());
}

// A store that ignores create-only writes, as s3rver ignores If-None-Match: the last writer of a key wins.
class OverwritingStorage : public Storage {
public:
    explicit OverwritingStorage(Storage& inner)
        : m_inner(inner)
    {
    }
    std::string location() const override { return m_inner.location(); }
    std::string location(const std::string& key) const override { return m_inner.location(key); }
    std::string identity() const override { return m_inner.identity(); }
    Status head(const std::string& key, ObjectInfo& out) override { return m_inner.head(key, out); }
    Status create(const std::string& key, std::unique_ptr<Writer>& out) override
    {
        Status s = m_inner.remove(key);
        return s.is_ok() ? m_inner.create(key, out) : s;
    }
    Status get(const std::string& key, const ByteSink& sink) override { return m_inner.get(key, sink); }
    Status get_range(const std::string& key, uint64_t offset, size_t len, std::vector<uint8_t>& out) override
    {
        return m_inner.get_range(key, offset, len, out);
    }
    using Storage::list;
    Status list(const std::string& prefix, const ListRange& range, std::vector<ObjectInfo>& out) override
    {
        return m_inner.list(prefix, range, out);
    }
    Status remove(const std::string& key) override { return m_inner.remove(key); }
    Status sync(const std::string& key) override { return m_inner.sync(key); }

private:
    Storage& m_inner;
};

std::string label_taken_message(const Storage& storage, const std::string& label)
{
    return "backup \"" + label + "\" is already being taken, or exists, in \"" + storage.location() + "\"";
}

TEST_F(BackupFiles, ClaimTakesALabelOnce)
{
    std::string first, second;
    WV_ASSERT_OK(claim_backup_label(m_storage, "SAME", "2026-11-23T10:15:00Z", 7400000000000000001, first));
    EXPECT_EQ(first.size(), 32u);

    std::string text;
    WV_ASSERT_OK(m_storage.get(backup_started_key("SAME"), [&](const uint8_t* d, size_t n) {
        text.append(reinterpret_cast<const char*>(d), n);
        return Status::ok();
    }));
    const nlohmann::json doc = nlohmann::json::parse(text);
    EXPECT_EQ(doc["label"], "SAME");
    EXPECT_EQ(doc["started"], "2026-11-23T10:15:00Z");
    EXPECT_EQ(doc["system_identifier"], "7400000000000000001");
    EXPECT_EQ(doc["claim"], first);

    const Status s = claim_backup_label(m_storage, "SAME", "2026-11-23T10:15:01Z", 7400000000000000001, second);
    EXPECT_EQ(s.code(), Code::already_exists);
    EXPECT_EQ(s.message(), label_taken_message(m_storage, "SAME"));
    EXPECT_EQ(s.hint(),
        "Another walvault backup has claimed this label. Choose another --label, or wait for that backup to end "
        "and look at walvault list.");
    WV_EXPECT_OK(check_backup_claim(m_storage, "SAME", first));

    // Another label is free; a claim removed under its run is lost.
    WV_ASSERT_OK(claim_backup_label(m_storage, "OTHER", "2026-11-23T10:15:02Z", 1, second));
    EXPECT_NE(second, first);
    WV_ASSERT_OK(m_storage.remove(backup_started_key("OTHER")));
    EXPECT_EQ(check_backup_claim(m_storage, "OTHER", second).code(), Code::already_exists);
}

TEST_F(BackupFiles, ClaimOnAStoreThatIgnoresCreateOnly)
{
    OverwritingStorage store(m_storage);
    std::string first, second;
    WV_ASSERT_OK(claim_backup_label(store, "SAME", "2026-11-23T10:15:00Z", 1, first));
    // The second claim replaces the first's started.json: the second run holds the label now ...
    WV_ASSERT_OK(claim_backup_label(store, "SAME", "2026-11-23T10:15:00Z", 1, second));
    WV_EXPECT_OK(check_backup_claim(store, "SAME", second));
    // ... and the first sees that it lost it.
    const Status s = check_backup_claim(store, "SAME", first);
    EXPECT_EQ(s.code(), Code::already_exists);
    EXPECT_EQ(s.message(), label_taken_message(store, "SAME"));
}

}  // namespace
}  // namespace walvault
