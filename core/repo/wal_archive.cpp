// One WAL file into the repository. The existence check comes first: re-archiving after a crash or a
// failover is common, and comparing checksums is cheaper than compressing again.
#include "core/repo/wal_archive.h"

#include "core/codec/sha256.h"
#include "core/repo/layout.h"
#include "core/repo/object_io.h"
#include "core/wal/wal_name.h"

namespace walvault {
namespace {

// The object under key exists: succeed if it holds exactly the file at path, fail loudly otherwise.
Status compare_with_archived(
    Storage& storage, const std::string& key, const std::string& name, const std::string& path, ArchiveReport& report)
{
    std::string local_sha;
    uint64_t local_len = 0;
    Status s = sha256_file(path, local_sha, local_len);
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
    if (meta.sha256 != local_sha || meta.length != local_len || meta.name != name)
        return Status::error(Code::conflict,
            "\"" + name + "\" is already archived with different content: archived sha256 " + meta.sha256 + " (" +
                std::to_string(meta.length) + " bytes), local sha256 " + local_sha + " (" + std::to_string(local_len) +
                " bytes)",
            "Two clusters may be archiving into one repository, or a cluster was restored without "
            "moving to a new timeline. walvault never overwrites an archived file.");
    report.bytes_in = local_len;
    report.bytes_out = 0;
    report.already_archived = true;
    return storage.sync(key);
}

}  // namespace

Status archive_wal_file(Storage& storage, Encoder& encoder, const Compression& compression, const std::string& name,
    const std::string& path, ArchiveReport& report)
{
    report = ArchiveReport{};
    const auto wal = parse_wal_name(name);
    if (!wal)
        return Status::error(Code::invalid, "\"" + name + "\" is not a WAL file name");
    const std::string key = wal_object_key(*wal);

    ObjectInfo info;
    Status s = storage.head(key, info);
    if (s.is_ok())
        return compare_with_archived(storage, key, name, path, report);
    if (s.code() != Code::not_found)
        return s;

    std::unique_ptr<Writer> writer;
    s = storage.create(key, writer);
    if (!s.is_ok())
        return s;
    EncodeResult encoded;
    s = encode_file(
        encoder, compression, path, name, [&](const uint8_t* d, size_t n) { return writer->write(d, n); }, encoded);
    if (!s.is_ok()) {
        writer->abort();
        return s;
    }
    s = writer->commit();
    if (s.code() == Code::already_exists) {
        writer->abort();
        return compare_with_archived(storage, key, name, path, report);
    }
    if (!s.is_ok()) {
        writer->abort();
        return s;
    }
    report.bytes_in = encoded.bytes_in;
    report.bytes_out = encoded.bytes_out;
    return Status::ok();
}

}  // namespace walvault
