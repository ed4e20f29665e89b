// Writes PostgreSQL's backup_manifest byte for byte as the server does (src/backend/backup/backup_manifest.c:
// version 1 as 15 and 16 write it, version 2 as 17 and 18 do), so that pg_verifybackup accepts its
// Manifest-Checksum.
#include "core/pgdata/pg_backup_manifest.h"

#include "core/codec/sha256.h"
#include "core/common/text.h"
#include "core/wal/wal_name.h"

#include <cstdio>
#include <ctime>
#include <string_view>

#include <nlohmann/json.hpp>

namespace walvault {
namespace {

// The fixed pieces of the layout. Every file and WAL range is one line; the first entry of a list is
// preceded by "\n", the others by ",\n", and a list ends with "\n],\n". The Manifest-Checksum line is
// the last one and covers every byte before it (pg_verifybackup hashes up to the penultimate newline).
constexpr std::string_view k_version_start = "{ \"PostgreSQL-Backup-Manifest-Version\": ";
constexpr std::string_view k_system_identifier_start = "\"System-Identifier\": ";
constexpr std::string_view k_files_start = "\"Files\": [";
// The first server version that writes version 2.
constexpr int k_manifest_v2_server = 170000;
constexpr std::string_view k_list_end = "\n],\n";
constexpr std::string_view k_wal_ranges_start = "\"WAL-Ranges\": [\n";
constexpr std::string_view k_checksum_start = "\"Manifest-Checksum\": \"";
constexpr std::string_view k_checksum_end = "\"}\n";

// `path` as a JSON string literal, or false when it is not valid UTF-8. For valid UTF-8, nlohmann's
// serializer with ensure_ascii off escapes exactly what PostgreSQL's escape_json() does: \" \\ \b \f \n \r
// \t, other bytes below 0x20 as \u00xx in lower case, everything else verbatim. Its strict error handler
// rejects the same byte sequences as pg_verify_mbstr(PG_UTF8): overlong forms, surrogates, code points
// above U+10FFFF and truncated sequences.
bool json_string_literal(const std::string& path, std::string& out)
{
    try {
        out = nlohmann::json(path).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
        return true;
    } catch (const nlohmann::json::type_error&) {
        return false;
    }
}

// "YYYY-MM-DD HH:MM:SS GMT", as pg_strftime("%Y-%m-%d %H:%M:%S %Z", pg_gmtime(&mtime)) writes it.
// pg_verifybackup reads but never checks this field; a time gmtime_r cannot represent is written as the epoch.
std::string last_modified_text(int64_t mtime)
{
    std::tm tm{};
    const std::time_t t = static_cast<std::time_t>(mtime);
    if (::gmtime_r(&t, &tm) == nullptr) {
        const std::time_t epoch = 0;
        ::gmtime_r(&epoch, &tm);
    }
    char buf[64];
    const size_t len = std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S GMT", &tm);
    return std::string(buf, len);
}

void append_file_line(std::string& out, const PgManifestFile& file)
{
    std::string literal;
    if (json_string_literal(file.path, literal)) {
        out += "{ \"Path\": ";
        out += literal;
        out += ", ";
    } else {
        out += "{ \"Encoded-Path\": \"";
        out += hex_encode(file.path);
        out += "\", ";
    }
    out += "\"Size\": ";
    out += std::to_string(file.size);
    out += ", \"Last-Modified\": \"";
    out += last_modified_text(file.mtime);
    out += '"';
    // Like pg_basebackup --manifest-checksums=NONE when the caller has no checksum for the file.
    if (!file.checksum.empty()) {
        out += ", \"Checksum-Algorithm\": \"";
        out += file.checksum_algorithm;
        out += "\", \"Checksum\": \"";
        out += file.checksum;
        out += '"';
    }
    out += " }";
}

void append_wal_range_line(std::string& out, const PgManifestWalRange& range)
{
    out += "{ \"Timeline\": ";
    out += std::to_string(range.timeline);
    out += ", \"Start-LSN\": \"";
    out += format_lsn(range.start_lsn);
    out += "\", \"End-LSN\": \"";
    out += format_lsn(range.end_lsn);
    out += "\" }";
}

}  // namespace

PgManifestFormat pg_manifest_format_for(int server_version_num, uint64_t system_identifier)
{
    if (server_version_num >= k_manifest_v2_server)
        return {2, system_identifier};
    return {1, 0};
}

std::string pg_backup_manifest(const std::vector<PgManifestFile>& files, const std::vector<PgManifestWalRange>& wal,
    const PgManifestFormat& format)
{
    // Version 1: { "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [
    // Version 2: { "PostgreSQL-Backup-Manifest-Version": 2,\n"System-Identifier": N,\n"Files": [
    std::string out(k_version_start);
    out += std::to_string(format.version);
    out += ",\n";
    if (format.version >= 2) {
        out += k_system_identifier_start;
        out += std::to_string(format.system_identifier);
        out += ",\n";
    }
    out += k_files_start;
    for (size_t i = 0; i < files.size(); ++i) {
        out += i == 0 ? "\n" : ",\n";
        append_file_line(out, files[i]);
    }
    out += k_list_end;
    out += k_wal_ranges_start;
    for (size_t i = 0; i < wal.size(); ++i) {
        if (i > 0)
            out += ",\n";
        append_wal_range_line(out, wal[i]);
    }
    out += k_list_end;

    const std::string checksum = sha256_hex(reinterpret_cast<const uint8_t*>(out.data()), out.size());
    out += k_checksum_start;
    out += checksum;
    out += k_checksum_end;
    return out;
}

}  // namespace walvault
