// Unit tests for core/repo/object_io: reading objects from a repository through the decoder (whole check,
// fast check with its second pass for older objects, damage reported with the object's location) and
// reading a trailer alone.
#include "core/repo/object_io.h"

#include "core/codec/age.h"
#include "core/codec/xxh3.h"
#include "core/storage/posix/posix_storage.h"
#include "test/unit/test_support.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace walvault {
namespace {

using test::encode_object;
using test::k_block_header_bytes;
using test::k_mib;
using test::k_object_name;
using test::k_raw_frame_header_bytes;
using test::TempDir;

class ObjectIo : public ::testing::Test {
protected:
    void place(const std::string& key, const std::vector<uint8_t>& object)
    {
        WV_ASSERT_OK(make_directories(m_dir.path() + "/" + key.substr(0, key.rfind('/'))));
        test::write_file(m_dir / key, object);
    }

    TempDir m_dir;
    PosixStorage m_storage{m_dir.path()};
    const std::string m_key = "wal/0000000100000000/000000010000000000000003.zst";
};

TEST_F(ObjectIo, DecodeObject)
{
    const std::vector<uint8_t> data = test::compressible_bytes(3 * k_mib + 5);
    const std::vector<uint8_t> object = encode_object("zstd:3", data);
    place(m_key, object);

    std::vector<uint8_t> out;
    ObjectMeta meta;
    WV_ASSERT_OK(decode_object(m_storage, m_key, test::vector_sink(out), meta));
    EXPECT_TRUE(out == data);
    EXPECT_EQ(meta.name, k_object_name);
    EXPECT_EQ(meta.length, data.size());
    EXPECT_EQ(meta.sha256, sha256_hex(data.data(), data.size()));
    EXPECT_EQ(meta.compression, "zstd:3");

    // A pure check: the bytes can be thrown away.
    WV_EXPECT_OK(decode_object(
        m_storage, m_key, [](const uint8_t*, size_t) { return Status::ok(); }, meta));
}

TEST_F(ObjectIo, DecodeObjectFast)
{
    const std::vector<uint8_t> data = test::compressible_bytes(3 * k_mib + 5);
    const std::vector<uint8_t> object = encode_object("zstd:3", data);
    int restarts = 0;
    std::vector<uint8_t> out;
    auto restart = [&] {
        ++restarts;
        out.clear();
        return Status::ok();
    };

    // An object with xxh3_128: one pass.
    place(m_key, object);
    ObjectMeta meta;
    WV_ASSERT_OK(decode_object_fast(m_storage, m_key, test::vector_sink(out), restart, meta));
    EXPECT_TRUE(out == data);
    EXPECT_EQ(restarts, 0);
    EXPECT_EQ(meta.xxh3_128, xxh3_128_hex(data.data(), data.size()));
    EXPECT_EQ(meta.sha256, sha256_hex(data.data(), data.size()));

    // An older walvault's object: a second pass, checked by the sha256, after the caller discarded the first.
    const std::vector<uint8_t> old = test::without_xxh3(object);
    place(m_key, old);
    out.clear();
    WV_ASSERT_OK(decode_object_fast(m_storage, m_key, test::vector_sink(out), restart, meta));
    EXPECT_EQ(restarts, 1);
    EXPECT_TRUE(out == data) << out.size() << " bytes of " << data.size();
    EXPECT_EQ(meta.xxh3_128, "");

    // ... with a byte changed in a raw block (no zstd checksum there): the second pass's sha256 finds it, and
    // the error names the object.
    std::vector<uint8_t> old_damaged = test::without_xxh3(encode_object("none", data));
    old_damaged[k_raw_frame_header_bytes + k_block_header_bytes + 1000] ^= 0x10;  // in the first block's payload
    place(m_key, old_damaged);
    restarts = 0;
    Status s = decode_object_fast(m_storage, m_key, test::vector_sink(out), restart, meta);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message().rfind("object \"" + m_dir.path() + "/" + m_key + "\": content does not match", 0), 0u)
        << s.message();
    EXPECT_NE(s.message().find("bytes with sha256"), std::string::npos) << s.message();
    EXPECT_EQ(restarts, 1);

    // A restart that fails ends the decode with its own error.
    place(m_key, old);
    s = decode_object_fast(
        m_storage, m_key, test::vector_sink(out), [] { return Status::error(Code::io_error, "no rewind"); }, meta);
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_EQ(s.message(), "no rewind");
}

TEST_F(ObjectIo, DecodeObjectReportsDamageWithTheLocation)
{
    std::vector<uint8_t> object = encode_object("zstd:3", test::compressible_bytes(100000));
    object.resize(object.size() - 1);
    place(m_key, object);
    ObjectMeta meta;
    const Status s = decode_object(
        m_storage, m_key, [](const uint8_t*, size_t) { return Status::ok(); }, meta);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message().rfind("object \"" + m_dir.path() + "/" + m_key + "\": ", 0), 0u) << s.message();
}

TEST_F(ObjectIo, DecodeObjectMissingIsNotFound)
{
    ObjectMeta meta;
    std::vector<uint8_t> out;
    const Status s = decode_object(m_storage, m_key, test::vector_sink(out), meta);
    EXPECT_EQ(s.code(), Code::not_found);
    EXPECT_EQ(s.message().rfind("could not open file \"", 0), 0u) << s.message();
}

TEST_F(ObjectIo, ReadObjectMeta)
{
    for (const auto& data : {test::random_bytes(2 * k_mib, 4), std::vector<uint8_t>{}, test::to_bytes("x")}) {
        const std::vector<uint8_t> object = encode_object("none", data);
        TempDir dir;
        PosixStorage storage(dir.path());
        WV_ASSERT_OK(make_directories(dir / "wal/0000000100000000"));
        test::write_file(dir / m_key, object);
        ObjectMeta meta;
        WV_ASSERT_OK(read_object_meta(storage, m_key, meta));
        EXPECT_EQ(meta.format, k_object_format);
        EXPECT_EQ(meta.name, k_object_name);
        EXPECT_EQ(meta.length, data.size());
        EXPECT_EQ(meta.sha256, sha256_hex(data.data(), data.size()));
        EXPECT_EQ(meta.compression, "none");
    }
}

TEST_F(ObjectIo, ReadObjectMetaOfBrokenAndMissingObjects)
{
    ObjectMeta meta;
    EXPECT_EQ(read_object_meta(m_storage, m_key, meta).code(), Code::not_found);

    place(m_key, test::to_bytes("tiny"));
    Status s = read_object_meta(m_storage, m_key, meta);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message(),
        "object \"" + m_dir.path() + "/" + m_key + "\": object has no valid metadata trailer: object too short");

    std::vector<uint8_t> object = encode_object("zstd:1", test::compressible_bytes(50000));
    object.resize(object.size() - 3);
    place(m_key, object);
    s = read_object_meta(m_storage, m_key, meta);
    EXPECT_EQ(s.code(), Code::corrupt);
    EXPECT_EQ(s.message(),
        "object \"" + m_dir.path() + "/" + m_key + "\": object has no valid metadata trailer: footer magic missing");
}

// ---- encrypted objects -----------------------------------------------------------------------------------

// An object encrypted with the age stage (core/codec/age) for a fresh identity.
std::vector<uint8_t> encrypt_object(const std::vector<uint8_t>& plain_object, const AgeIdentity& id)
{
    AgeEncryptStage stage({age_recipient_of(id)});
    std::vector<uint8_t> out;
    stage.begin(test::vector_sink(out));
    Status s = stage.update(plain_object.data(), plain_object.size());
    if (s.is_ok())
        s = stage.finish();
    EXPECT_TRUE(s.is_ok()) << s.message();
    return out;
}

TEST_F(ObjectIo, EncryptedObjectsAreReadWithTheProcessIdentities)
{
    AgeIdentity id;
    WV_ASSERT_OK(age_generate_identity(id));
    const std::vector<uint8_t> data = test::compressible_bytes(3 * k_mib + 5);
    const std::vector<uint8_t> plain_object = encode_object("zstd:3", data);
    place(m_key, encrypt_object(plain_object, id));
    const std::string plain_key = "wal/0000000100000000/000000010000000000000004.zst";
    place(plain_key, plain_object);

    // No identity: the encrypted object fails saying so; the plain one is read.
    set_object_identities({});
    EXPECT_FALSE(have_object_identities());
    std::vector<uint8_t> out;
    ObjectMeta meta;
    Status s = decode_object(m_storage, m_key, test::vector_sink(out), meta);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(),
        "object \"" + m_storage.location(m_key) +
            "\": the object is encrypted and no identity was given to decrypt it");
    out.clear();
    WV_ASSERT_OK(decode_object(m_storage, plain_key, test::vector_sink(out), meta));
    EXPECT_TRUE(out == data);

    // With it: both, whole and fast, and the trailer of the encrypted one.
    set_object_identities({id});
    EXPECT_TRUE(have_object_identities());
    out.clear();
    WV_ASSERT_OK(decode_object(m_storage, m_key, test::vector_sink(out), meta));
    EXPECT_TRUE(out == data);
    out.clear();
    WV_ASSERT_OK(decode_object_fast(
        m_storage, m_key, test::vector_sink(out),
        [&] {
            out.clear();
            return Status::ok();
        },
        meta));
    EXPECT_TRUE(out == data);
    ObjectMeta trailer;
    WV_ASSERT_OK(read_object_meta(m_storage, m_key, trailer));
    EXPECT_EQ(trailer.name, k_object_name);
    EXPECT_EQ(trailer.length, data.size());
    out.clear();
    WV_ASSERT_OK(decode_object(m_storage, plain_key, test::vector_sink(out), meta));
    EXPECT_TRUE(out == data);

    // Another identity only: no match, as the stage says.
    AgeIdentity other;
    WV_ASSERT_OK(age_generate_identity(other));
    set_object_identities({other});
    s = decode_object(m_storage, m_key, test::vector_sink(out), meta);
    EXPECT_EQ(s.code(), Code::invalid);
    EXPECT_EQ(s.message(),
        "object \"" + m_storage.location(m_key) + "\": no identity in the identity file matches this encrypted object");
    set_object_identities({});
}

// reencrypt_object: the same object for another recipient, in place, with the note's content carried over and
// the new recipient's fingerprint; a damaged object, or no identity, leaves it exactly as it was.
TEST_F(ObjectIo, ReencryptObjectForAnotherRecipient)
{
    AgeIdentity old_id, new_id;
    WV_ASSERT_OK(age_generate_identity(old_id));
    WV_ASSERT_OK(age_generate_identity(new_id));
    const std::vector<uint8_t> data = test::compressible_bytes(k_mib + 7);
    place(m_key, encrypt_object(encode_object("zstd:3", data), old_id));
    const std::vector<AgeRecipient> to_new{age_recipient_of(new_id)};
    bool encrypted = false;
    bool found = false;
    AgeNote note;
    WV_ASSERT_OK(read_object_note(m_storage, m_key, encrypted, note, found));
    EXPECT_TRUE(encrypted);

    set_object_identities({});
    ObjectMeta meta;
    EXPECT_EQ(reencrypt_object(m_storage, m_key, to_new, note, meta).code(), Code::invalid);

    // A flipped byte: refused, the object unchanged.
    const std::vector<uint8_t> good = test::read_file(m_dir / m_key);
    std::vector<uint8_t> bad = good;
    bad[bad.size() / 2] ^= 1;
    place(m_key, bad);
    set_object_identities({old_id});
    EXPECT_EQ(reencrypt_object(m_storage, m_key, to_new, note, meta).code(), Code::corrupt);
    EXPECT_TRUE(test::read_file(m_dir / m_key) == bad);

    place(m_key, good);
    WV_ASSERT_OK(reencrypt_object(m_storage, m_key, to_new, note, meta));
    EXPECT_EQ(meta.length, data.size());
    WV_ASSERT_OK(read_object_note(m_storage, m_key, encrypted, note, found));
    ASSERT_TRUE(found);
    EXPECT_EQ(note.recipients, std::vector<std::string>{age_recipient_fingerprint(to_new[0])});
    EXPECT_TRUE(note.has_content);  // a WAL object: the trailer's length and xxh3_128
    EXPECT_EQ(note.length, data.size());
    EXPECT_EQ(note.xxh3_128, xxh3_128_hex(data.data(), data.size()));

    std::vector<uint8_t> out;
    EXPECT_EQ(decode_object(m_storage, m_key, test::vector_sink(out), meta).code(), Code::invalid);  // old: no more
    set_object_identities({new_id});
    out.clear();
    WV_ASSERT_OK(decode_object(m_storage, m_key, test::vector_sink(out), meta));
    EXPECT_TRUE(out == data);
    set_object_identities({});
}

}  // namespace
}  // namespace walvault
