// walvault receive: streams WAL from a physical replication slot into the repository, so that the newest
// commits are off the server within receive_flush_interval. A complete segment becomes the ordinary segment
// object (the same object, through the same archive_wal_bytes rules, as the archive module writes: whichever
// comes second, waiting for the first if they meet, finds an identical copy); the segment in progress goes up as
// streamed prefixes (stream_prefix_key, core/repo/layout.h), each a new key, the shorter ones removed once a longer one
// or the whole segment is durable. The flush position reported to the server is what is durable in the repository, so
// the slot keeps every byte that is not, and with --synchronous the receiver can be a synchronous standby.
// docs/operations.md, "Streaming WAL with walvault receive".
#include "tool/commands/commands.h"

#include "core/codec/age.h"
#include "core/codec/codec.h"
#include "core/common/text.h"
#include "core/common/utc_time.h"
#include "core/config/settings.h"
#include "core/repo/health.h"  // k_receive_state_interval_s
#include "core/repo/identity.h"
#include "core/repo/layout.h"
#include "core/repo/wal_archive.h"
#include "core/repo/wal_stream.h"
#include "core/wal/replication.h"
#include "core/wal/timeline_history.h"
#include "core/wal/wal_name.h"
#include "tool/pg_client.h"
#include "tool/progress.h"

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <optional>
#include <thread>

namespace walvault {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* k_command = "receive";
constexpr milliseconds k_status_interval{10000};  // wal_receiver_status_interval's default
constexpr milliseconds k_state_min_gap{1000};     // between two state objects
// A server that sends nothing, not even the keepalive it sends every half wal_sender_timeout (60 s by default),
// for this long is gone (a dead host or network path that TCP does not report): reconnect.
constexpr milliseconds k_silence_timeout{120000};
constexpr milliseconds k_wait_slice{1000};   // the longest wait for the server before looking at signals
constexpr milliseconds k_min_backoff{1000};  // reconnect delays, doubling up to the maximum
constexpr milliseconds k_max_backoff{30000};
constexpr uint64_t k_lag_warning_segments = 4;  // a lag behind the server this large is logged
constexpr std::chrono::seconds k_lag_warning_every{60};
constexpr const char* k_sqlstate_undefined_object = "42704";  // a slot that does not exist

volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_receive_stop_signal(int)
{
    g_stop = 1;
}

struct ReceiveContext {
    CommonOptions common;
    std::string dbname;
    bool create_slot = false;
    bool synchronous = false;
    bool status = false;
    bool remove_state = false;

    ResolvedSettings settings;
    std::unique_ptr<Storage> storage;
    Compression compression;
    std::vector<AgeRecipient> recipients;
    RepoIdentity encryption;
    RepoIdentity identity;
    std::string slot;
    FlushPolicy policy;
    Encoder encoder{k_wal_frame_bytes};
    PrefixEncoder prefix_encoder{k_wal_frame_bytes};  // the segment in progress
};

// The segment in progress: its bytes from the segment's start, as the server sent them.
struct Stream {
    bool positioned = false;
    uint32_t timeline = 0;
    uint64_t segno = 0;
    std::vector<uint8_t> bytes;  // at most one segment
    uint64_t uploaded = 0;       // the longest prefix of it durable in the repository
    uint64_t server_end = 0;     // the server's end of WAL, from its last message
    Clock::time_point last_upload = Clock::now();
    Clock::time_point last_status = Clock::time_point{};
    Clock::time_point last_state = Clock::time_point{};  // the last state object written
    bool state_due = false;    // an upload since then: the state is written within k_state_min_gap
    uint64_t last_prefix = 0;  // the prefix of this segment this process uploaded last (0: none, or unknown)
    Clock::time_point last_lag_warning = Clock::time_point{};
};

void say(const char* format, const std::string& a = {}, const std::string& b = {}, const std::string& c = {})
{
    std::fprintf(stderr, "walvault receive: ");
    std::fprintf(stderr, format, a.c_str(), b.c_str(), c.c_str());
    std::fputc('\n', stderr);
    std::fflush(stderr);
}

// A fatal error ends walvault receive; anything else (the server went away) is retried after a delay.
struct SessionResult {
    Status status;
    bool fatal = false;
    bool streamed = false;  // some WAL arrived: the backoff starts again from its minimum
};

uint64_t segment_size(const ReceiveContext& ctx)
{
    return ctx.identity.wal_segment_size;
}

uint64_t segment_start(const ReceiveContext& ctx, const Stream& st)
{
    return st.segno * segment_size(ctx);
}

// The end of the WAL durable in the repository: what the server may recycle.
uint64_t durable_lsn(const ReceiveContext& ctx, const Stream& st)
{
    return segment_start(ctx, st) + st.uploaded;
}

uint64_t received_lsn(const ReceiveContext& ctx, const Stream& st)
{
    return segment_start(ctx, st) + st.bytes.size();
}

WalName segment_name(const ReceiveContext& ctx, const Stream& st)
{
    return *parse_wal_name(segment_file_name(st.timeline, st.segno, segment_size(ctx)));
}

// Runs fn with the encryption stage of encryption_recipients set on the encoder (a file key per object).
template <typename Fn> Status with_cipher(ReceiveContext& ctx, Fn fn)
{
    std::optional<AgeEncryptStage> cipher;
    if (!ctx.recipients.empty())
        cipher.emplace(ctx.recipients);
    ctx.encoder.set_stage(cipher ? &*cipher : nullptr);
    Status s = fn();
    ctx.encoder.set_stage(nullptr);
    return s;
}

std::string host_name()
{
    char host[256] = {};
    if (::gethostname(host, sizeof(host) - 1) != 0)
        return "";
    return host;
}

// The state object: within k_state_min_gap of an upload (not at each: in --synchronous mode that would be
// two more writes, a list and a removal per commit), and every k_receive_state_interval_s while streaming, so
// that `walvault check` tells a receiver that stopped from an idle server. The state only informs (--status,
// list, check): the positions the server is told and recovery go by the WAL objects themselves.
Status write_state(ReceiveContext& ctx, Stream& st)
{
    st.last_state = Clock::now();
    st.state_due = false;
    ReceiveState state;
    state.slot = ctx.slot;
    state.system_identifier = ctx.identity.system_identifier;
    state.timeline = st.timeline;
    state.received_lsn = received_lsn(ctx, st);
    state.flushed_lsn = durable_lsn(ctx, st);
    state.server_lsn = std::max(st.server_end, state.received_lsn);
    state.segment = st.uploaded > 0 ? segment_name(ctx, st).text : "";
    state.updated = std::time(nullptr);
    state.host = host_name();
    state.pid = static_cast<int>(::getpid());
    const auto ms = std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch());
    return write_receive_state(*ctx.storage, state, ms.count());
}

// The status update: written = received, flushed = durable in the repository. apply is left invalid, as
// pg_receivewal does.
Status send_status(ReceiveContext& ctx, PgClient& pg, Stream& st, bool reply_requested = false)
{
    const auto now_us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch());
    const std::vector<uint8_t> msg = standby_status_update(
        received_lsn(ctx, st), durable_lsn(ctx, st), 0, now_us.count() - k_pg_epoch_offset_us, reply_requested);
    st.last_status = Clock::now();
    return pg.write_copy_data(msg.data(), msg.size());
}

void report_lag(const ReceiveContext& ctx, Stream& st)
{
    const uint64_t durable = durable_lsn(ctx, st);
    if (st.server_end <= durable)
        return;
    const uint64_t lag = st.server_end - durable;
    const auto now = Clock::now();
    if (lag < k_lag_warning_segments * segment_size(ctx) || now - st.last_lag_warning < k_lag_warning_every)
        return;
    st.last_lag_warning = now;
    say("WARNING: the repository is %s behind the server (durable up to %s, server at %s); the slot keeps that "
        "WAL on the server",
        format_bytes(lag), format_lsn(durable), format_lsn(st.server_end));
}

// After an upload of `name` as a prefix of `keep` bytes, removes the shorter ones: the one this process
// uploaded last, or, when it does not know which are there (its first upload of the segment, or after a
// removal failed), every one a listing finds. (Longer ones an earlier process left hold the same bytes; they
// go when the segment is complete.)
Status remove_older_prefixes(ReceiveContext& ctx, Stream& st, const WalName& name, uint64_t keep)
{
    Status s = st.last_prefix == 0 ? remove_stream_prefixes(*ctx.storage, name, keep)
                                   : ctx.storage->remove(stream_prefix_key(name, st.last_prefix));
    if (s.code() == Code::not_found)
        s = Status::ok();
    st.last_prefix = 0;
    return s;
}

// Uploads the segment in progress as a new prefix, then removes the shorter ones.
Status upload_prefix(ReceiveContext& ctx, Stream& st)
{
    const WalName name = segment_name(ctx, st);
    // Only what follows the frames of the last prefix is compressed again: the whole prefix was, each time,
    // O(segment) per upload (~190 ms per commit late in a segment in --synchronous mode). Encrypted, the whole
    // compressed object is encrypted again, under a file key of its own.
    Status s = with_cipher(ctx, [&] {
        return write_stream_prefix(
            *ctx.storage, ctx.encoder, ctx.compression, name, st.bytes.data(), st.bytes.size(), &ctx.prefix_encoder);
    });
    if (!s.is_ok())
        return s.prefix("could not upload the streamed prefix of \"" + name.text + "\"");
    st.uploaded = st.bytes.size();
    st.last_upload = Clock::now();
    st.state_due = true;
    s = remove_older_prefixes(ctx, st, name, st.uploaded);
    if (!s.is_ok())
        say("WARNING: %s", s.message());  // the prefix is durable: tidying up can wait for the next upload
    st.last_prefix = s.is_ok() ? st.uploaded : 0;
    return Status::ok();
}

// The segment is complete: archive it as the segment object, remove its prefixes, start the next one.
Status complete_segment(ReceiveContext& ctx, Stream& st)
{
    const WalName name = segment_name(ctx, st);
    ArchiveReport report;
    Status s = archive_wal_bytes(*ctx.storage, ctx.encoder, ctx.compression, name.text, st.bytes.data(),
        st.bytes.size(), report, ctx.recipients);
    if (!s.is_ok())
        return s.prefix("could not archive streamed segment \"" + name.text + "\"");
    st.uploaded = st.bytes.size();
    // Every prefix, listed: an earlier process may have left longer ones than this one uploaded.
    s = remove_stream_prefixes(*ctx.storage, name, 0);
    st.last_prefix = 0;
    if (!s.is_ok())
        say("WARNING: %s", s.message());
    say(report.already_archived ? "segment %s was already archived, with the same content" : "archived segment %s",
        name.text);
    st.bytes.clear();
    st.uploaded = 0;
    st.segno++;
    st.last_upload = Clock::now();
    st.state_due = true;
    return Status::ok();
}

// Appends XLogData at wal_start, which must be where the stream stands; completes segments as they fill.
Status append_wal(ReceiveContext& ctx, Stream& st, uint64_t wal_start, const uint8_t* data, size_t len)
{
    if (wal_start != received_lsn(ctx, st))
        return Status::error(Code::io_error,
            "the server sent WAL from " + format_lsn(wal_start) + ", expected " + format_lsn(received_lsn(ctx, st)));
    while (len > 0) {
        const size_t room = segment_size(ctx) - st.bytes.size();
        const size_t n = std::min(room, len);
        st.bytes.insert(st.bytes.end(), data, data + n);
        data += n;
        len -= n;
        if (st.bytes.size() == segment_size(ctx)) {
            Status s = complete_segment(ctx, st);
            if (!s.is_ok())
                return s;
        }
    }
    return Status::ok();
}

// Stores timeline `timeline`'s history file as the archive module would (an identical copy is success).
Status store_history(ReceiveContext& ctx, PgClient& pg, uint32_t timeline)
{
    if (timeline <= 1)
        return Status::ok();
    std::vector<PgRow> rows;
    Status s = pg.query("TIMELINE_HISTORY " + std::to_string(timeline), {}, rows);
    if (!s.is_ok() || rows.size() != 1 || rows[0].size() < 2)
        return (s.is_ok() ? Status::error(Code::io_error, "unexpected answer") : s)
            .prefix("could not read the history of timeline " + std::to_string(timeline) + " from the server");
    const std::string& name = rows[0][0];
    const std::string& content = rows[0][1];
    ArchiveReport report;
    s = archive_wal_bytes(*ctx.storage, ctx.encoder, ctx.compression, name,
        reinterpret_cast<const uint8_t*>(content.data()), content.size(), report, ctx.recipients);
    if (!s.is_ok())
        return s.prefix("could not archive \"" + name + "\"");
    if (!report.already_archived)
        say("archived %s", name);
    return Status::ok();
}

// The repository's identity must be the server's system; a new repository takes it from the server.
SessionResult check_identity(ReceiveContext& ctx, PgClient& pg, uint64_t system_identifier)
{
    SessionResult r;
    Status s = read_identity(*ctx.storage, ctx.identity);
    if (s.code() == Code::not_found) {
        PgRow size_row, version_row;
        s = pg.query_row("SHOW wal_segment_size", {}, size_row);
        if (s.is_ok())
            s = pg.query_row("SHOW server_version_num", {}, version_row);
        if (!s.is_ok()) {
            r.status = s;
            return r;
        }
        int64_t bytes = 0;
        std::string error;
        RepoIdentity ours;
        ours.system_identifier = system_identifier;
        ours.pg_major = std::atoi(version_row[0].c_str()) / 10000;
        if (!parse_setting_quantity(size_row[0], SettingUnit::none, bytes, error)) {
            // "16MB": SHOW prints the size with its unit.
            int64_t mb = 0;
            if (parse_setting_quantity(size_row[0], SettingUnit::mb, mb, error))
                bytes = mb * 1024 * 1024;
        }
        ours.wal_segment_size = static_cast<uint64_t>(bytes);
        ours.created = format_utc_time(std::time(nullptr));
        ours.encryption = ctx.encryption.encryption;
        ours.recipients = ctx.encryption.recipients;
        if (!valid_wal_segment_size(ours.wal_segment_size)) {
            r.status =
                Status::error(Code::invalid, "the server's wal_segment_size \"" + size_row[0] + "\" is not valid");
            r.fatal = true;
            return r;
        }
        s = ensure_identity(*ctx.storage, ours, &ctx.identity);
    }
    if (s.is_ok() && ctx.identity.system_identifier != system_identifier)
        s = Status::error(Code::conflict,
            "repository \"" + ctx.storage->location() + "\" belongs to database system " +
                std::to_string(ctx.identity.system_identifier) + ", the server " + pg.describe() +
                " is database system " + std::to_string(system_identifier),
            "Check --dbname and --repo: a repository holds the WAL of one database system.");
    if (s.is_ok())
        s = check_identity_encryption(*ctx.storage, ctx.identity, ctx.encryption);
    r.status = s;
    r.fatal = !s.is_ok() && (s.code() == Code::conflict || s.code() == Code::invalid);
    return r;
}

// The slot's restart position and timeline (READ_REPLICATION_SLOT, PostgreSQL 15); creates the slot with
// --create-slot. restart_lsn 0: the slot has reserved no WAL yet.
SessionResult read_slot(ReceiveContext& ctx, PgClient& pg, uint64_t& restart_lsn, uint32_t& restart_tli)
{
    SessionResult r;
    for (int attempt = 0; attempt < 2; ++attempt) {
        PgRow row;
        r.status = pg.query_row("READ_REPLICATION_SLOT " + ctx.slot, {}, row);
        if (!r.status.is_ok())
            return r;
        if (row.size() >= 3 && !row[0].empty()) {
            if (row[0] != "physical") {
                r.status =
                    Status::error(Code::invalid, "replication slot \"" + ctx.slot + "\" is a " + row[0] + " slot",
                        "walvault receive streams from a physical replication slot; name one with --slot.");
                r.fatal = true;
                return r;
            }
            restart_lsn = row[1].empty() ? 0 : parse_lsn(row[1]).value_or(0);
            restart_tli = row[2].empty() ? 0 : static_cast<uint32_t>(std::strtoul(row[2].c_str(), nullptr, 10));
            return r;
        }
        if (!ctx.create_slot || attempt > 0) {
            r.status =
                Status::error(Code::not_found, "replication slot \"" + ctx.slot + "\" does not exist on the server",
                    "Create it with walvault receive --create-slot, or with pg_create_physical_replication_slot('" +
                        ctx.slot + "', true).");
            r.fatal = true;
            return r;
        }
        std::vector<PgRow> rows;
        r.status = pg.query("CREATE_REPLICATION_SLOT " + ctx.slot + " PHYSICAL RESERVE_WAL", {}, rows);
        if (!r.status.is_ok() && pg.last_sqlstate() != "42710")  // duplicate_object: created meanwhile
            return r;
        if (r.status.is_ok())
            say("created replication slot \"%s\"", ctx.slot);
    }
    return r;
}

// Streams from START_REPLICATION until the server ends the stream, the connection fails or a stop is asked.
// next_timeline/next_start: where the server's timeline ended and the next one starts (0: it did not end).
Status stream(ReceiveContext& ctx, PgClient& pg, Stream& st, bool& streamed, uint32_t& next_timeline)
{
    next_timeline = 0;
    const std::string command = "START_REPLICATION SLOT " + ctx.slot + " PHYSICAL " +
        format_lsn(segment_start(ctx, st)) + " TIMELINE " + std::to_string(st.timeline);
    Status s = pg.start_copy_both(command);
    if (!s.is_ok())
        return s.prefix("could not start streaming at " + format_lsn(segment_start(ctx, st)) + " on timeline " +
            std::to_string(st.timeline));
    say("streaming from slot \"%s\" at %s", ctx.slot,
        format_lsn(segment_start(ctx, st)) + " on timeline " + std::to_string(st.timeline));
    st.last_upload = Clock::now();
    uint64_t reported = 0;                   // the flush position last reported
    Clock::time_point heard = Clock::now();  // the last message from the server
    for (;;) {
        if (g_stop)
            break;
        if (Clock::now() - heard > k_silence_timeout)
            return Status::error(Code::io_error,
                "the server sent nothing for " + std::to_string(k_silence_timeout.count() / 1000) + " s");
        // Wake for the flush timer, the status interval and signals.
        milliseconds wait = k_wait_slice;
        if (ctx.policy.synchronous && st.bytes.size() > st.uploaded) {
            wait = milliseconds{0};  // a commit waits for these bytes: only what is already here joins them
        } else if (st.bytes.size() > st.uploaded) {
            const auto due =
                ctx.policy.interval - std::chrono::duration_cast<milliseconds>(Clock::now() - st.last_upload);
            wait = std::clamp(due, milliseconds{0}, wait);
        }
        const uint8_t* data = nullptr;
        size_t len = 0;
        Status error;
        const int got = pg.read_copy_data(static_cast<int>(wait.count()), data, len, error);
        if (got < 0) {
            if (!error.is_ok())
                return error;
            std::vector<PgRow> rows;
            s = pg.end_copy(rows);
            if (!s.is_ok())
                return s.prefix("the server ended streaming");
            if (rows.empty() || rows[0].empty())
                return Status::error(Code::io_error, "the server ended streaming");
            next_timeline = static_cast<uint32_t>(std::strtoul(rows[0][0].c_str(), nullptr, 10));
            break;
        }
        if (got > 0) {
            heard = Clock::now();
            const std::optional<ReplicationMessage> m = parse_replication_message(data, len);
            if (!m)
                return Status::error(Code::io_error, "the server sent a replication message walvault does not know");
            st.server_end = std::max(st.server_end, m->wal_end);
            if (m->kind == ReplicationMessage::Kind::xlog_data) {
                streamed = true;
                s = append_wal(ctx, st, m->wal_start, m->payload, m->payload_len);
                if (!s.is_ok())
                    return s;
            } else if (m->reply_requested) {
                s = send_status(ctx, pg, st);
                if (!s.is_ok())
                    return s;
            }
        }
        // In --synchronous mode a batch goes up once nothing more is waiting: a commit waits for it.
        const uint64_t fresh = st.bytes.size() - st.uploaded;
        const bool batch_done = got == 0 || !ctx.policy.synchronous || fresh >= ctx.policy.bytes;
        // Catching up (the server is already past this segment's end): the whole segment follows at streaming
        // speed, and a prefix of it now would be written again and again.
        const bool catching_up = st.server_end >= segment_start(ctx, st) + segment_size(ctx);
        if (batch_done && !catching_up &&
            should_flush(ctx.policy, fresh, std::chrono::duration_cast<milliseconds>(Clock::now() - st.last_upload))) {
            s = upload_prefix(ctx, st);
            if (!s.is_ok())
                return s;
        }
        const bool advanced = durable_lsn(ctx, st) != reported;
        if (advanced || Clock::now() - st.last_status >= k_status_interval) {
            reported = durable_lsn(ctx, st);
            s = send_status(ctx, pg, st);
            if (!s.is_ok())
                return s;
            report_lag(ctx, st);
        }
        if ((st.state_due && Clock::now() - st.last_state >= k_state_min_gap) ||
            Clock::now() - st.last_state >= std::chrono::seconds{k_receive_state_interval_s}) {
            s = write_state(ctx, st);
            if (!s.is_ok())
                return s;
        }
    }
    // Stopping, or the timeline ended: what arrived goes up first.
    if (st.bytes.size() > st.uploaded) {
        s = upload_prefix(ctx, st);
        if (!s.is_ok())
            return s;
        if (next_timeline == 0)
            (void)send_status(ctx, pg, st);
    }
    return Status::ok();
}

// A reconnect of a process that streamed before: whether its position is on the server's history
// (resume_point), which after a failover may be another server's. A server whose history left the receiver's
// timeline before what the receiver got of it (a standby promoted before it had all the WAL the receiver
// streamed from the old primary) has it go on on the next timeline of that history from the switch point: the
// WAL of the old timeline past the switch stays in the repository as it is, the only copy of it. A server whose
// history does not hold the receiver's timeline is a fatal error; one on its timeline whose WAL ends before
// what the receiver made durable (a lagging standby, or the wrong server) is tried again, with that message.
SessionResult check_position(
    ReceiveContext& ctx, PgClient& pg, Stream& st, uint32_t server_timeline, uint64_t server_lsn)
{
    SessionResult r;
    std::vector<TimelineSwitch> history;
    if (st.timeline != server_timeline && server_timeline > 1) {
        std::vector<PgRow> rows;
        r.status = pg.query("TIMELINE_HISTORY " + std::to_string(server_timeline), {}, rows);
        if (r.status.is_ok() && (rows.size() != 1 || rows[0].size() < 2))
            r.status = Status::error(Code::io_error, "unexpected answer");
        if (r.status.is_ok())
            r.status = parse_timeline_history(rows[0][1], server_timeline, history);
        if (!r.status.is_ok()) {
            r.status = r.status.prefix(
                "could not read the history of timeline " + std::to_string(server_timeline) + " from the server");
            return r;
        }
    }
    const uint64_t received = received_lsn(ctx, st);
    const uint64_t durable = durable_lsn(ctx, st);
    const ResumePoint p = resume_point(st.timeline, received, durable, server_timeline, server_lsn, history);
    const std::string ours = std::to_string(st.timeline);
    const std::string hint = "This is not the server walvault receive streamed from, nor one whose history holds "
                             "that WAL: check that --dbname reaches the right server. To stream from this one, "
                             "start walvault receive again with a replication slot of this server.";
    switch (p.kind) {
    case ResumePoint::Kind::same:
        break;
    case ResumePoint::Kind::forked: {
        const std::string at = format_lsn(p.switch_lsn);
        say("%s",
            "the server's history left timeline " + ours + " at " + at + ", before the position " +
                format_lsn(received) + " this receiver reached on it: the WAL of timeline " + ours + " past " + at +
                " stays in the repository on timeline " + ours + "; continuing on timeline " +
                std::to_string(p.next_timeline) + " from " + at);
        st.timeline = p.next_timeline;
        st.segno = p.switch_lsn / segment_size(ctx);
        st.bytes.clear();
        st.uploaded = 0;
        const Status s = write_state(ctx, st);
        if (!s.is_ok())
            say("WARNING: %s", s.message());
        break;
    }
    case ResumePoint::Kind::foreign:
        r.status = Status::error(Code::conflict,
            "the server " + pg.describe() + " is on timeline " + std::to_string(server_timeline) +
                " and its history does not hold timeline " + ours + ", on which this receiver reached " +
                format_lsn(received),
            hint);
        r.fatal = true;
        break;
    case ResumePoint::Kind::server_behind:
        r.status = Status::error(Code::conflict,
            "the server " + pg.describe() + " is on timeline " + ours + " but its WAL ends at " +
                format_lsn(server_lsn) + ", before " + format_lsn(durable) +
                " that this receiver already made durable in the repository on that timeline",
            "A standby that lags catches up: walvault receive tries again. If it never does, this is not the server "
            "walvault receive streamed from: check that --dbname reaches the right server.");
        break;  // retried: not fatal
    }
    return r;
}

// One connection: identify, find the start, stream, follow timeline switches.
SessionResult session(ReceiveContext& ctx, Stream& st)
{
    PgClient pg;
    SessionResult r;
    r.status = pg.connect(ctx.dbname, true);
    if (!r.status.is_ok())
        return r;
    PgRow row;
    r.status = pg.query_row("IDENTIFY_SYSTEM", {}, row);
    if (!r.status.is_ok() || row.size() < 3) {
        if (r.status.is_ok())
            r.status = Status::error(Code::io_error, "unexpected answer to IDENTIFY_SYSTEM");
        return r;
    }
    const uint64_t system_identifier = std::strtoull(row[0].c_str(), nullptr, 10);
    const uint32_t server_timeline = static_cast<uint32_t>(std::strtoul(row[1].c_str(), nullptr, 10));
    const uint64_t server_lsn = parse_lsn(row[2]).value_or(0);
    r = check_identity(ctx, pg, system_identifier);
    if (!r.status.is_ok())
        return r;
    uint64_t restart_lsn = 0;
    uint32_t restart_tli = 0;
    r = read_slot(ctx, pg, restart_lsn, restart_tli);
    if (!r.status.is_ok())
        return r;
    if (!st.positioned) {
        // A fresh start: where the slot stands, else where the server is; always from a segment's start, so
        // that every object holds a segment from its first byte.
        const uint64_t start = restart_lsn != 0 ? restart_lsn : server_lsn;
        st.timeline = restart_lsn != 0 && restart_tli != 0 ? restart_tli : server_timeline;
        st.segno = start / segment_size(ctx);
        st.positioned = true;
        st.bytes.reserve(segment_size(ctx));
    } else {
        r = check_position(ctx, pg, st, server_timeline, server_lsn);
        if (!r.status.is_ok())
            return r;
    }
    // After a reconnect the segment in progress is streamed again from its start: the same bytes.
    st.bytes.clear();
    st.uploaded = 0;
    st.last_prefix = 0;
    ctx.prefix_encoder.reset();
    st.server_end = server_lsn;
    for (;;) {
        r.status = store_history(ctx, pg, st.timeline);
        if (!r.status.is_ok()) {
            r.fatal = r.status.code() == Code::conflict;
            return r;
        }
        uint32_t next_timeline = 0;
        r.status = stream(ctx, pg, st, r.streamed, next_timeline);
        if (!r.status.is_ok()) {
            r.fatal = r.status.code() == Code::conflict;
            return r;
        }
        if (next_timeline == 0)
            return r;  // stopped
        // The timeline ended here; the next one's first segment holds this one's bytes up to the switch and
        // is streamed from its start.
        say("timeline %s ended at %s; following timeline %s", std::to_string(st.timeline),
            format_lsn(received_lsn(ctx, st)), std::to_string(next_timeline));
        st.timeline = next_timeline;
        st.bytes.clear();
        st.uploaded = 0;
        st.last_prefix = 0;
        ctx.prefix_encoder.reset();
    }
}

std::string plural_objects(size_t n)
{
    return std::to_string(n) + (n == 1 ? " object" : " objects");
}

Status print_status(ReceiveContext& ctx)
{
    Status s = open_repository(ctx.common, ctx.settings, ctx.storage);
    if (!s.is_ok())
        return s;
    std::vector<ReceiveState> states;
    s = read_receive_states(*ctx.storage, states);
    if (!s.is_ok())
        return s;
    bool found = false;
    const int64_t now = std::time(nullptr);
    for (const ReceiveState& st : states) {
        if (st.slot != ctx.slot)
            continue;
        found = true;
        std::printf("slot:          %s\n", st.slot.c_str());
        std::printf("timeline:      %u\n", st.timeline);
        std::printf("received:      %s\n", format_lsn(st.received_lsn).c_str());
        std::printf("flushed:       %s\n", format_lsn(st.flushed_lsn).c_str());
        std::printf("server:        %s\n", format_lsn(st.server_lsn).c_str());
        std::printf("lag:           %s\n",
            format_bytes(st.server_lsn > st.flushed_lsn ? st.server_lsn - st.flushed_lsn : 0).c_str());
        std::printf("last upload:   %s (%llds ago)\n", format_utc_time(st.updated).c_str(),
            static_cast<long long>(now - st.updated));
        std::printf("receiver:      %s, pid %d\n", st.host.c_str(), st.pid);
    }
    if (!found)
        return Status::error(Code::not_found, "the repository has no receive state for slot \"" + ctx.slot + "\"",
            "walvault receive writes it at its first upload.");
    return Status::ok();
}

// A receiver taken out of service: its state objects go, so that `walvault check` no longer judges the slot.
Status remove_state(ReceiveContext& ctx)
{
    Status s = open_repository(ctx.common, ctx.settings, ctx.storage);
    size_t removed = 0;
    if (s.is_ok())
        s = remove_receive_states(*ctx.storage, ctx.slot, removed);
    if (!s.is_ok())
        return s;
    if (removed == 0)
        return Status::error(Code::not_found, "the repository has no receive state for slot \"" + ctx.slot + "\"");
    say("removed the receive state of slot \"%s\" (%s)", ctx.slot, plural_objects(removed));
    return Status::ok();
}

Status receive(ReceiveContext& ctx)
{
    Status s = resolve_command_settings(ctx.common, ctx.settings);
    if (!s.is_ok())
        return s;
    ctx.slot = setting(ctx.settings, "slot");
    if (ctx.slot.empty())
        ctx.slot = find_setting("slot")->default_value;
    if (ctx.status)
        return print_status(ctx);
    if (ctx.remove_state)
        return remove_state(ctx);
    s = open_repository(ctx.common, ctx.settings, ctx.storage);
    if (s.is_ok())
        s = resolved_recipients(ctx.settings, ctx.recipients, ctx.encryption);
    if (s.is_ok())
        s = resolved_compression(ctx.settings, ctx.compression);
    if (!s.is_ok())
        return s;
    ctx.policy.interval = milliseconds(setting_int(ctx.settings, "receive_flush_interval"));
    ctx.policy.bytes = static_cast<uint64_t>(setting_int(ctx.settings, "receive_flush_bytes")) * 1024 * 1024;
    ctx.policy.synchronous = ctx.synchronous;

    struct sigaction stop { };
    stop.sa_handler = on_receive_stop_signal;
    ::sigemptyset(&stop.sa_mask);
    ::sigaction(SIGTERM, &stop, nullptr);
    ::sigaction(SIGINT, &stop, nullptr);
    struct sigaction ignore { };
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ignore, nullptr);

    Stream st;
    milliseconds backoff = k_min_backoff;
    while (!g_stop) {
        SessionResult r = session(ctx, st);
        if (st.state_due) {  // what the session made durable, for --status and check
            const Status w = write_state(ctx, st);
            if (!w.is_ok())
                say("WARNING: %s", w.message());
        }
        if (g_stop && r.status.is_ok())
            break;
        if (r.fatal)
            return r.status;
        if (r.streamed)
            backoff = k_min_backoff;
        const std::string why = r.status.is_ok() ? "the server ended streaming"
            : r.status.hint().empty()            ? r.status.message()
                                                 : r.status.message() + " (" + r.status.hint() + ")";
        say("%s; connecting again in %s s", why, std::to_string(backoff.count() / 1000));
        for (auto waited = milliseconds{0}; waited < backoff && !g_stop; waited += milliseconds{100})
            std::this_thread::sleep_for(milliseconds{100});
        backoff = std::min(backoff * 2, k_max_backoff);
    }
    say("stopped; WAL is durable in the repository up to %s", format_lsn(durable_lsn(ctx, st)));
    return Status::ok();
}

}  // namespace

void add_receive_command(CLI::App& app, int& exit_code)
{
    auto ctx = std::make_shared<ReceiveContext>();
    CLI::App* cmd = app.add_subcommand(k_command,
        "Stream WAL from a physical replication slot into the repository: complete segments as the archive module "
        "writes them, the segment in progress at least every receive_flush_interval (runs until SIGTERM or "
        "SIGINT).");
    cmd->add_option("--dbname,-d", ctx->dbname,
        "connection string or URI (default: libpq's PGHOST, PGPORT, PGUSER, ~/.pgpass); replication=true is added");
    cmd->add_flag("--create-slot", ctx->create_slot, "create the replication slot if it does not exist");
    cmd->add_flag("--synchronous", ctx->synchronous,
        "upload each batch of WAL as soon as it arrives and report it flushed at once, so that the receiver can "
        "be named in synchronous_standby_names");
    cmd->add_flag("--status", ctx->status, "print the slot's receive state from the repository and exit");
    cmd->add_flag("--remove-state", ctx->remove_state,
           "remove the slot's receive state from the repository and exit: for a receiver taken out of service, "
           "which walvault check would otherwise report (streamed WAL stays)")
        ->excludes("--status");
    add_setting_flags(*cmd, ctx->common, k_use_receive);
    on_run(*cmd, k_command, exit_code, [ctx] { return receive(*ctx); });
}

}  // namespace walvault
