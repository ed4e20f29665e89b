// Repository identity. Stored as plain JSON (not through the object codec) so an operator can read it
// with cat; it is tiny and never changes once written.
#include "core/repo/identity.h"

#include "core/repo/layout.h"

#include <algorithm>
#include <charconv>
#include <ctime>

#include <nlohmann/json.hpp>

namespace walvault {
namespace {

std::string now_iso8601()
{
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string join(const std::vector<std::string>& items)
{
    std::string out;
    for (const std::string& s : items)
        out += (out.empty() ? "" : ", ") + s;
    return out;
}

}  // namespace

void set_identity_encryption(RepoIdentity& id, const std::vector<std::string>& fingerprints)
{
    id.recipients = fingerprints;
    std::sort(id.recipients.begin(), id.recipients.end());
    id.recipients.erase(std::unique(id.recipients.begin(), id.recipients.end()), id.recipients.end());
    id.encryption = id.recipients.empty() ? "" : "age";
}

std::string identity_to_json(const RepoIdentity& id)
{
    nlohmann::ordered_json j;
    j["format"] = id.format;
    // As a string: JSON readers that use doubles would round a 64-bit identifier.
    j["system_identifier"] = std::to_string(id.system_identifier);
    j["pg_major"] = id.pg_major;
    j["wal_segment_size"] = id.wal_segment_size;
    j["created"] = id.created;
    if (!id.encryption.empty()) {  // unencrypted repositories keep the identity they always had
        j["encryption"] = id.encryption;
        j["recipients"] = id.recipients;
    }
    return j.dump(2) + "\n";
}

Status identity_from_json(const std::string& text, RepoIdentity& out)
{
    const auto j = nlohmann::json::parse(text, nullptr, false);
    auto bad = [](const std::string& why) {
        return Status::error(Code::corrupt, "repository identity is invalid: " + why);
    };
    if (j.is_discarded() || !j.is_object())
        return bad("not a JSON object");
    const auto format = j.find("format");
    const auto sysid = j.find("system_identifier");
    const auto major = j.find("pg_major");
    const auto segsize = j.find("wal_segment_size");
    if (format == j.end() || !format->is_number_integer() || sysid == j.end() || !sysid->is_string() ||
        major == j.end() || !major->is_number_integer() || segsize == j.end() || !segsize->is_number_unsigned())
        return bad("fields missing");
    if (format->get<int>() > k_repository_format)
        return Status::error(Code::invalid,
            "repository format " + std::to_string(format->get<int>()) + " is newer than this walvault understands (" +
                std::to_string(k_repository_format) + ")",
            "Upgrade walvault.");
    out.format = format->get<int>();
    const std::string digits = sysid->get<std::string>();
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out.system_identifier);
    if (digits.empty() || digits.front() < '0' || digits.front() > '9' || ec != std::errc() ||
        end != digits.data() + digits.size())
        return bad("system_identifier is not a number");
    out.pg_major = major->get<int>();
    out.wal_segment_size = segsize->get<uint64_t>();
    const auto created = j.find("created");
    out.created = created != j.end() && created->is_string() ? created->get<std::string>() : std::string();
    out.encryption.clear();
    out.recipients.clear();
    if (const auto enc = j.find("encryption"); enc != j.end()) {
        const auto rec = j.find("recipients");
        if (!enc->is_string() || enc->get<std::string>() != "age" || rec == j.end() || !rec->is_array() || rec->empty())
            return Status::error(Code::invalid,
                "repository identity records an encryption this walvault does not understand", "Upgrade walvault.");
        for (const auto& r : *rec) {
            if (!r.is_string())
                return bad("recipients is not a list of fingerprints");
            out.recipients.push_back(r.get<std::string>());
        }
        out.encryption = "age";
    }
    return Status::ok();
}

Status read_identity(Storage& storage, RepoIdentity& out)
{
    std::string text;
    Status s = storage.get(k_identity_key, [&](const uint8_t* d, size_t n) {
        if (text.size() + n > 64UL * 1024)
            return Status::error(Code::corrupt, "repository identity is larger than 64 kB");
        text.append(reinterpret_cast<const char*>(d), n);
        return Status::ok();
    });
    if (!s.is_ok())
        return s;
    s = identity_from_json(text, out);
    if (!s.is_ok())
        s.prefix("\"" + storage.location(k_identity_key) + "\"");
    return s;
}

Status ensure_identity(Storage& storage, const RepoIdentity& ours, RepoIdentity* found)
{
    RepoIdentity theirs;
    Status s = read_identity(storage, theirs);
    if (s.code() == Code::not_found) {
        RepoIdentity fresh = ours;
        if (fresh.created.empty())
            fresh.created = now_iso8601();
        s = write_small_object(storage, k_identity_key, identity_to_json(fresh));
        if (s.is_ok()) {
            if (found)
                *found = fresh;
            return s;
        }
        if (s.code() != Code::already_exists && s.code() != Code::busy)
            return s.prefix("could not write repository identity");
        const bool other_writer_busy = s.code() == Code::busy;
        s = read_identity(storage, theirs);  // somebody else wrote it first: check theirs
        if (s.code() == Code::not_found && other_writer_busy)
            return Status::error(Code::busy,
                "another process is writing the identity of repository \"" + storage.location() +
                    "\"; try again later");
    }
    if (!s.is_ok())
        return s;
    if (found)
        *found = theirs;
    if (theirs.system_identifier != ours.system_identifier)
        return Status::error(Code::conflict,
            "repository \"" + storage.location() + "\" belongs to database system " +
                std::to_string(theirs.system_identifier) + ", not to this one (" +
                std::to_string(ours.system_identifier) + ")",
            "Each cluster needs its own repository: point walvault.repo at another location.");
    if (theirs.wal_segment_size != ours.wal_segment_size)
        return Status::error(Code::conflict,
            "repository \"" + storage.location() + "\" holds WAL segments of " +
                std::to_string(theirs.wal_segment_size) + " bytes, this cluster writes " +
                std::to_string(ours.wal_segment_size),
            "Each cluster needs its own repository: point walvault.repo at another location.");
    return check_identity_encryption(storage, theirs, ours);
}

Status replace_identity(Storage& storage, const RepoIdentity& id)
{
    Status s = replace_small_object(storage, k_identity_key, identity_to_json(id));
    return s.is_ok() ? s : s.prefix("could not write repository identity");
}

Status check_identity_encryption(const Storage& storage, const RepoIdentity& theirs, const RepoIdentity& ours)
{
    // Never an unencrypted object in an encrypted repository or the reverse, and every object
    // readable by the same identities.
    if (theirs.encryption != ours.encryption)
        return theirs.encryption.empty()
            ? Status::error(Code::conflict,
                  "repository \"" + storage.location() + "\" is not encrypted, but encryption_recipients is set",
                  "Archive into a new repository to encrypt, or empty encryption_recipients.")
            : Status::error(Code::conflict,
                  "repository \"" + storage.location() + "\" is encrypted (age, recipients " + join(theirs.recipients) +
                      "), but encryption_recipients is empty",
                  "Set encryption_recipients to the repository's recipients: walvault writes no unencrypted "
                  "object into an encrypted repository.");
    if (theirs.recipients != ours.recipients)
        return Status::error(Code::conflict,
            "repository \"" + storage.location() + "\" is encrypted to the recipients " + join(theirs.recipients) +
                ", but encryption_recipients has " + join(ours.recipients),
            "Set encryption_recipients to the recipients the repository records (fingerprints are the first 16 "
            "hex digits of the sha256 of each \"age1...\" recipient); walvault rekey changes them.");
    return Status::ok();
}

}  // namespace walvault
