// walvault expire: applies the retention policy (retain_full, retain_window; core/repo/retention.h) to the
// repository. It prints the plan — every backup kept or expired with the reason, the WAL removed per
// timeline, what is freed — then carries it out in an order that a crash at any point leaves harmless:
// the manifests of the expired backups first (each disappears from list and restore at once), then their
// objects (started.json last), then WAL in key order (oldest first), history files last. Running it again
// finishes the job. While any backup is being written (a live lease), nothing is removed.
#include "tool/commands/commands.h"

#include "core/common/utc_time.h"
#include "core/config/settings.h"
#include "core/repo/backup_catalog.h"
#include "core/repo/identity.h"
#include "core/repo/layout.h"
#include "core/repo/retention.h"
#include "core/repo/wal_catalog.h"
#include "tool/progress.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>

namespace walvault {
namespace {

constexpr const char* k_command = "expire";
constexpr size_t k_delete_batch = 1000;  // keys per remove_many call: one S3 DeleteObjects request
constexpr int k_expire_format = 1;       // "format" of the --json document
// Batches in flight unless parallel is set: removals wait on the disk or the store, not on the CPU, so the
// tool's default of 2 (one per core, for work that decodes) leaves most of the time idle (docs/benchmarks.md,
// "Expire").
constexpr int k_expire_default_parallel = 8;

struct ExpireContext {
    CommonOptions common;
    ExpireOptions options;
};

unsigned long long ull(uint64_t n)
{
    return static_cast<unsigned long long>(n);
}

// Removes keys in batches of k_delete_batch on `parallel` threads; removed counts what went.
Status remove_batches(Storage& storage, const std::vector<std::string>& keys, int parallel, uint64_t& removed)
{
    const size_t batches = (keys.size() + k_delete_batch - 1) / k_delete_batch;
    std::atomic<uint64_t> done{0};
    Status s = run_parallel(batches, parallel, [&](size_t b) -> Status {
        const auto first = keys.begin() + static_cast<std::ptrdiff_t>(b * k_delete_batch);
        const auto last = keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), (b + 1) * k_delete_batch));
        Status st = storage.remove_many(std::vector<std::string>(first, last));
        if (st.is_ok())
            done += static_cast<uint64_t>(last - first);
        return st;
    });
    removed += done.load();
    return s;
}

Status carry_out(Storage& storage, const ExpirePlan& plan, int parallel, uint64_t& removed)
{
    std::vector<std::string> manifests, data, started;
    for (const BackupVerdict& v : plan.backups)
        if (!v.keep && v.record->complete)
            manifests.push_back(backup_manifest_key(v.record->label));
    Status s = remove_batches(storage, manifests, parallel, removed);
    if (!s.is_ok())
        return s.prefix("could not remove the manifests of the expired backups");
    for (const BackupVerdict& v : plan.backups) {
        if (v.keep)
            continue;
        std::vector<ObjectInfo> objects;
        s = storage.list(backup_prefix(v.record->label), objects);
        if (!s.is_ok())
            return s;
        for (const ObjectInfo& o : objects)
            (o.key == backup_started_key(v.record->label) ? started : data).push_back(o.key);
    }
    s = remove_batches(storage, data, parallel, removed);
    if (s.is_ok())
        s = remove_batches(storage, started, parallel, removed);
    if (!s.is_ok())
        return s.prefix("could not remove the objects of the expired backups (they are no longer restorable; "
                        "run expire again to remove the rest)");
    s = remove_batches(storage, plan.wal_keys, parallel, removed);
    if (s.is_ok())
        s = remove_batches(storage, plan.history_keys, parallel, removed);
    if (!s.is_ok())
        return s.prefix("could not remove expired WAL (run expire again to remove the rest)");
    return Status::ok();
}

std::string policy_text(const RetentionPolicy& p)
{
    std::string out;
    if (p.retain_full > 0)
        out = "retain_full = " + std::to_string(p.retain_full);
    if (p.retain_window > 0)
        out += (out.empty() ? "" : ", ") + std::string("retain_window = ") +
            format_setting_quantity(p.retain_window, SettingUnit::s);
    return out;
}

void print_plan(const Storage& storage, const RetentionPolicy& policy, const ExpirePlan& plan)
{
    std::printf("expire plan for %s (%s):\n", storage.location().c_str(), policy_text(policy).c_str());
    for (const BackupVerdict& v : plan.backups) {
        const BackupRecord& r = *v.record;
        std::printf("  %-7s backup %s (%s%s, %s)\n", v.keep ? "keep" : "expire", r.label.c_str(),
            r.complete ? "complete" : "incomplete",
            r.complete ? (", timeline " + std::to_string(r.manifest.timeline) + ", start " +
                             format_lsn(r.manifest.start_lsn) + ", stop " + r.manifest.stop_time)
                             .c_str()
                       : "",
            format_bytes(r.stored_bytes).c_str());
        for (const std::string& why : v.reasons)
            std::printf("          %s\n", why.c_str());
    }
    if (plan.wal.empty())
        std::printf("  WAL: nothing to remove\n");
    for (const WalExpiry& w : plan.wal) {
        std::string what;
        if (w.objects > 0)
            what =
                w.first + " .. " + w.last + " (" + std::to_string(w.objects) + " files, " + format_bytes(w.bytes) + ")";
        if (w.history)
            what += (what.empty() ? "" : " and ") + history_file_name(w.timeline);
        std::printf("  expire  WAL of timeline %u: %s%s\n", w.timeline, what.c_str(),
            w.whole ? "; no kept backup reaches this timeline" : ("; kept from " + w.first_kept).c_str());
    }
    for (const std::string& n : plan.notices)
        std::printf("  note: %s\n", n.c_str());
    std::printf("  total: %llu backups (%llu objects, %s) and %llu WAL objects (%s)\n", ull(plan.backups_removed),
        ull(plan.backup_objects), format_bytes(plan.backup_bytes).c_str(),
        ull(plan.wal_keys.size() + plan.history_keys.size()), format_bytes(plan.wal_bytes).c_str());
}

nlohmann::json plan_json(const Storage& storage, const RetentionPolicy& policy, const ExpirePlan& plan)
{
    nlohmann::json backups = nlohmann::json::array();
    for (const BackupVerdict& v : plan.backups)
        backups.push_back({{"label", v.record->label}, {"status", v.record->complete ? "complete" : "incomplete"},
            {"action", v.keep ? "keep" : "expire"}, {"reasons", v.reasons}, {"standalone_wal", v.standalone},
            {"objects", v.record->objects}, {"stored_size", v.record->stored_bytes}});
    nlohmann::json wal = nlohmann::json::array();
    auto or_null = [](const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); };
    for (const WalExpiry& w : plan.wal)
        wal.push_back({{"timeline", w.timeline}, {"whole_timeline", w.whole}, {"first", or_null(w.first)},
            {"last", or_null(w.last)}, {"first_kept", or_null(w.first_kept)}, {"objects", w.objects},
            {"stored_size", w.bytes}, {"history", w.history}});
    return {{"format", k_expire_format}, {"repository", storage.location()},
        {"retain_full", policy.retain_full > 0 ? nlohmann::json(policy.retain_full) : nlohmann::json(nullptr)},
        {"retain_window_seconds",
            policy.retain_window > 0 ? nlohmann::json(policy.retain_window) : nlohmann::json(nullptr)},
        {"backups", backups}, {"wal", wal}, {"notices", plan.notices}, {"writers", plan.writers},
        {"backups_removed", plan.backups_removed},
        {"objects_removed", plan.backup_objects + plan.wal_keys.size() + plan.history_keys.size()},
        {"bytes_removed", plan.backup_bytes + plan.wal_bytes}};
}

RetentionPolicy retention_policy(const ResolvedSettings& settings)
{
    RetentionPolicy p;
    p.retain_full = setting_int(settings, "retain_full");
    p.retain_window = setting_int(settings, "retain_window");
    return p;
}

Status expire(ExpireContext& ctx)
{
    ResolvedSettings settings;
    std::unique_ptr<Storage> storage;
    Status s = open_repository(ctx.common, settings, storage);
    if (!s.is_ok())
        return s;
    return expire_repository(*storage, settings, ctx.options);
}

}  // namespace

Status expire_repository(Storage& storage, const ResolvedSettings& settings, const ExpireOptions& options)
{
    ExpireInput in;
    in.policy = retention_policy(settings);
    in.lease_timeout = setting_int(settings, "lease_timeout");
    in.now = std::time(nullptr);
    const int parallel = settings.count("parallel") != 0 ? static_cast<int>(setting_int(settings, "parallel"))
                                                         : k_expire_default_parallel;
    if (!in.policy.is_set()) {
        ExpirePlan unused;
        return plan_expire(in, unused);  // says which settings to set
    }
    RepoIdentity identity;
    Status s = read_identity(storage, identity);
    if (s.code() == Code::not_found)
        return Status::error(Code::not_found,
            "repository \"" + storage.location() + "\" has no identity.json: it is not a walvault repository");
    if (!s.is_ok())
        return s;
    in.segment_size = identity.wal_segment_size;
    std::vector<BackupRecord> backups;
    std::vector<ObjectInfo> wal;
    s = read_backup_catalog(storage, backups);
    if (s.is_ok())
        s = storage.list(k_wal_prefix, wal);
    if (!s.is_ok())
        return s;
    for (const ObjectInfo& o : wal) {
        const auto name = wal_name_of_key(o.key, in.segment_size);
        if (!name || name->kind != WalKind::history)
            continue;
        s = read_timeline_history(storage, name->timeline, in.histories[name->timeline]);
        if (!s.is_ok())
            return s.prefix("expire needs every timeline's history to know which WAL the backups need");
    }
    in.backups = &backups;
    in.wal = &wal;
    ExpirePlan plan;
    s = plan_expire(in, plan);
    if (!s.is_ok())
        return s;
    if (options.json) {
        nlohmann::json doc = plan_json(storage, in.policy, plan);
        doc["dry_run"] = options.dry_run;
        doc["done"] = false;
        if (!options.dry_run && !plan.blocked()) {
            uint64_t removed = 0;
            s = carry_out(storage, plan, parallel, removed);
            doc["done"] = s.is_ok();
        }
        std::printf("%s\n", doc.dump(2).c_str());
    } else {
        print_plan(storage, in.policy, plan);
        std::fflush(stdout);  // the plan is on the terminal (or in the log) before anything goes
        if (options.dry_run) {
            std::printf("dry run: nothing was removed\n");
        } else if (!plan.blocked()) {
            const auto start = std::chrono::steady_clock::now();
            uint64_t removed = 0;
            s = carry_out(storage, plan, parallel, removed);
            const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            if (s.is_ok())
                std::printf("expired %llu backups and %llu WAL objects: %llu objects, %s removed in %.2f s (%.0f "
                            "objects/s)\n",
                    ull(plan.backups_removed), ull(plan.wal_keys.size() + plan.history_keys.size()), ull(removed),
                    format_bytes(plan.backup_bytes + plan.wal_bytes).c_str(), seconds,
                    seconds > 0 ? static_cast<double>(removed) / seconds : 0.0);
        }
    }
    if (!s.is_ok())
        return s;
    if (plan.blocked()) {
        std::string who;
        for (const std::string& w : plan.writers)
            who += (who.empty() ? "" : "; ") + w;
        return Status::error(Code::busy, "nothing was removed: " + who,
            "expire removes nothing while a backup is being written. Run it again once the backup is done; "
            "a backup that was killed is taken for gone once its lease is older than lease_timeout.");
    }
    return Status::ok();
}

void add_expire_command(CLI::App& app, int& exit_code)
{
    auto ctx = std::make_shared<ExpireContext>();
    CLI::App* cmd = app.add_subcommand(k_command,
        "Remove the backups and WAL that the retention policy (retain_full, retain_window) no longer keeps; "
        "prints the plan first. Removes 1000 objects per request, 8 requests at a time unless --parallel is "
        "given.");
    cmd->add_flag("--dry-run,-n", ctx->options.dry_run, "print the plan and change nothing");
    cmd->add_flag("--json", ctx->options.json, "print the plan as one JSON document (docs/retention.md)");
    add_setting_flags(*cmd, ctx->common, k_use_expire, {{"parallel", std::to_string(k_expire_default_parallel)}});
    on_run(*cmd, k_command, exit_code, [ctx] { return expire(*ctx); });
}

}  // namespace walvault
