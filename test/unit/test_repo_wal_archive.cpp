// Unit tests for core/repo/wal_archive: archiving WAL files into a temporary PosixStorage, idempotent
// re-archiving, and refusing (never overwriting) an archived copy with different or damaged content.
#include "core/repo/wal_archive.h"

#include "core/codec/age.h"
#include "core/codec/sha256.h"
#include "core/codec/xxh3.h"
#include "core/repo/layout.h"
#include "core/repo/object_io.h"
#include "core/storage/posix/posix_storage.h"
#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace walvault {
namespace {

using test::k_mib;
using test::TempDir;

constexpr const char* k_segment = "000000010000000000000003";
constexpr const char* k_segment_key = "wal/0000000100000000/000000010000000000000003.zst";
constexpr const char* k_different_content_hint =
    "Two clusters may be archiving into one repository, or a cluster was restored without moving to a new "
    "timeline. walvault never overwrites an archived file.";
constexpr const char* k_damaged_hint =
    "walvault never overwrites an archived file. Check the storage, then move the damaged object away so that "
    "the file can be archived again.";

// 16 MiB that looks a little like WAL: compressible records with incompressible stretches.
const std::vector<uint8_t>& segment_bytes()
{
    static const std::vector<uint8_t> data = [] {
        std::vector<uint8_t> d = test::compressible_bytes(16 * k_mib);
        const std::vector<uint8_t> noise = test::random_bytes(2 * k_mib, 77);
        std::copy(noise.begin(), noise.end(), d.begin() + static_cast<std::ptrdiff_t>(5 * k_mib));
        return d;
    }();
    return data;
}

std::string sha_of(const std::vector<uint8_t>& data)
{
    return sha256_hex(data.data(), data.size());
}

class WalArchive : public ::testing::Test {
protected:
    // The source file for name, in the pg_wal stand-in directory.
    std::string source(const std::string& name, const std::vector<uint8_t>& data)
    {
        const std::string path = m_pg_wal / name;
        test::write_file(path, data);
        return path;
    }

    Status archive(
        const std::string& name, const std::string& path, ArchiveReport& report, const char* compression = "zstd:3")
    {
        const auto c = Compression::parse(compression, nullptr);
        if (!c)
            return Status::error(Code::invalid, "bad compression in test");
        return archive_wal_file(m_storage, m_encoder, *c, name, path, report, m_recipients, m_busy_wait);
    }

    std::vector<uint8_t> decoded(const std::string& key, ObjectMeta* meta_out = nullptr)
    {
        std::vector<uint8_t> out;
        ObjectMeta meta;
        const Status s = decode_object(m_storage, key, test::vector_sink(out), meta);
        EXPECT_TRUE(s.is_ok()) << s.message();
        if (meta_out)
            *meta_out = meta;
        return out;
    }

    std::vector<std::string> keys()
    {
        std::vector<ObjectInfo> listed;
        const Status s = m_storage.list("", listed);
        EXPECT_TRUE(s.is_ok()) << s.message();
        std::vector<std::string> out;
        for (const ObjectInfo& o : listed)
            out.push_back(o.key);
        return out;
    }

    TempDir m_pg_wal;
    TempDir m_repo_dir;
    std::string m_repo = m_repo_dir / "repo";
    PosixStorage m_storage{m_repo};
    Encoder m_encoder;
    std::vector<AgeRecipient> m_recipients;  // encryption_recipients of archive()
    std::chrono::milliseconds m_busy_wait = k_archive_busy_wait;
};

TEST_F(WalArchive, ArchivesASegment)
{
    const std::vector<uint8_t>& data = segment_bytes();
    ArchiveReport report;
    report.already_archived = true;  // reset by the call
    WV_ASSERT_OK(archive(k_segment, source(k_segment, data), report));
    EXPECT_EQ(report.bytes_in, 16 * k_mib);
    EXPECT_FALSE(report.already_archived);

    ObjectInfo info;
    WV_ASSERT_OK(m_storage.head(k_segment_key, info));
    EXPECT_EQ(report.bytes_out, info.size);
    EXPECT_LT(info.size, data.size());

    ObjectMeta meta;
    EXPECT_TRUE(decoded(k_segment_key, &meta) == data);
    EXPECT_EQ(meta.name, k_segment);
    EXPECT_EQ(meta.length, 16 * k_mib);
    EXPECT_EQ(meta.sha256, sha_of(data));
    EXPECT_EQ(meta.compression, "zstd:3");

    // Exactly one object, and no temporary file beside it.
    EXPECT_EQ(keys(), std::vector<std::string>{k_segment_key});
    EXPECT_EQ(
        test::dir_entries(m_repo + "/wal/0000000100000000"), std::vector<std::string>{"000000010000000000000003.zst"});
}

TEST_F(WalArchive, SameContentAgainIsAlreadyArchived)
{
    const std::string path = source(k_segment, segment_bytes());
    ArchiveReport report;
    WV_ASSERT_OK(archive(k_segment, path, report));
    const std::vector<uint8_t> stored = test::read_file(m_repo + "/" + k_segment_key);

    for (const char* compression : {"zstd:3", "none", "zstd:9"}) {  // the stored copy counts, not the setting
        WV_ASSERT_OK(archive(k_segment, path, report, compression));
        EXPECT_TRUE(report.already_archived) << compression;
        EXPECT_EQ(report.bytes_in, 16 * k_mib);
        EXPECT_EQ(report.bytes_out, 0u);
    }
    EXPECT_EQ(test::read_file(m_repo + "/" + k_segment_key), stored);
    EXPECT_EQ(keys(), std::vector<std::string>{k_segment_key});
}

TEST_F(WalArchive, DifferentContentIsAConflict)
{
    const std::vector<uint8_t>& original = segment_bytes();
    ArchiveReport report;
    WV_ASSERT_OK(archive(k_segment, source(k_segment, original), report));
    const std::vector<uint8_t> stored = test::read_file(m_repo + "/" + k_segment_key);

    std::vector<uint8_t> changed = original;
    changed[12345] ^= 0x01;
    const Status s = archive(k_segment, source(k_segment, changed), report);
    EXPECT_EQ(s.code(), Code::conflict);
    EXPECT_EQ(s.message(),
        std::string("\"") + k_segment + "\" is already archived with different content: archived sha256 " +
            sha_of(original) + " (16777216 bytes), local sha256 " + sha_of(changed) + " (16777216 bytes)");
    EXPECT_NE(s.message().find(sha_of(original)), std::string::npos);
    EXPECT_NE(s.message().find(sha_of(changed)), std::string::npos);
    EXPECT_EQ(s.hint(), k_different_content_hint);
    EXPECT_FALSE(report.already_archived);

    // The archived object is untouched.
    EXPECT_EQ(test::read_file(m_repo + "/" + k_segment_key), stored);
    EXPECT_TRUE(decoded(k_segment_key) == original);
}

TEST_F(WalArchive, DifferentLengthIsAConflict)
{
    const std::vector<uint8_t>& original = segment_bytes();
    ArchiveReport report;
    WV_ASSERT_OK(archive(k_segment, source(k_segment, original), report));

    const std::vector<uint8_t> shorter(original.begin(), original.begin() + static_cast<std::ptrdiff_t>(8 * k_mib));
    const Status s = archive(k_segment, source(k_segment, shorter), report);
    EXPECT_EQ(s.code(), Code::conflict);
    EXPECT_NE(
        s.message().find("(16777216 bytes), local sha256 " + sha_of(shorter) + " (8388608 bytes)"), std::string::npos)
        << s.message();
}

TEST_F(WalArchive, DamagedArchivedCopyIsAConflict)
{
    const std::vector<uint8_t>& data = segment_bytes();
    const std::string path = source(k_segment, data);
    ArchiveReport report;
    WV_ASSERT_OK(archive(k_segment, path, report));

    // Flip one byte of the stored object, in the middle of the zstd data.
    const std::string object_path = m_repo + "/" + k_segment_key;
    std::vector<uint8_t> stored = test::read_file(object_path);
    stored[stored.size() / 2] ^= 0xFF;
    test::write_file(object_path, stored);

    const Status s = archive(k_segment, path, report);
    EXPECT_EQ(s.code(), Code::conflict);
    EXPECT_NE(s.message().find("damaged"), std::string::npos) << s.message();
    EXPECT_EQ(s.message().rfind(std::string("\"") + k_segment +
                      "\" is already archived but the archived copy is damaged: object \"" + object_path + "\": ",
                  0),
        0u)
        << s.message();
    EXPECT_EQ(s.hint(), k_damaged_hint);
    EXPECT_FALSE(report.already_archived);

    // Never overwritten: the damaged copy stays for the operator to look at.
    EXPECT_EQ(test::read_file(object_path), stored);
}

TEST_F(WalArchive, TruncatedArchivedCopyIsAConflict)
{
    const std::string path = source(k_segment, test::compressible_bytes(k_mib));
    ArchiveReport report;
    WV_ASSERT_OK(archive(k_segment, path, report));
    const std::string object_path = m_repo + "/" + k_segment_key;
    std::vector<uint8_t> stored = test::read_file(object_path);
    stored.resize(stored.size() - 10);
    test::write_file(object_path, stored);

    const Status s = archive(k_segment, path, report);
    EXPECT_EQ(s.code(), Code::conflict);
    EXPECT_NE(s.message().find("damaged"), std::string::npos) << s.message();
    EXPECT_EQ(test::read_file(object_path), stored);
}

TEST_F(WalArchive, ObjectOfAnotherNameIsAConflict)
{
    // Identical bytes, but the object at this key says it holds another file.
    const std::vector<uint8_t> data = test::compressible_bytes(k_mib);
    const std::string other = "000000010000000000000004";
    ArchiveReport report;
    WV_ASSERT_OK(archive(other, source(other, data), report));
    WV_ASSERT_OK(make_directories(m_repo + "/wal/0000000100000000"));
    test::write_file(
        m_repo + "/" + k_segment_key, test::read_file(m_repo + "/wal/0000000100000000/000000010000000000000004.zst"));

    const Status s = archive(k_segment, source(k_segment, data), report);
    EXPECT_EQ(s.code(), Code::conflict);
    EXPECT_FALSE(report.already_archived);
}

TEST_F(WalArchive, HistoryPartialAndBackupFiles)
{
    struct Case {
        std::string name;
        std::string key;
        std::vector<uint8_t> data;
    };
    const Case cases[] = {
        {"00000002.history", "wal/00000002.history.zst",
            test::to_bytes("1\t0/3000000\tno recovery target specified\n")},
        {"000000010000000000000003.partial", "wal/0000000100000000/000000010000000000000003.partial.zst",
            test::compressible_bytes(16 * k_mib)},
        {"000000010000000000000003.00000028.backup",
            "wal/0000000100000000/000000010000000000000003.00000028.backup.zst",
            test::to_bytes("START WAL LOCATION: 0/3000028 (file 000000010000000000000003)\n"
                           "STOP WAL LOCATION: 0/3000100 (file 000000010000000000000003)\n"
                           "CHECKPOINT LOCATION: 0/3000060\nBACKUP METHOD: streamed\nBACKUP FROM: primary\n"
                           "START TIME: 2024-05-01 12:00:00 UTC\nLABEL: nightly\nSTART TIMELINE: 1\n"
                           "STOP TIME: 2024-05-01 12:00:01 UTC\nSTOP TIMELINE: 1\n")},
        {"000000010000000000000004", "wal/0000000100000000/000000010000000000000004.zst", std::vector<uint8_t>{}},
    };
    std::vector<std::string> expected_keys;
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        const std::string path = source(c.name, c.data);
        ArchiveReport report;
        WV_ASSERT_OK(archive(c.name, path, report, "none"));
        EXPECT_FALSE(report.already_archived);
        EXPECT_EQ(report.bytes_in, c.data.size());
        ObjectMeta meta;
        EXPECT_TRUE(decoded(c.key, &meta) == c.data);
        EXPECT_EQ(meta.name, c.name);
        EXPECT_EQ(meta.compression, "none");

        const std::vector<uint8_t> stored = test::read_file(m_repo + "/" + c.key);
        WV_ASSERT_OK(archive(c.name, path, report));
        EXPECT_TRUE(report.already_archived);
        EXPECT_EQ(report.bytes_in, c.data.size());
        EXPECT_EQ(report.bytes_out, 0u);
        EXPECT_EQ(test::read_file(m_repo + "/" + c.key), stored);

        std::vector<uint8_t> changed = c.data;
        changed.push_back('!');
        EXPECT_EQ(archive(c.name, source(c.name, changed), report).code(), Code::conflict);
        expected_keys.push_back(c.key);
    }
    std::sort(expected_keys.begin(), expected_keys.end());
    EXPECT_EQ(keys(), expected_keys);
}

TEST_F(WalArchive, NonWalNameIsInvalid)
{
    const std::string path = source("RECOVERYXLOG", test::to_bytes("x"));
    for (const char* name : {"RECOVERYXLOG", "foo", "", "000000010000000000000003.zst", "../000000010000000000000003",
             "000000010000000a000000ff"}) {
        ArchiveReport report;
        const Status s = archive(name, path, report);
        EXPECT_EQ(s.code(), Code::invalid) << name;
        EXPECT_EQ(s.message(), std::string("\"") + name + "\" is not a WAL file name");
    }
    EXPECT_FALSE(test::file_exists(m_repo));
}

TEST_F(WalArchive, MissingSourceIsNotFound)
{
    ArchiveReport report;
    const Status s = archive(k_segment, m_pg_wal / k_segment, report);
    EXPECT_EQ(s.code(), Code::not_found);
    EXPECT_EQ(s.message().rfind("could not open file \"" + (m_pg_wal / k_segment) + "\": ", 0), 0u) << s.message();
    ObjectInfo info;
    EXPECT_EQ(m_storage.head(k_segment_key, info).code(), Code::not_found);
    EXPECT_TRUE(keys().empty());
    // No temporary file is left behind either.
    EXPECT_TRUE(test::dir_entries(m_repo + "/wal/0000000100000000").empty());
}

TEST_F(WalArchive, MissingSourceOfAnArchivedFileIsNotFound)
{
    ArchiveReport report;
    WV_ASSERT_OK(archive(k_segment, source(k_segment, test::to_bytes("abc")), report));
    std::filesystem::remove(m_pg_wal / k_segment);
    EXPECT_EQ(archive(k_segment, m_pg_wal / k_segment, report).code(), Code::not_found);
}

TEST_F(WalArchive, ConcurrentWriterIsBusy)
{
    m_busy_wait = std::chrono::milliseconds(300);
    std::unique_ptr<Writer> other;
    WV_ASSERT_OK(m_storage.create(k_segment_key, other));
    ArchiveReport report;
    const auto started = std::chrono::steady_clock::now();
    const Status s = archive(k_segment, source(k_segment, test::to_bytes("abc")), report);
    EXPECT_EQ(s.code(), Code::busy);
    EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(100));  // it waited
    other->abort();
    WV_ASSERT_OK(archive(k_segment, m_pg_wal / k_segment, report));
    EXPECT_FALSE(report.already_archived);
}

// The archive module and walvault receive store a segment as it completes, often at the same moment: the second
// waits for the first, then finds an identical copy (or a conflict), or writes it itself if the first gave up.
class WalArchiveConcurrentWriter : public WalArchive {
protected:
    // Archives k_segment holding `mine` while another writer holds the object and, a moment later, commits
    // `theirs` (or aborts, if empty).
    Status archive_while_other_writes(
        const std::vector<uint8_t>& mine, const std::vector<uint8_t>& theirs, ArchiveReport& report)
    {
        std::unique_ptr<Writer> other;
        Status s = m_storage.create(k_segment_key, other);
        if (!s.is_ok())
            return s;
        Encoder other_encoder;
        const auto c = Compression::parse("zstd:1", nullptr);
        std::thread finisher([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            if (theirs.empty()) {
                other->abort();
                return;
            }
            EncodeResult encoded;
            Status w = other_encoder.begin(
                *c, [&](const uint8_t* d, size_t n) { return other->write(d, n); }, theirs.size());
            if (w.is_ok())
                w = other_encoder.update(theirs.data(), theirs.size());
            if (w.is_ok())
                w = other_encoder.finish(k_segment, encoded);
            if (w.is_ok())
                w = other->commit();
            EXPECT_TRUE(w.is_ok()) << w.message();
        });
        s = archive(k_segment, source(k_segment, mine), report);
        finisher.join();
        return s;
    }
};

TEST_F(WalArchiveConcurrentWriter, IdenticalContentIsAlreadyArchived)
{
    ArchiveReport report;
    WV_ASSERT_OK(archive_while_other_writes(test::to_bytes("same bytes"), test::to_bytes("same bytes"), report));
    EXPECT_TRUE(report.already_archived);
    EXPECT_EQ(decoded(k_segment_key), test::to_bytes("same bytes"));
}

TEST_F(WalArchiveConcurrentWriter, DifferentContentIsAConflict)
{
    ArchiveReport report;
    const Status s = archive_while_other_writes(test::to_bytes("mine"), test::to_bytes("theirs"), report);
    EXPECT_EQ(s.code(), Code::conflict) << s.message();
    EXPECT_EQ(decoded(k_segment_key), test::to_bytes("theirs"));
}

TEST_F(WalArchiveConcurrentWriter, AWriterThatGaveUpLeavesTheObjectToThisOne)
{
    ArchiveReport report;
    WV_ASSERT_OK(archive_while_other_writes(test::to_bytes("mine"), {}, report));
    EXPECT_FALSE(report.already_archived);
    EXPECT_EQ(decoded(k_segment_key), test::to_bytes("mine"));
}

// With encryption: the object is an age file; archiving the same file again compares through the process's
// identities, and without one it cannot, which is a conflict that names the way out (never an overwrite).
// The archiver holds recipients only: the note in the object's header (AgeNote) tells it whether a file it
// archives again is the one archived.
TEST_F(WalArchive, EncryptedObjectsAndArchivingAgain)
{
    AgeIdentity id;
    WV_ASSERT_OK(age_generate_identity(id));
    m_recipients = {age_recipient_of(id)};
    const std::string path = source(k_segment, segment_bytes());
    ArchiveReport report;
    WV_ASSERT_OK(archive(k_segment, path, report));
    const std::vector<uint8_t> stored = test::read_file(m_repo + "/" + k_segment_key);
    ASSERT_TRUE(looks_like_age(stored.data(), stored.size()));
    AgeNote note;
    bool found = false;
    WV_ASSERT_OK(read_age_note(stored.data(), stored.size(), note, found));
    ASSERT_TRUE(found);
    EXPECT_EQ(note.recipients, std::vector<std::string>{age_recipient_fingerprint(m_recipients[0])});
    EXPECT_TRUE(note.has_content);
    EXPECT_EQ(note.length, segment_bytes().size());
    EXPECT_EQ(note.xxh3_128, xxh3_128_hex(segment_bytes().data(), segment_bytes().size()));

    // Without an identity: the same file again is archived, a different one is a conflict naming both.
    set_object_identities({});
    WV_ASSERT_OK(archive(k_segment, path, report));
    EXPECT_TRUE(report.already_archived);
    std::vector<uint8_t> other = segment_bytes();
    other[1000] ^= 1;
    Status s = archive(k_segment, source(k_segment, other), report);
    EXPECT_EQ(s.code(), Code::conflict);
    EXPECT_EQ(s.message(),
        "\"" + std::string(k_segment) + "\" is already archived with different content: archived XXH3-128 " +
            note.xxh3_128 + " (" + std::to_string(note.length) + " bytes), local XXH3-128 " +
            xxh3_128_hex(other.data(), other.size()) + " (" + std::to_string(other.size()) + " bytes)");
    EXPECT_EQ(test::read_file(m_repo + "/" + k_segment_key), stored);

    // With the identity the decoded object is what was archived.
    set_object_identities({id});
    EXPECT_TRUE(decoded(k_segment_key) == segment_bytes());
    set_object_identities({});
}

// An encrypted object whose note records no content (a backup file's, or one written before notes recorded
// it): without an identity the archiver cannot compare, and says how to.
TEST_F(WalArchive, EncryptedObjectWithoutContentNoteNeedsAnIdentity)
{
    AgeIdentity id;
    WV_ASSERT_OK(age_generate_identity(id));
    AgeEncryptStage cipher({age_recipient_of(id)});
    m_encoder.set_stage(&cipher);  // the stage alone: no set_content()
    const std::string path = source(k_segment, segment_bytes());
    std::unique_ptr<Writer> writer;
    WV_ASSERT_OK(m_storage.create(k_segment_key, writer));
    EncodeResult encoded;
    WV_ASSERT_OK(encode_file(
        m_encoder, Compression{}, path, k_segment, [&](const uint8_t* d, size_t n) { return writer->write(d, n); },
        encoded));
    WV_ASSERT_OK(writer->commit());
    m_encoder.set_stage(nullptr);
    ArchiveReport report;
    const std::vector<uint8_t> stored = test::read_file(m_repo + "/" + k_segment_key);
    ASSERT_TRUE(looks_like_age(stored.data(), stored.size()));

    set_object_identities({});
    Status s = archive(k_segment, path, report);
    EXPECT_EQ(s.code(), Code::conflict);
    EXPECT_EQ(s.message(),
        "\"" + std::string(k_segment) +
            "\" is already archived, encrypted, and this process holds no identity to compare it with the file");
    EXPECT_EQ(s.hint(),
        "walvault never overwrites an archived file. Compare them with walvault wal-push "
        "--encryption-identity-file; if they are the same, the file is archived.");

    set_object_identities({id});
    WV_ASSERT_OK(archive(k_segment, path, report));
    EXPECT_TRUE(report.already_archived);
    std::vector<uint8_t> other = segment_bytes();
    other[1000] ^= 1;
    s = archive(k_segment, source(k_segment, other), report);
    EXPECT_EQ(s.code(), Code::conflict);
    EXPECT_EQ(test::read_file(m_repo + "/" + k_segment_key), stored);
    set_object_identities({});
}

// Bytes in memory (walvault receive) make the same object as the same bytes in a file: the module's copy
// and the receiver's are the same, whichever comes second is success; other bytes are a conflict.
TEST_F(WalArchive, BytesInMemoryMakeTheSameObjectAsTheFile)
{
    const std::vector<uint8_t>& data = segment_bytes();
    ArchiveReport report;
    const auto c = Compression::parse("zstd:3", nullptr);
    ASSERT_TRUE(archive_wal_bytes(m_storage, m_encoder, *c, k_segment, data.data(), data.size(), report).is_ok());
    EXPECT_FALSE(report.already_archived);
    ObjectMeta meta;
    EXPECT_EQ(decoded(k_segment_key, &meta), data);
    EXPECT_EQ(meta.name, k_segment);
    ASSERT_TRUE(archive(k_segment, source(k_segment, data), report).is_ok());
    EXPECT_TRUE(report.already_archived);
    std::vector<uint8_t> other = data;
    other[12345] ^= 1;
    const Status s = archive_wal_bytes(m_storage, m_encoder, *c, k_segment, other.data(), other.size(), report);
    EXPECT_EQ(s.code(), Code::conflict);
    EXPECT_NE(s.message().find("is already archived with different content: archived sha256 " + sha_of(data)),
        std::string::npos)
        << s.message();
}

}  // namespace
}  // namespace walvault
