// backup.json: nlohmann_json both ways. 64-bit numbers that people compare by eye (LSNs) are written in
// PostgreSQL's text form; the system identifier is a string because JSON readers in other languages lose
// precision above 2^53.
#include "core/repo/backup_manifest.h"

#include "core/codec/codec.h"
#include "core/wal/wal_name.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <ctime>

namespace walvault {
namespace {

using json = nlohmann::json;

constexpr std::string_view k_label_chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";

// Reads field `name` of object `o` into out; names the field on failure.
template <typename T> bool get_field(const json& o, const char* name, T& out, std::string& error)
{
    const auto it = o.find(name);
    if (it == o.end()) {
        error = "missing field \"" + std::string(name) + "\"";
        return false;
    }
    try {
        out = it->get<T>();
    } catch (const json::exception&) {
        error = "field \"" + std::string(name) + "\" has the wrong type";
        return false;
    }
    return true;
}

bool get_lsn(const json& o, const char* name, uint64_t& out, std::string& error)
{
    std::string text;
    if (!get_field(o, name, text, error))
        return false;
    const auto lsn = parse_lsn(text);
    if (!lsn) {
        error = "field \"" + std::string(name) + "\" is not an LSN: \"" + text + "\"";
        return false;
    }
    out = *lsn;
    return true;
}

bool get_u64_text(const json& o, const char* name, uint64_t& out, std::string& error)
{
    std::string text;
    if (!get_field(o, name, text, error))
        return false;
    if (text.empty() || text.size() > 20 || text.find_first_not_of("0123456789") != std::string::npos) {
        error = "field \"" + std::string(name) + "\" is not a decimal number: \"" + text + "\"";
        return false;
    }
    try {
        out = std::stoull(text);
    } catch (const std::exception&) {
        error = "field \"" + std::string(name) + "\" is out of range: \"" + text + "\"";
        return false;
    }
    return true;
}

uint64_t parts_stored_size(const BackupFile& f)
{
    if (f.parts.empty())
        return f.stored_size;
    uint64_t total = 0;
    for (const BackupPart& p : f.parts)
        total += p.stored_size;
    return total;
}

// The optional fast checksums of an object (a file or a part), where it has them.
void put_xxh3(json& o, const std::string& xxh3, const std::vector<std::string>& chunks)
{
    if (!xxh3.empty())
        o["xxh3_128"] = xxh3;
    if (!chunks.empty())
        o["chunk_xxh3"] = chunks;
}

// Reads the optional fast checksums of an object of `size` bytes; absent fields leave them empty. A chunk list
// must have one entry per k_delta_chunk_bytes of the object.
bool get_xxh3(const json& o, uint64_t size, std::string& xxh3, std::vector<std::string>& chunks, std::string& error)
{
    if (o.contains("xxh3_128") && !get_field(o, "xxh3_128", xxh3, error))
        return false;
    if (!o.contains("chunk_xxh3"))
        return true;
    if (!get_field(o, "chunk_xxh3", chunks, error))
        return false;
    if (chunks.size() != (size + k_delta_chunk_bytes - 1) / k_delta_chunk_bytes) {
        error =
            "\"chunk_xxh3\" has " + std::to_string(chunks.size()) + " entries for " + std::to_string(size) + " bytes";
        return false;
    }
    return true;
}

// A file in parts, as format 2 writes it: no whole-file sha256 or stored_size, its parts instead.
json parted_file_json(const BackupFile& f)
{
    json parts = json::array();
    for (const BackupPart& p : f.parts) {
        json part = {{"offset", p.offset}, {"size", p.size}, {"sha256", p.sha256}, {"stored_size", p.stored_size}};
        put_xxh3(part, p.xxh3_128, p.chunk_xxh3);
        parts.push_back(std::move(part));
    }
    return {{"path", f.path}, {"size", f.size}, {"mtime", f.mtime}, {"mode", f.mode}, {"parts", parts}};
}

// Reads the "parts" of file f and checks that they tile the file: part 0 at offset 0, each part ending at or
// before the next one's offset, the file's size the end of the last part that read anything.
bool get_parts(const json& parts, BackupFile& f, std::string& error)
{
    if (!parts.is_array() || parts.empty()) {
        error = "\"parts\" of file \"" + f.path + "\" must be a non-empty array";
        return false;
    }
    uint64_t end = 0;
    for (size_t i = 0; i < parts.size(); i++) {
        BackupPart p;
        if (!(get_field(parts[i], "offset", p.offset, error) && get_field(parts[i], "size", p.size, error) &&
                get_field(parts[i], "sha256", p.sha256, error) &&
                get_field(parts[i], "stored_size", p.stored_size, error) &&
                get_xxh3(parts[i], p.size, p.xxh3_128, p.chunk_xxh3, error))) {
            error = "part " + std::to_string(i) + " of file \"" + f.path + "\": " + error;
            return false;
        }
        const bool in_order = i == 0
            ? p.offset == 0
            : p.offset > f.parts.back().offset && p.offset >= f.parts.back().offset + f.parts.back().size;
        if (!in_order || p.offset + p.size < p.offset) {
            error = "part " + std::to_string(i) + " of file \"" + f.path + "\" at offset " + std::to_string(p.offset) +
                " overlaps the part before it or is out of order";
            return false;
        }
        if (p.size > 0)
            end = std::max(end, p.offset + p.size);
        f.parts.push_back(std::move(p));
    }
    if (f.size != end) {
        error = "file \"" + f.path + "\" has size " + std::to_string(f.size) + " but its parts end at " +
            std::to_string(end);
        return false;
    }
    f.stored_size = parts_stored_size(f);
    return true;
}

}  // namespace

uint64_t BackupManifest::original_size() const
{
    uint64_t total = 0;
    for (const BackupFile& f : files)
        total += f.size;
    return total;
}

uint64_t BackupManifest::stored_size() const
{
    uint64_t total = 0;
    for (const BackupFile& f : files)
        total += parts_stored_size(f);
    return total;
}

std::string manifest_to_json(const BackupManifest& m)
{
    json files = json::array();
    for (const BackupFile& f : m.files)
        if (f.parts.empty()) {
            json file = {{"path", f.path}, {"size", f.size}, {"mtime", f.mtime}, {"mode", f.mode}, {"sha256", f.sha256},
                {"stored_size", f.stored_size}};
            put_xxh3(file, f.xxh3_128, f.chunk_xxh3);
            files.push_back(std::move(file));
        } else
            files.push_back(parted_file_json(f));
    json dirs = json::array();
    for (const BackupDirectory& d : m.directories)
        dirs.push_back({{"path", d.path}, {"mode", d.mode}});
    json spcs = json::array();
    for (const BackupTablespace& t : m.tablespaces)
        spcs.push_back({{"oid", t.oid}, {"name", t.name}, {"location", t.location}});
    const json doc = {
        {"format", m.format},
        {"label", m.label},
        {"start_time", m.start_time},
        {"stop_time", m.stop_time},
        {"start_lsn", format_lsn(m.start_lsn)},
        {"stop_lsn", format_lsn(m.stop_lsn)},
        {"timeline", m.timeline},
        {"stop_next_xid", std::to_string(m.stop_next_xid)},
        {"pg_version_num", m.pg_version_num},
        {"system_identifier", std::to_string(m.system_identifier)},
        {"wal_segment_size", m.wal_segment_size},
        {"compression", m.compression},
        {"original_size", m.original_size()},
        {"stored_size", m.stored_size()},
        {"backup_label", m.backup_label},
        {"tablespace_map", m.tablespace_map},
        {"tablespaces", spcs},
        {"directories", dirs},
        {"files", files},
    };
    return doc.dump(1) + "\n";
}

Status manifest_from_json(const std::string& text, BackupManifest& out)
{
    out = BackupManifest{};
    const json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object())
        return Status::error(Code::corrupt, "backup manifest is not a JSON object");
    std::string error;
    bool ok = get_field(doc, "format", out.format, error);
    if (ok && (out.format < k_oldest_backup_manifest_format || out.format > k_backup_manifest_format))
        return Status::error(Code::corrupt,
            "backup manifest has format " + std::to_string(out.format) + ", this walvault reads formats " +
                std::to_string(k_oldest_backup_manifest_format) + " to " + std::to_string(k_backup_manifest_format),
            "Use the walvault release that wrote the backup, or a newer one.");
    ok = ok && get_field(doc, "label", out.label, error) && get_field(doc, "start_time", out.start_time, error) &&
        get_field(doc, "stop_time", out.stop_time, error) && get_lsn(doc, "start_lsn", out.start_lsn, error) &&
        get_lsn(doc, "stop_lsn", out.stop_lsn, error) && get_field(doc, "timeline", out.timeline, error) &&
        get_u64_text(doc, "stop_next_xid", out.stop_next_xid, error) &&
        get_field(doc, "pg_version_num", out.pg_version_num, error) &&
        get_u64_text(doc, "system_identifier", out.system_identifier, error) &&
        get_field(doc, "wal_segment_size", out.wal_segment_size, error) &&
        get_field(doc, "compression", out.compression, error) &&
        get_field(doc, "backup_label", out.backup_label, error) &&
        get_field(doc, "tablespace_map", out.tablespace_map, error);
    json spcs, dirs, files;
    ok = ok && get_field(doc, "tablespaces", spcs, error) && get_field(doc, "directories", dirs, error) &&
        get_field(doc, "files", files, error);
    if (ok && (!spcs.is_array() || !dirs.is_array() || !files.is_array())) {
        error = "\"tablespaces\", \"directories\" and \"files\" must be arrays";
        ok = false;
    }
    for (size_t i = 0; ok && i < spcs.size(); i++) {
        BackupTablespace t;
        ok = get_field(spcs[i], "oid", t.oid, error) && get_field(spcs[i], "name", t.name, error) &&
            get_field(spcs[i], "location", t.location, error);
        out.tablespaces.push_back(t);
    }
    for (size_t i = 0; ok && i < dirs.size(); i++) {
        BackupDirectory d;
        ok = get_field(dirs[i], "path", d.path, error) && get_field(dirs[i], "mode", d.mode, error);
        out.directories.push_back(d);
    }
    for (size_t i = 0; ok && i < files.size(); i++) {
        BackupFile f;
        ok = get_field(files[i], "path", f.path, error) && get_field(files[i], "size", f.size, error) &&
            get_field(files[i], "mtime", f.mtime, error) && get_field(files[i], "mode", f.mode, error);
        if (ok && files[i].contains("parts"))
            ok = get_parts(files[i]["parts"], f, error);
        else if (ok)
            ok = get_field(files[i], "sha256", f.sha256, error) &&
                get_field(files[i], "stored_size", f.stored_size, error);
        if (ok && !get_xxh3(files[i], f.size, f.xxh3_128, f.chunk_xxh3, error)) {
            error = "file \"" + f.path + "\": " + error;
            ok = false;
        }
        if (ok && (f.path.empty() || f.path[0] == '/' || f.path.find("..") != std::string::npos)) {
            error = "file path \"" + f.path + "\" is not a relative path inside the data directory";
            ok = false;
        }
        out.files.push_back(f);
    }
    if (!ok)
        return Status::error(Code::corrupt, "backup manifest is damaged: " + error);
    return Status::ok();
}

Status check_backup_label(std::string_view label)
{
    if (label.empty() || label.size() > k_max_label_len ||
        label.find_first_not_of(k_label_chars) != std::string::npos || label[0] == '.' || label[0] == '-')
        return Status::error(Code::invalid, "invalid backup label \"" + std::string(label) + "\"",
            "A label has 1 to " + std::to_string(k_max_label_len) +
                " letters, digits, '.', '_' or '-', and does not start with '.' or '-'.");
    if (label == "LATEST")
        return Status::error(Code::invalid, "\"LATEST\" cannot be a backup label",
            "LATEST names the newest backup in restore; choose another label.");
    return Status::ok();
}

std::string default_backup_label(int64_t unix_seconds)
{
    const std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return buf;
}

}  // namespace walvault
