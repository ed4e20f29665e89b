// Unit tests for core/repo/identity: the identity JSON, and ensure_identity writing it once and then
// refusing a repository of another database system or segment size, on a temporary PosixStorage.
#include "core/repo/identity.h"

#include "core/repo/layout.h"
#include "core/storage/posix/posix_storage.h"
#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace walvault {
namespace {

using test::TempDir;

constexpr uint64_t k_sysid = 7312345678901234567ULL;
constexpr uint64_t k_16mib = 16ULL * 1024 * 1024;
constexpr const char* k_other_cluster_hint =
    "Each cluster needs its own repository: point walvault.repo at another location.";

RepoIdentity sample_identity()
{
    RepoIdentity id;
    id.system_identifier = k_sysid;
    id.pg_major = 16;
    id.wal_segment_size = k_16mib;
    id.created = "2024-05-01T12:00:00Z";
    return id;
}

std::string json_with(const std::string& format, const std::string& sysid)
{
    return "{\"format\": " + format + ", \"system_identifier\": " + sysid +
        ", \"pg_major\": 16, \"wal_segment_size\": 16777216, \"created\": \"2024-05-01T12:00:00Z\"}";
}

TEST(IdentityJson, ExactText)
{
    EXPECT_EQ(identity_to_json(sample_identity()),
        "{\n"
        "  \"format\": 1,\n"
        "  \"system_identifier\": \"7312345678901234567\",\n"
        "  \"pg_major\": 16,\n"
        "  \"wal_segment_size\": 16777216,\n"
        "  \"created\": \"2024-05-01T12:00:00Z\"\n"
        "}\n");
}

TEST(IdentityJson, RoundTrip)
{
    const RepoIdentity id = sample_identity();
    RepoIdentity back;
    WV_ASSERT_OK(identity_from_json(identity_to_json(id), back));
    EXPECT_EQ(back.format, k_repository_format);
    EXPECT_EQ(back.system_identifier, 7312345678901234567ULL);
    EXPECT_EQ(back.pg_major, 16);
    EXPECT_EQ(back.wal_segment_size, k_16mib);
    EXPECT_EQ(back.created, "2024-05-01T12:00:00Z");

    // Identifiers beyond 2^53 (where doubles lose digits) and the largest one survive exactly.
    for (uint64_t sysid : {uint64_t{1}, (uint64_t{1} << 53) + 1, ~uint64_t{0}}) {
        RepoIdentity other = id;
        other.system_identifier = sysid;
        other.wal_segment_size = 1ULL << 30;
        WV_ASSERT_OK(identity_from_json(identity_to_json(other), back));
        EXPECT_EQ(back.system_identifier, sysid);
        EXPECT_EQ(back.wal_segment_size, 1ULL << 30);
    }
}

TEST(IdentityJson, CreatedIsOptional)
{
    RepoIdentity back;
    back.created = "stale";
    WV_ASSERT_OK(identity_from_json(
        "{\"format\":1,\"system_identifier\":\"42\",\"pg_major\":15,\"wal_segment_size\":1048576}", back));
    EXPECT_EQ(back.system_identifier, 42u);
    EXPECT_EQ(back.pg_major, 15);
    EXPECT_EQ(back.wal_segment_size, 1048576u);
    EXPECT_EQ(back.created, "");
}

TEST(IdentityJson, GarbageIsCorrupt)
{
    const std::pair<std::string, std::string> cases[] = {
        {"", "not a JSON object"},
        {"garbage", "not a JSON object"},
        {"{\"format\": 1,", "not a JSON object"},
        {"[1, 2, 3]", "not a JSON object"},
        {"\"7312345678901234567\"", "not a JSON object"},
        {"{}", "fields missing"},
        {json_with("1", "7312345678901234567"), "fields missing"},  // a number, not a string
        {json_with("\"1\"", "\"7312345678901234567\""), "fields missing"},
        {"{\"format\":1,\"system_identifier\":\"1\",\"pg_major\":16}", "fields missing"},
        {"{\"format\":1,\"system_identifier\":\"1\",\"pg_major\":16,\"wal_segment_size\":-1}", "fields missing"},
        {json_with("1", "\"\""), "system_identifier is not a number"},
        {json_with("1", "\"abc\""), "system_identifier is not a number"},
        {json_with("1", "\"123abc\""), "system_identifier is not a number"},
        {json_with("1", "\"99999999999999999999\""), "system_identifier is not a number"},
    };
    for (const auto& [text, why] : cases) {
        RepoIdentity out;
        const Status s = identity_from_json(text, out);
        EXPECT_EQ(s.code(), Code::corrupt) << text;
        EXPECT_EQ(s.message(), "repository identity is invalid: " + why) << text;
    }
}

TEST(IdentityJson, NegativeSystemIdentifierIsCorrupt)
{
    // std::stoull accepts "-1" and wraps it to 18446744073709551615; a negative identifier is not a number
    // pg_control could hold.
    for (const char* sysid : {"\"-1\"", "\"-7312345678901234567\""}) {
        RepoIdentity out;
        const Status s = identity_from_json(json_with("1", sysid), out);
        EXPECT_EQ(s.code(), Code::corrupt) << sysid << " read as " << out.system_identifier;
        EXPECT_EQ(s.message(), "repository identity is invalid: system_identifier is not a number") << sysid;
    }
}

TEST(IdentityJson, NewerFormatIsInvalid)
{
    RepoIdentity out;
    const Status s = identity_from_json(json_with("2", "\"7312345678901234567\""), out);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "repository format 2 is newer than this walvault understands (1)");
    EXPECT_EQ(s.hint(), "Upgrade walvault.");
}

class IdentityStorage : public ::testing::Test {
protected:
    std::string identity_path() const { return m_dir / k_identity_key; }

    TempDir m_dir;
    PosixStorage m_storage{m_dir.path()};
};

TEST_F(IdentityStorage, ReadIdentityOfAnEmptyRepositoryIsNotFound)
{
    RepoIdentity out;
    EXPECT_EQ(read_identity(m_storage, out).code(), Code::not_found);
}

TEST_F(IdentityStorage, FirstUseWritesTheIdentity)
{
    RepoIdentity ours = sample_identity();
    ours.created.clear();  // filled in when written
    RepoIdentity found;
    WV_ASSERT_OK(ensure_identity(m_storage, ours, &found));
    EXPECT_EQ(found.system_identifier, k_sysid);
    EXPECT_EQ(found.wal_segment_size, k_16mib);
    EXPECT_EQ(found.pg_major, 16);
    EXPECT_TRUE(std::regex_match(found.created, std::regex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")))
        << found.created;

    // Plain JSON, readable with cat, exactly what identity_to_json gives.
    EXPECT_EQ(test::to_string(test::read_file(identity_path())), identity_to_json(found));
    EXPECT_EQ(test::dir_entries(m_dir.path()), std::vector<std::string>{"identity.json"});

    RepoIdentity read;
    WV_ASSERT_OK(read_identity(m_storage, read));
    EXPECT_EQ(read.system_identifier, k_sysid);
    EXPECT_EQ(read.created, found.created);
}

TEST_F(IdentityStorage, KeepsAGivenCreationTime)
{
    WV_ASSERT_OK(ensure_identity(m_storage, sample_identity()));
    EXPECT_EQ(test::to_string(test::read_file(identity_path())), identity_to_json(sample_identity()));
}

TEST_F(IdentityStorage, SameSystemIsAccepted)
{
    WV_ASSERT_OK(ensure_identity(m_storage, sample_identity()));
    const std::vector<uint8_t> before = test::read_file(identity_path());

    RepoIdentity again = sample_identity();
    again.created = "2030-01-01T00:00:00Z";
    RepoIdentity found;
    WV_ASSERT_OK(ensure_identity(m_storage, again, &found));
    EXPECT_EQ(found.created, "2024-05-01T12:00:00Z");  // the stored identity, not ours
    WV_ASSERT_OK(ensure_identity(m_storage, again));
    EXPECT_EQ(test::read_file(identity_path()), before);
}

TEST_F(IdentityStorage, OtherSystemIsAConflict)
{
    WV_ASSERT_OK(ensure_identity(m_storage, sample_identity()));
    const std::vector<uint8_t> before = test::read_file(identity_path());

    RepoIdentity other = sample_identity();
    other.system_identifier = 7312345678901234568ULL;
    RepoIdentity found;
    const Status s = ensure_identity(m_storage, other, &found);
    EXPECT_EQ(s.code(), Code::conflict);
    EXPECT_EQ(s.message(),
        "repository \"" + m_dir.path() +
            "\" belongs to database system 7312345678901234567, not to this one "
            "(7312345678901234568)");
    EXPECT_EQ(s.hint(), k_other_cluster_hint);
    EXPECT_EQ(found.system_identifier, k_sysid);
    EXPECT_EQ(test::read_file(identity_path()), before);
}

TEST_F(IdentityStorage, OtherSegmentSizeIsAConflict)
{
    WV_ASSERT_OK(ensure_identity(m_storage, sample_identity()));
    const std::vector<uint8_t> before = test::read_file(identity_path());

    RepoIdentity other = sample_identity();
    other.wal_segment_size = 64ULL * 1024 * 1024;
    const Status s = ensure_identity(m_storage, other);
    EXPECT_EQ(s.code(), Code::conflict);
    EXPECT_EQ(s.message(),
        "repository \"" + m_dir.path() + "\" holds WAL segments of 16777216 bytes, this cluster writes 67108864");
    EXPECT_EQ(s.hint(), k_other_cluster_hint);
    EXPECT_EQ(test::read_file(identity_path()), before);
}

TEST_F(IdentityStorage, AnotherFirstWriterInProgressIsBusy)
{
    // Another process is writing the identity right now and has not committed yet: there is nothing to
    // compare with, so the answer is "try again later" (Code::busy), not "not found".
    std::unique_ptr<Writer> other;
    WV_ASSERT_OK(m_storage.create(k_identity_key, other));
    const std::string text = identity_to_json(sample_identity());
    WV_ASSERT_OK(other->write(reinterpret_cast<const uint8_t*>(text.data()), text.size()));

    const Status s = ensure_identity(m_storage, sample_identity());
    EXPECT_EQ(s.code(), Code::busy) << s.message();

    // Once the other writer is done, the same system is accepted and another one refused.
    WV_ASSERT_OK(other->commit());
    other.reset();
    WV_EXPECT_OK(ensure_identity(m_storage, sample_identity()));
    RepoIdentity another = sample_identity();
    another.system_identifier = 1;
    EXPECT_EQ(ensure_identity(m_storage, another).code(), Code::conflict);
}

TEST_F(IdentityStorage, NewerFormatOnDiskIsInvalid)
{
    const std::string text = json_with("2", "\"7312345678901234567\"");
    test::write_file(identity_path(), text);
    const Status s = ensure_identity(m_storage, sample_identity());
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(
        s.message(), "\"" + identity_path() + "\": repository format 2 is newer than this walvault understands (1)");
    EXPECT_EQ(s.hint(), "Upgrade walvault.");
    EXPECT_EQ(test::to_string(test::read_file(identity_path())), text);
}

TEST_F(IdentityStorage, GarbageOnDiskIsCorrupt)
{
    test::write_file(identity_path(), std::string("this is not json"));
    const Status s = ensure_identity(m_storage, sample_identity());
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message(), "\"" + identity_path() + "\": repository identity is invalid: not a JSON object");
    EXPECT_EQ(test::to_string(test::read_file(identity_path())), "this is not json");

    RepoIdentity out;
    EXPECT_EQ(read_identity(m_storage, out).code(), Code::corrupt);
}

TEST_F(IdentityStorage, OversizedIdentityIsCorrupt)
{
    test::write_file(identity_path(), std::string(100 * 1024, ' '));
    RepoIdentity out;
    const Status s = read_identity(m_storage, out);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message(), "repository identity is larger than 64 kB");
}

// ---- encryption ------------------------------------------------------------------------------------------

RepoIdentity encrypted_identity(std::vector<std::string> fingerprints)
{
    RepoIdentity id = sample_identity();
    set_identity_encryption(id, fingerprints);
    return id;
}

TEST(IdentityJson, EncryptionFieldsOnlyWhenEncrypted)
{
    EXPECT_EQ(identity_to_json(sample_identity()).find("encryption"), std::string::npos);
    const RepoIdentity id = encrypted_identity({"ffff000011112222", "0123456789abcdef", "ffff000011112222"});
    EXPECT_EQ(id.recipients, (std::vector<std::string>{"0123456789abcdef", "ffff000011112222"}));  // sorted, once
    const std::string json = identity_to_json(id);
    EXPECT_NE(json.find("\"encryption\": \"age\",\n  \"recipients\": [\n    \"0123456789abcdef\",\n    "
                        "\"ffff000011112222\"\n  ]"),
        std::string::npos)
        << json;
    RepoIdentity back;
    WV_ASSERT_OK(identity_from_json(json, back));
    EXPECT_EQ(back.encryption, "age");
    EXPECT_EQ(back.recipients, id.recipients);

    const Status s = identity_from_json(
        R"({"format":1,"system_identifier":"1","pg_major":15,"wal_segment_size":16777216,"encryption":"rot13",)"
        R"("recipients":["x"]})",
        back);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(), "repository identity records an encryption this walvault does not understand");
}

TEST_F(IdentityStorage, EncryptionMustAgreeWithTheRepository)
{
    TempDir plain_dir;
    PosixStorage plain{plain_dir.path()};
    WV_ASSERT_OK(ensure_identity(plain, sample_identity()));
    const RepoIdentity enc = encrypted_identity({"0123456789abcdef"});
    WV_ASSERT_OK(ensure_identity(m_storage, enc));
    WV_ASSERT_OK(ensure_identity(m_storage, enc));
    const std::vector<uint8_t> before = test::read_file(identity_path());

    Status s = ensure_identity(plain, enc);
    EXPECT_EQ(s.code(), Code::conflict);
    EXPECT_EQ(
        s.message(), "repository \"" + plain.location() + "\" is not encrypted, but encryption_recipients is set");
    s = ensure_identity(m_storage, sample_identity());
    EXPECT_EQ(s.code(), Code::conflict);
    EXPECT_EQ(s.message(),
        "repository \"" + m_storage.location() +
            "\" is encrypted (age, recipients 0123456789abcdef), but encryption_recipients is empty");
    EXPECT_EQ(s.hint(),
        "Set encryption_recipients to the repository's recipients: walvault writes no unencrypted object into an "
        "encrypted repository.");
    s = ensure_identity(m_storage, encrypted_identity({"0123456789abcdef", "fedcba9876543210"}));
    EXPECT_EQ(s.code(), Code::conflict);
    EXPECT_EQ(s.message(),
        "repository \"" + m_storage.location() +
            "\" is encrypted to the recipients 0123456789abcdef, but encryption_recipients has 0123456789abcdef, "
            "fedcba9876543210");
    EXPECT_EQ(test::read_file(identity_path()), before);
}

}  // namespace
}  // namespace walvault
