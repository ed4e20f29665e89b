// walvault rekey: moves an encrypted repository to the recipients of encryption_recipients. It records them in
// identity.json (so that writers configured with them are accepted, and writers still on the old ones are
// refused), then re-encrypts, in place, every object that none of them can open: those whose note
// (core/codec/age.h, AgeNote) names only other recipients, and those without a note. Each object is decrypted
// with encryption_identity_file, checked against its trailer while it is encrypted again, and swapped only once
// the new one is stored and verified (reencrypt_object, core/repo/object_io.h). --dry-run reads only the
// objects' headers, needs no identity and writes nothing: it lists what rekey would re-encrypt.
#include "tool/commands/commands.h"

#include "core/repo/identity.h"
#include "core/repo/layout.h"
#include "core/repo/object_io.h"
#include "tool/progress.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>

namespace walvault {
namespace {

constexpr const char* k_command = "rekey";

struct RekeyContext {
    CommonOptions common;
    bool dry_run = false;
};

struct Entry {
    std::string key;
    uint64_t size = 0;
    bool encrypted = false;
    bool noted = false;  // the header has walvault's note
    AgeNote note;
};

std::string join(const std::vector<std::string>& items)
{
    std::string out;
    for (const std::string& s : items)
        out += (out.empty() ? "" : ",") + s;
    return out.empty() ? "(none)" : out;
}

// Whether any of the object's recipients is one of ours (both sorted).
bool readable_by(const AgeNote& note, const std::vector<std::string>& ours)
{
    std::vector<std::string> common;
    std::set_intersection(
        note.recipients.begin(), note.recipients.end(), ours.begin(), ours.end(), std::back_inserter(common));
    return !common.empty();
}

// Every object that may be encrypted: WAL objects and backup data; not the JSON documents (identity.json,
// backup.json, started, lease and pin objects), which are never encrypted.
Status list_objects(Storage& storage, std::vector<Entry>& out)
{
    for (const char* prefix : {k_wal_prefix, k_backup_prefix}) {
        std::vector<ObjectInfo> listed;
        Status s = storage.list(prefix, listed);
        if (!s.is_ok())
            return s;
        for (ObjectInfo& o : listed)
            if (!o.key.ends_with(".json"))
                out.push_back(
                    Entry{.key = std::move(o.key), .size = o.size, .encrypted = false, .noted = false, .note = {}});
    }
    return Status::ok();
}

Status rekey(RekeyContext& ctx)
{
    ResolvedSettings settings;
    std::unique_ptr<Storage> storage;
    Status s = open_repository(ctx.common, settings, storage);
    if (!s.is_ok())
        return s;
    std::vector<AgeRecipient> recipients;
    RepoIdentity ours;
    s = resolved_recipients(settings, recipients, ours);
    if (!s.is_ok())
        return s;
    if (recipients.empty())
        return Status::error(Code::invalid, "encryption_recipients is empty",
            "Give the recipients every object is to be encrypted to with --encryption-recipients (or "
            "WALVAULT_ENCRYPTION_RECIPIENTS).");
    RepoIdentity identity;
    s = read_identity(*storage, identity);
    if (s.code() == Code::not_found)
        return Status::error(Code::invalid, "repository \"" + storage->location() + "\" has no identity.json",
            "Check --repo: rekey works on a repository that walvault has written to.");
    if (!s.is_ok())
        return s;
    if (identity.encryption.empty())
        return Status::error(Code::invalid, "repository \"" + storage->location() + "\" is not encrypted",
            "rekey changes the recipients of an encrypted repository; to encrypt, archive into a new repository "
            "with encryption_recipients set.");
    if (!ctx.dry_run && !have_object_identities())
        return Status::error(Code::invalid,
            "rekey needs encryption_identity_file to decrypt the objects it re-encrypts",
            "Give an identity file holding the identities of the retiring recipients with "
            "--encryption-identity-file, or run rekey --dry-run to list the objects first.");

    const bool record = identity.recipients != ours.recipients;
    if (record && !ctx.dry_run) {
        RepoIdentity updated = identity;
        set_identity_encryption(updated, ours.recipients);
        s = replace_identity(*storage, updated);
        if (!s.is_ok())
            return s;
        std::printf("recorded the recipients %s in \"%s\" (they were %s): set encryption_recipients of the server "
                    "and of walvault backup to the same recipients\n",
            join(ours.recipients).c_str(), storage->location(k_identity_key).c_str(),
            join(identity.recipients).c_str());
    } else if (record) {
        std::printf("would record the recipients %s in \"%s\" (they are %s)\n", join(ours.recipients).c_str(),
            storage->location(k_identity_key).c_str(), join(identity.recipients).c_str());
    }

    std::vector<Entry> entries;
    s = list_objects(*storage, entries);
    if (!s.is_ok())
        return s.prefix("could not list repository \"" + storage->location() + "\"");
    const int parallel = static_cast<int>(setting_int(settings, "parallel"));
    s = run_parallel(entries.size(), parallel, [&](size_t i) {
        Entry& e = entries[i];
        Status st = read_object_note(*storage, e.key, e.encrypted, e.note, e.noted);
        return st.code() == Code::not_found ? Status::ok() : st;  // removed meanwhile (expire): nothing to do
    });
    if (!s.is_ok())
        return s;
    std::vector<const Entry*> todo;
    uint64_t plain = 0;
    uint64_t todo_bytes = 0;
    for (const Entry& e : entries) {
        if (!e.encrypted) {
            ++plain;
            std::printf("note: \"%s\" is not encrypted\n", storage->location(e.key).c_str());
        } else if (!e.noted || !readable_by(e.note, ours.recipients)) {
            todo.push_back(&e);
            todo_bytes += e.size;
        }
    }
    if (ctx.dry_run) {
        for (const Entry* e : todo)
            std::printf("%s: %s\n", e->key.c_str(),
                e->noted ? ("readable only by " + join(e->note.recipients)).c_str() : "recipients not recorded");
        std::printf("%zu of %zu objects (%s) would be re-encrypted for the recipients %s%s\n", todo.size(),
            entries.size(), format_bytes(todo_bytes).c_str(), join(ours.recipients).c_str(),
            plain > 0 ? (", " + std::to_string(plain) + " are not encrypted").c_str() : "");
        return Status::ok();
    }

    const auto started = std::chrono::steady_clock::now();
    std::mutex mutex;
    std::vector<Status> failures;
    uint64_t done_bytes = 0;
    s = run_parallel(todo.size(), parallel, [&](size_t i) {
        ObjectMeta meta;
        Status st = reencrypt_object(*storage, todo[i]->key, recipients, todo[i]->note, meta);
        std::lock_guard lock(mutex);
        if (st.is_ok())
            done_bytes += todo[i]->size;
        else if (st.code() != Code::not_found)
            failures.push_back(std::move(st));
        return Status::ok();  // the others go on: each object stays readable whatever happens to another
    });
    if (!s.is_ok())
        return s;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    for (const Status& f : failures)
        std::printf(
            "could not re-encrypt: %s%s%s\n", f.message().c_str(), f.hint().empty() ? "" : "; ", f.hint().c_str());
    std::printf("re-encrypted %zu of %zu objects (%s) for the recipients %s in %.1f s%s\n",
        todo.size() - failures.size(), entries.size(), format_bytes(done_bytes).c_str(), join(ours.recipients).c_str(),
        seconds, plain > 0 ? (", " + std::to_string(plain) + " are not encrypted").c_str() : "");
    if (!failures.empty())
        return Status::error(Code::io_error,
            std::to_string(failures.size()) +
                " object(s) could not be re-encrypted (listed above); each is left as "
                "it was",
            "Fix the cause and run rekey again: it re-encrypts only what is still to do.");
    return Status::ok();
}

}  // namespace

void add_rekey_command(CLI::App& app, int& exit_code)
{
    auto ctx = std::make_shared<RekeyContext>();
    CLI::App* cmd = app.add_subcommand(k_command,
        "Move an encrypted repository to the recipients of encryption_recipients: record them in identity.json, "
        "then re-encrypt every object that none of them can open (decrypted with encryption_identity_file, "
        "checked, and replaced only once the new object is stored and verified). Run again after the server and "
        "backups use the new recipients: it re-encrypts only what is still to do.");
    cmd->add_flag("--dry-run", ctx->dry_run,
        "list the objects that only other recipients can open, and write nothing (reads only the objects' "
        "headers; needs no identity)");
    add_setting_flags(*cmd, ctx->common, k_use_rekey);
    on_run(*cmd, k_command, exit_code, [ctx] { return rekey(*ctx); });
}

}  // namespace walvault
