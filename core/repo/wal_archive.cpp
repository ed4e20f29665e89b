// One WAL file into the repository. The existence check comes first: re-archiving after a crash or a
// failover is common, and comparing checksums is cheaper than compressing again.
#include "core/repo/wal_archive.h"

#include "core/codec/sha256.h"
#include "core/codec/xxh3.h"
#include "core/common/file_io.h"
#include "core/repo/layout.h"
#include "core/repo/object_io.h"
#include "core/wal/wal_name.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>

namespace walvault {
namespace {

constexpr size_t k_hash_chunk = 1 << 20;
constexpr std::chrono::milliseconds k_first_busy_pause{20};  // between looks at another writer's object
constexpr std::chrono::milliseconds k_max_busy_pause{500};

// What is archived: a file, or bytes in memory.
struct WalSource {
    const std::string* path = nullptr;
    const uint8_t* data = nullptr;
    size_t len = 0;

    Status local_sha256(std::string& sha, uint64_t& length) const
    {
        if (path != nullptr)
            return sha256_file(*path, sha, length);
        sha = sha256_hex(data, len);
        length = len;
        return Status::ok();
    }

    Status local_xxh3(std::string& hex, uint64_t& length) const
    {
        if (path == nullptr) {
            hex = xxh3_128_hex(data, len);
            length = len;
            return Status::ok();
        }
        Xxh3Hash h;
        Status s = read_file_chunks(
            *path, k_hash_chunk,
            [&](const uint8_t* d, size_t n) {
                h.update(d, n);
                return Status::ok();
            },
            length);
        if (s.is_ok())
            hex = h.finish_hex();
        return s;
    }

    Status encode(Encoder& encoder, const Compression& compression, const std::string& name, const ByteSink& out,
        EncodeResult& result) const
    {
        if (path != nullptr)
            return encode_file(encoder, compression, *path, name, out, result);
        Status s = encoder.begin(compression, out, len);
        if (s.is_ok())
            s = encoder.update(data, len);
        if (s.is_ok())
            s = encoder.finish(name, result);
        return s;
    }
};

// A checksum and a length.
struct Digest {
    const std::string& sum;
    uint64_t length;
};

// The end of a comparison of a local file with its archived copy: a conflict naming both checksums (of
// `algorithm`), or the archived copy made durable again and the file reported archived.
Status same_or_conflict(Storage& storage, const std::string& key, const std::string& name, const char* algorithm,
    const Digest& archived, const Digest& local, bool same, ArchiveReport& report)
{
    if (!same)
        return Status::error(Code::conflict,
            "\"" + name + "\" is already archived with different content: archived " + algorithm + " " + archived.sum +
                " (" + std::to_string(archived.length) + " bytes), local " + algorithm + " " + local.sum + " (" +
                std::to_string(local.length) + " bytes)",
            "Two clusters may be archiving into one repository, or a cluster was restored without "
            "moving to a new timeline. walvault never overwrites an archived file.");
    report.bytes_in = local.length;
    report.bytes_out = 0;
    report.already_archived = true;
    return storage.sync(key);
}

// The archived object is an age file whose note records its content: compare with that (no identity needed).
// compared: whether the note could say; if not, the caller decodes the object.
Status compare_by_note(Storage& storage, const std::string& key, const std::string& name, const WalSource& source,
    ArchiveReport& report, bool& compared)
{
    compared = false;
    bool encrypted = false;
    bool found = false;
    AgeNote note;
    Status s = read_object_note(storage, key, encrypted, note, found);
    if (s.code() != Code::corrupt && !s.is_ok())
        return s;
    if (!s.is_ok() || !encrypted || !found || !note.has_content)
        return Status::ok();  // plain, damaged or without content: the decoder tells what it is
    std::string local;
    uint64_t local_len = 0;
    s = source.local_xxh3(local, local_len);
    if (!s.is_ok())
        return s;
    compared = true;
    return same_or_conflict(storage, key, name, "XXH3-128", {note.xxh3_128, note.length}, {local, local_len},
        note.xxh3_128 == local && note.length == local_len, report);
}

// The object under key exists: succeed if it holds exactly the source's bytes, fail loudly otherwise.
Status compare_with_archived(
    Storage& storage, const std::string& key, const std::string& name, const WalSource& source, ArchiveReport& report)
{
    bool compared = false;
    Status s = compare_by_note(storage, key, name, source, report, compared);
    if (compared || !s.is_ok())
        return s;
    std::string local_sha;
    uint64_t local_len = 0;
    s = source.local_sha256(local_sha, local_len);
    if (!s.is_ok())
        return s;
    ObjectMeta meta;
    s = decode_object(
        storage, key, [](const uint8_t*, size_t) { return Status::ok(); }, meta);
    if (s.code() == Code::corrupt)
        return Status::error(Code::conflict,
            "\"" + name + "\" is already archived but the archived copy is damaged: " + s.message(),
            "walvault never overwrites an archived file. Check the storage, then move the damaged "
            "object away so that the file can be archived again.");
    if (s.code() == Code::invalid && !have_object_identities())
        return Status::error(Code::conflict,
            "\"" + name +
                "\" is already archived, encrypted, and this process holds no identity to compare it with "
                "the file",
            "walvault never overwrites an archived file. Compare them with walvault wal-push "
            "--encryption-identity-file; if they are the same, the file is archived.");
    if (!s.is_ok())
        return s;
    return same_or_conflict(storage, key, name, "sha256", {meta.sha256, meta.length}, {local_sha, local_len},
        meta.sha256 == local_sha && meta.length == local_len && meta.name == name, report);
}

Status archive_wal_source(Storage& storage, Encoder& encoder, const Compression& compression, const std::string& name,
    const WalSource& source, ArchiveReport& report, const std::vector<AgeRecipient>& recipients,
    std::chrono::milliseconds busy_wait)
{
    report = ArchiveReport{};
    const auto wal = parse_wal_name(name);
    if (!wal)
        return Status::error(Code::invalid, "\"" + name + "\" is not a WAL file name");
    const std::string key = wal_object_key(*wal);

    // Another writer of the same object (the archive module and walvault receive both store a segment as
    // it completes) is waited for: once it is done, its object is compared like any archived copy, or, if it
    // gave up, this writer takes its place.
    std::unique_ptr<Writer> writer;
    const auto give_up = std::chrono::steady_clock::now() + busy_wait;
    auto pause = k_first_busy_pause;
    Status s;
    for (;;) {
        ObjectInfo info;
        s = storage.head(key, info);
        if (s.is_ok())
            return compare_with_archived(storage, key, name, source, report);
        if (s.code() != Code::not_found)
            return s;
        s = storage.create(key, writer);
        if (s.code() != Code::busy || std::chrono::steady_clock::now() + pause > give_up)
            break;
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, k_max_busy_pause);
    }
    if (!s.is_ok())
        return s;

    // With recipients: a stage, and so a file key, of this file's own, whose note records the content.
    std::optional<AgeEncryptStage> cipher;
    if (!recipients.empty()) {
        std::string xxh3;
        uint64_t length = 0;
        s = source.local_xxh3(xxh3, length);
        if (!s.is_ok()) {
            writer->abort();
            return s;
        }
        cipher.emplace(recipients);
        cipher->set_content(length, std::move(xxh3));
    }
    struct StageScope {
        Encoder& encoder;
        StageScope(Encoder& e, ByteStage* stage)
            : encoder(e)
        {
            encoder.set_stage(stage);
        }
        ~StageScope() { encoder.set_stage(nullptr); }
        StageScope(const StageScope&) = delete;
        StageScope& operator=(const StageScope&) = delete;
    } scope(encoder, cipher ? &*cipher : nullptr);

    EncodeResult encoded;
    s = source.encode(
        encoder, compression, name, [&](const uint8_t* d, size_t n) { return writer->write(d, n); }, encoded);
    if (!s.is_ok()) {
        writer->abort();
        return s;
    }
    s = writer->commit();
    if (s.code() == Code::already_exists) {
        writer->abort();
        return compare_with_archived(storage, key, name, source, report);
    }
    if (!s.is_ok()) {
        writer->abort();
        return s;
    }
    report.bytes_in = encoded.bytes_in;
    report.bytes_out = encoded.bytes_out;
    return Status::ok();
}

}  // namespace

Status archive_wal_file(Storage& storage, Encoder& encoder, const Compression& compression, const std::string& name,
    const std::string& path, ArchiveReport& report, const std::vector<AgeRecipient>& recipients,
    std::chrono::milliseconds busy_wait)
{
    WalSource source;
    source.path = &path;
    return archive_wal_source(storage, encoder, compression, name, source, report, recipients, busy_wait);
}

Status archive_wal_bytes(Storage& storage, Encoder& encoder, const Compression& compression, const std::string& name,
    const uint8_t* data, size_t len, ArchiveReport& report, const std::vector<AgeRecipient>& recipients,
    std::chrono::milliseconds busy_wait)
{
    WalSource source;
    source.data = data;
    source.len = len;
    return archive_wal_source(storage, encoder, compression, name, source, report, recipients, busy_wait);
}

Status write_object_bytes(Storage& storage, Encoder& encoder, const Compression& compression, const std::string& key,
    const std::string& name, const uint8_t* data, size_t len, EncodeResult& result)
{
    std::unique_ptr<Writer> writer;
    Status s = storage.create(key, writer);
    if (!s.is_ok())
        return s;
    WalSource source;
    source.data = data;
    source.len = len;
    s = source.encode(
        encoder, compression, name, [&](const uint8_t* d, size_t n) { return writer->write(d, n); }, result);
    if (s.is_ok())
        s = writer->commit();
    if (!s.is_ok())
        writer->abort();
    return s;
}

}  // namespace walvault
