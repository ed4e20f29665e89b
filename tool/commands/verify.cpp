// walvault verify: reads the whole repository and says whether every object in it is what the repository
// says it is (core/repo/verify.h has the checks): every WAL object decodes, matches its own checksums and its
// name and, for a segment, is a segment of this database system at its own address; every backup's objects
// are present with the stored size, length and sha256 its manifest records; the WAL each backup needs has no
// hole along any timeline its recovery can follow; the history files agree; identity.json is there and every
// manifest is of the same system. Objects are read on `parallel` threads. --quick reads no object data (only
// the listing and the small history files). Prints every problem with the object's key and what was
// expected, and exits 1 if there is any. Never writes to the repository.
#include "tool/commands/commands.h"

#include "core/common/utc_time.h"
#include "core/repo/backup_catalog.h"
#include "core/repo/identity.h"
#include "core/repo/layout.h"
#include "core/repo/object_io.h"
#include "core/repo/verify.h"
#include "core/repo/wal_catalog.h"
#include "tool/progress.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace walvault {
namespace {

constexpr const char* k_command = "verify";
constexpr int k_verify_format = 1;  // "format" of the --json document

struct VerifyContext {
    CommonOptions common;
    bool quick = false;
    bool json = false;
    std::vector<std::string> backups;  // --backup
    std::string since;                 // --since
};

unsigned long long ull(uint64_t n)
{
    return static_cast<unsigned long long>(n);
}

// --since: an ISO 8601 UTC time, or a span back from now in PostgreSQL's units ("7d").
Status parse_since(const std::string& text, int64_t now, int64_t& since)
{
    if (parse_time_or_span(text, now, -1, since))
        return Status::ok();
    return Status::error(Code::invalid, "--since must be a time or a span, not \"" + text + "\"",
        "Give a UTC time such as 2026-12-01T00:00:00Z, or a span back from now such as 7d or 12h.");
}

// What verify looked at, for the summary line and the JSON document.
struct Tally {
    uint64_t wal_objects = 0;     // WAL objects checked (read, or listed with --quick)
    uint64_t backup_objects = 0;  // backup data objects checked
    uint64_t backups = 0;         // complete backups whose objects and lineage were checked
    uint64_t bytes_read = 0;      // stored bytes read
    double seconds = 0;
};

struct Findings {
    std::vector<VerifyProblem> problems;
    std::vector<std::string> notices;
};

class Verifier {
public:
    Verifier(Storage& storage, const VerifyContext& ctx, int parallel, int64_t since)
        : m_storage(storage)
        , m_ctx(ctx)
        , m_parallel(parallel)
        , m_since(since)
    {
    }

    Status run(Findings& found, Tally& tally);

private:
    Status read_identity_or_note(Findings& found);
    Status read_histories(const std::vector<ObjectInfo>& wal, Findings& found);
    Status pick_backups(const std::vector<BackupRecord>& catalog, Findings& found);
    bool in_lineage(const WalName& name) const;
    void add_wal_checks(const std::vector<ObjectInfo>& wal, Findings& found, Tally& tally);
    bool add_stream_prefix_check(const ObjectInfo& o, Tally& tally);
    void add_backup_checks(const std::vector<ObjectInfo>& objects, Findings& found, Tally& tally);
    Status read_objects(Findings& found, Tally& tally);

    Storage& m_storage;
    const VerifyContext& m_ctx;
    int m_parallel;
    int64_t m_since;
    RepoIdentity m_identity;
    bool m_have_identity = false;
    WalInventory m_wal;
    std::vector<const BackupRecord*> m_backups;  // complete, in scope
    std::vector<std::vector<LineageTimeline>> m_lineages;
    std::vector<std::unique_ptr<WalName>> m_names;  // the WAL names the checks point to
    std::vector<ObjectCheck> m_checks;              // objects to read whole
};

Status Verifier::read_identity_or_note(Findings& found)
{
    Status s = read_identity(m_storage, m_identity);
    if (s.is_ok()) {
        m_have_identity = true;
        if (!m_identity.encryption.empty() && !m_ctx.quick && !have_object_identities())
            return Status::error(Code::invalid,
                "the repository is encrypted (" + m_identity.encryption +
                    ", identity.json says so) and no encryption_identity_file is given",
                "verify decrypts every object: pass --encryption-identity-file with an identity of one of its "
                "recipients, or use --quick, which reads no object data.");
        return Status::ok();
    }
    if (s.code() != Code::not_found && s.code() != Code::corrupt && s.code() != Code::invalid)
        return s;
    found.problems.push_back({k_identity_key,
        s.code() == Code::not_found ? "the repository has no identity.json" : "identity.json: " + s.message(),
        "the identity of the database system the repository belongs to (written on first use)"});
    return Status::ok();
}

Status Verifier::read_histories(const std::vector<ObjectInfo>& wal, Findings& found)
{
    Decoder decoder;
    for (const ObjectInfo& o : wal) {
        const auto name = wal_name_of_key(o.key, m_wal.segment_size);
        if (!name || name->kind != WalKind::history)
            continue;
        ObjectCheck check;
        check.key = o.key;
        check.stored_size = o.size;
        check.name = name->text;
        check.length = UINT64_MAX;
        check.exact_length = false;
        check.keep_content = true;
        std::string content;
        const size_t before = found.problems.size();
        verify_object(decoder, m_storage, check, found.problems, &content);
        if (found.problems.size() != before)
            continue;
        std::vector<TimelineSwitch> history;
        Status s = parse_timeline_history(content, name->timeline, history);
        if (!s.is_ok()) {
            found.problems.push_back({o.key, s.message(), "a timeline history file as PostgreSQL writes it"});
            continue;
        }
        m_wal.histories[name->timeline] = std::move(history);
    }
    return Status::ok();
}

Status Verifier::pick_backups(const std::vector<BackupRecord>& catalog, Findings& found)
{
    for (const std::string& label : m_ctx.backups) {
        const auto it =
            std::find_if(catalog.begin(), catalog.end(), [&](const BackupRecord& r) { return r.label == label; });
        if (it == catalog.end())
            return Status::error(Code::not_found, "backup \"" + label + "\" does not exist",
                "walvault list shows the backups the repository holds.");
        if (!it->complete)
            return Status::error(Code::invalid, "backup \"" + label + "\" is not complete (it has no backup.json)",
                "Only complete backups can be verified against their manifest.");
    }
    const int64_t now = std::time(nullptr);
    for (const BackupRecord& r : catalog) {
        const bool asked = m_ctx.backups.empty() ||
            std::find(m_ctx.backups.begin(), m_ctx.backups.end(), r.label) != m_ctx.backups.end();
        if (!asked)
            continue;
        if (!r.complete) {
            const bool writing = r.lease && r.lease->alive(now);
            found.notices.push_back("backup " + r.label + " is incomplete (" +
                (writing ? "being written by " + r.lease->host + ", pid " + std::to_string(r.lease->pid)
                         : "no writer: backup-delete or expire removes it") +
                "); not verified");
            continue;
        }
        const BackupManifest& m = r.manifest;
        if (m_have_identity && m.system_identifier != m_identity.system_identifier)
            found.problems.push_back({backup_manifest_key(r.label),
                "backup " + r.label + " is of database system " + std::to_string(m.system_identifier),
                "database system " + std::to_string(m_identity.system_identifier) + ", as identity.json records"});
        if (m_have_identity && m.wal_segment_size != m_identity.wal_segment_size)
            found.problems.push_back({backup_manifest_key(r.label),
                "backup " + r.label + " has WAL segments of " + std::to_string(m.wal_segment_size) + " bytes",
                std::to_string(m_identity.wal_segment_size) + " bytes, as identity.json records"});
        m_backups.push_back(&r);
    }
    return Status::ok();
}

bool Verifier::in_lineage(const WalName& name) const
{
    if (name.kind == WalKind::history)
        return true;
    const uint64_t segno = segment_number(name, m_wal.segment_size);
    for (const auto& lineage : m_lineages)
        for (const LineageTimeline& s : lineage)
            if (s.timeline == name.timeline && segno >= s.first_segno)
                return true;
    return false;
}

// A prefix streamed by walvault receive: it must decode to exactly the length its key carries, and begin
// with its segment's page header.
bool Verifier::add_stream_prefix_check(const ObjectInfo& o, Tally& tally)
{
    const std::optional<StreamPrefix> prefix = stream_prefix_of_key(o.key);
    constexpr uint64_t k_log_span = 0x100000000ULL;  // bytes of WAL per wal/ directory (xlogid)
    if (!prefix || prefix->length > m_wal.segment_size || prefix->segment.seg >= k_log_span / m_wal.segment_size)
        return false;
    if (!m_ctx.backups.empty() && !in_lineage(prefix->segment))
        return true;
    if (m_since > 0 && o.modified > 0 && o.modified < m_since)
        return true;
    ++tally.wal_objects;
    if (m_ctx.quick)
        return true;
    ObjectCheck check;
    check.key = o.key;
    check.stored_size = o.size;
    check.name = stream_prefix_name(prefix->segment, prefix->length);
    check.length = prefix->length;
    check.exact_length = true;
    if (m_have_identity) {
        m_names.push_back(std::make_unique<WalName>(prefix->segment));
        check.wal_name = m_names.back().get();
        check.system_identifier = m_identity.system_identifier;
        check.segment_size = m_wal.segment_size;
    }
    m_checks.push_back(std::move(check));
    return true;
}

void Verifier::add_wal_checks(const std::vector<ObjectInfo>& wal, Findings& found, Tally& tally)
{
    uint64_t strays = 0;
    std::string first_stray;
    for (const ObjectInfo& o : wal) {
        const auto name = wal_name_of_key(o.key, m_wal.segment_size);
        if (!name && add_stream_prefix_check(o, tally))
            continue;
        if (!name) {
            if (strays++ == 0)
                first_stray = o.key;
            continue;
        }
        if (name->kind == WalKind::history)
            continue;  // read already
        if (!m_ctx.backups.empty() && !in_lineage(*name))
            continue;
        if (m_since > 0 && o.modified > 0 && o.modified < m_since)
            continue;
        ++tally.wal_objects;
        if (o.size == 0) {
            found.problems.push_back({o.key, "object is empty", "a WAL object: a zstd stream and its trailer"});
            continue;
        }
        if (m_ctx.quick)
            continue;
        ObjectCheck check;
        check.key = o.key;
        check.stored_size = o.size;
        check.name = name->text;
        if (name->kind == WalKind::segment || name->kind == WalKind::partial) {
            check.length = m_wal.segment_size;
            check.exact_length = name->kind == WalKind::segment;
            if (m_have_identity) {
                m_names.push_back(std::make_unique<WalName>(*name));
                check.wal_name = m_names.back().get();
                check.system_identifier = m_identity.system_identifier;
                check.segment_size = m_wal.segment_size;
            }
        } else {
            check.length = UINT64_MAX;  // a .backup file: any length
            check.exact_length = false;
        }
        m_checks.push_back(std::move(check));
    }
    if (strays > 0)
        found.notices.push_back(std::to_string(strays) + " object(s) under wal/ are not WAL objects, such as \"" +
            first_stray + "\" (wal-fetch never reads them)");
}

void Verifier::add_backup_checks(const std::vector<ObjectInfo>& objects, Findings& found, Tally& tally)
{
    // The listing of backup/ is sorted by key, so each backup's objects are one stretch of it.
    for (const BackupRecord* r : m_backups) {
        const BackupManifest& m = r->manifest;
        const std::string prefix = backup_prefix(m.label);
        auto first = std::lower_bound(objects.begin(), objects.end(), prefix,
            [](const ObjectInfo& o, const std::string& p) { return o.key < p; });
        auto last = first;
        while (last != objects.end() && last->key.compare(0, prefix.size(), prefix) == 0)
            ++last;
        const std::vector<ObjectInfo> mine(first, last);
        ++tally.backups;
        check_backup_listing(m, mine, found.problems, found.notices);
        const int64_t stopped = [&] {
            int64_t t = 0;
            return parse_utc_time(m.stop_time, t).is_ok() ? t : 0;
        }();
        if (m_since > 0 && stopped > 0 && stopped < m_since)
            continue;
        std::map<std::string, uint64_t> listed;
        for (const ObjectInfo& o : mine)
            listed.emplace(o.key, o.size);
        auto add = [&](const std::string& key, const BackupFile& f, uint64_t length, const std::string& sha256) {
            ++tally.backup_objects;
            const auto it = listed.find(key);
            if (m_ctx.quick || it == listed.end())
                return;  // a missing object is a problem already
            ObjectCheck check;
            check.key = key;
            check.stored_size = it->second;
            check.name = f.path;
            check.length = length;
            check.sha256 = sha256;
            m_checks.push_back(std::move(check));
        };
        for (const BackupFile& f : m.files) {
            const std::string key = backup_file_key(m.label, f.path);
            if (f.parts.empty()) {
                add(key, f, f.size, f.sha256);
                continue;
            }
            for (size_t i = 0; i < f.parts.size(); ++i)
                add(backup_part_key(key, i), f, f.parts[i].size, f.parts[i].sha256);
        }
    }
}

Status Verifier::read_objects(Findings& found, Tally& tally)
{
    uint64_t total = 0;
    for (const ObjectCheck& c : m_checks)
        total += c.stored_size;
    Progress progress(total, "verified");
    std::mutex mutex;  // guards found.problems and the decoders not in use
    // Decoders are large (a zstd context and buffers): each task takes one that is free and gives it back.
    std::vector<std::unique_ptr<Decoder>> idle;
    Status s = run_parallel(m_checks.size(), m_parallel, [&](size_t i) -> Status {
        std::unique_ptr<Decoder> decoder;
        {
            std::lock_guard<std::mutex> lock(mutex);
            if (!idle.empty()) {
                decoder = std::move(idle.back());
                idle.pop_back();
            }
        }
        if (!decoder)
            decoder = std::make_unique<Decoder>();
        std::vector<VerifyProblem> problems;
        verify_object(*decoder, m_storage, m_checks[i], problems);
        progress.add(m_checks[i].stored_size);
        std::lock_guard<std::mutex> lock(mutex);
        found.problems.insert(found.problems.end(), problems.begin(), problems.end());
        idle.push_back(std::move(decoder));
        return Status::ok();
    });
    progress.stop();
    tally.bytes_read += progress.done();
    return s;
}

Status Verifier::run(Findings& found, Tally& tally)
{
    const auto start = std::chrono::steady_clock::now();
    Status s = read_identity_or_note(found);
    if (!s.is_ok())
        return s;
    std::vector<BackupRecord> catalog;
    std::vector<ObjectInfo> wal, backup_objects;
    s = read_backup_catalog(m_storage, catalog);
    if (s.is_ok())
        s = m_storage.list(k_wal_prefix, wal);
    if (s.is_ok())
        s = m_storage.list(k_backup_prefix, backup_objects);
    if (!s.is_ok())
        return s;
    uint64_t segment_size = m_identity.wal_segment_size;
    for (const BackupRecord& r : catalog)
        if (segment_size == 0 && r.complete)
            segment_size = r.manifest.wal_segment_size;
    if (!valid_wal_segment_size(segment_size))
        segment_size = k_default_wal_segment_size;
    m_wal = inventory_wal(wal, segment_size);
    s = read_histories(wal, found);
    if (!s.is_ok())
        return s;
    s = pick_backups(catalog, found);
    if (!s.is_ok())
        return s;
    std::vector<LineageCheck> lineages;
    const int64_t now = std::time(nullptr);
    for (const BackupRecord* r : m_backups) {
        const bool standalone = r->pin && r->pin->active(now) && r->pin->standalone;
        lineages.push_back({&r->manifest, standalone});
        m_lineages.push_back(backup_lineage(r->manifest, m_wal));
        if (standalone)
            m_lineages.back().resize(1);
    }
    add_wal_checks(wal, found, tally);
    add_backup_checks(backup_objects, found, tally);
    check_history_chain(m_wal, found.problems);
    check_lineages(lineages, m_wal, found.problems);
    // The histories were read in full whatever the mode.
    for (const ObjectInfo& o : wal)
        if (const auto name = wal_name_of_key(o.key, m_wal.segment_size); name && name->kind == WalKind::history) {
            ++tally.wal_objects;
            tally.bytes_read += o.size;
        }
    s = read_objects(found, tally);
    std::stable_sort(found.problems.begin(), found.problems.end(),
        [](const VerifyProblem& a, const VerifyProblem& b) { return a.key < b.key; });
    tally.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return s;
}

nlohmann::json report_json(
    const Storage& storage, const VerifyContext& ctx, int64_t since, const Findings& found, const Tally& tally)
{
    nlohmann::json problems = nlohmann::json::array();
    for (const VerifyProblem& p : found.problems)
        problems.push_back({{"key", p.key}, {"problem", p.problem},
            {"expected", p.expected.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.expected)}});
    return {{"format", k_verify_format}, {"repository", storage.location()}, {"quick", ctx.quick},
        {"since", since > 0 ? nlohmann::json(format_utc_time(since)) : nlohmann::json(nullptr)},
        {"backups_asked", ctx.backups}, {"ok", found.problems.empty()}, {"backups", tally.backups},
        {"wal_objects", tally.wal_objects}, {"backup_objects", tally.backup_objects}, {"bytes_read", tally.bytes_read},
        {"seconds", tally.seconds}, {"problems", problems}, {"notices", found.notices}};
}

Status verify(VerifyContext& ctx)
{
    ResolvedSettings settings;
    std::unique_ptr<Storage> storage;
    Status s = open_repository(ctx.common, settings, storage);
    if (!s.is_ok())
        return s;
    int64_t since = 0;
    if (!ctx.since.empty()) {
        s = parse_since(ctx.since, std::time(nullptr), since);
        if (!s.is_ok())
            return s;
    }
    const int parallel = static_cast<int>(setting_int(settings, "parallel"));
    Verifier verifier(*storage, ctx, parallel, since);
    Findings found;
    Tally tally;
    s = verifier.run(found, tally);
    if (!s.is_ok())
        return s.prefix("could not verify repository \"" + storage->location() + "\"");
    if (ctx.json) {
        std::printf("%s\n", report_json(*storage, ctx, since, found, tally).dump(2).c_str());
    } else {
        for (const std::string& n : found.notices)
            std::printf("note: %s\n", n.c_str());
        for (const VerifyProblem& p : found.problems)
            std::printf("problem: %s: %s%s\n", p.key.c_str(), p.problem.c_str(),
                p.expected.empty() ? "" : ("; expected " + p.expected).c_str());
        const double mib_s = tally.seconds > 0 ? static_cast<double>(tally.bytes_read) / tally.seconds / 1048576 : 0;
        std::printf("verified %s%s: %llu backups (%llu objects), %llu WAL objects, %s read in %.2f s (%.0f MiB/s): "
                    "%s\n",
            storage->location().c_str(), ctx.quick ? " (quick: listing and lengths, no data read)" : "",
            ull(tally.backups), ull(tally.backup_objects), ull(tally.wal_objects),
            format_bytes(tally.bytes_read).c_str(), tally.seconds, mib_s,
            found.problems.empty() ? "no problems" : (std::to_string(found.problems.size()) + " problems").c_str());
    }
    if (!found.problems.empty())
        return Status::error(Code::corrupt,
            std::to_string(found.problems.size()) + " problem(s) in repository \"" + storage->location() + "\"" +
                (ctx.json ? " (listed in the JSON document)" : " (listed above)"));
    return Status::ok();
}

}  // namespace

void add_verify_command(CLI::App& app, int& exit_code)
{
    auto ctx = std::make_shared<VerifyContext>();
    CLI::App* cmd = app.add_subcommand(k_command,
        "Read the whole repository and check every object: WAL objects against their checksums, names and "
        "system, backup objects against their manifests, WAL continuity for every backup, the timeline history "
        "files and identity.json. Lists each problem and exits 1 if there is any; writes nothing.");
    cmd->add_flag("--quick", ctx->quick,
        "check the listing only: objects present with the sizes the manifests record, WAL continuity, history "
        "files; read no object data");
    cmd->add_option("--backup", ctx->backups,
           "verify only this backup (repeatable): its objects, and the WAL and continuity of its lineage")
        ->type_name("LABEL");
    cmd->add_option("--since", ctx->since,
           "read only the WAL archived and the backups finished since TIME: a UTC time (2026-12-01T00:00:00Z) or a "
           "span back from now (7d); continuity is still checked over the whole lineage")
        ->type_name("TIME");
    cmd->add_flag("--json", ctx->json, "print the report as one JSON document (docs/operations.md)");
    add_setting_flags(*cmd, ctx->common, k_use_verify);
    on_run(*cmd, k_command, exit_code, [ctx] { return verify(*ctx); });
}

}  // namespace walvault
