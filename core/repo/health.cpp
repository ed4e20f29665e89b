// The states, thresholds and the three report formats of `walvault check`. Everything here is a pure
// function of what the command read and of the clock it passes in.
#include "core/repo/health.h"

#include "core/common/text.h"
#include "core/common/utc_time.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace walvault {
namespace {

constexpr int k_check_json_format = 1;  // "format" of the --output json document

// Rank for worse_state: critical > warning > unknown > ok.
int severity(CheckState s)
{
    switch (s) {
    case CheckState::ok:
        return 0;
    case CheckState::unknown:
        return 1;
    case CheckState::warning:
        return 2;
    case CheckState::critical:
        return 3;
    }
    return 1;
}

// A message goes on one line, and "|" would start Nagios' perfdata.
std::string one_line(std::string text)
{
    for (char& c : text) {
        if (c == '\n' || c == '\r' || c == '\t')
            c = ' ';
        else if (c == '|')
            c = '/';
    }
    return text;
}

// A Prometheus label value: backslash, double quote and newline escaped.
std::string label_value(const std::string& text)
{
    std::string out;
    for (char c : text) {
        if (c == '\\' || c == '"')
            out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

std::string plural(uint64_t n, const char* one, const char* many)
{
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

}  // namespace

const char* check_state_name(CheckState state)
{
    switch (state) {
    case CheckState::ok:
        return "OK";
    case CheckState::warning:
        return "WARNING";
    case CheckState::critical:
        return "CRITICAL";
    case CheckState::unknown:
        return "UNKNOWN";
    }
    return "UNKNOWN";
}

CheckState worse_state(CheckState a, CheckState b)
{
    return severity(a) >= severity(b) ? a : b;
}

CheckState age_state(int64_t age_s, int64_t warning_s, int64_t critical_s)
{
    if (age_s > critical_s)
        return CheckState::critical;
    if (age_s > warning_s)
        return CheckState::warning;
    return CheckState::ok;
}

std::string format_duration(int64_t seconds)
{
    if (seconds < 0)
        return "-" + format_duration(-seconds);
    struct Unit {
        int64_t seconds;
        const char* name;
    };
    static constexpr Unit k_units[] = {{86400, "d"}, {3600, "h"}, {60, "min"}, {1, "s"}};
    for (size_t i = 0; i < std::size(k_units); ++i) {
        if (seconds < k_units[i].seconds && k_units[i].seconds > 1)
            continue;
        std::string text = std::to_string(seconds / k_units[i].seconds) + k_units[i].name;
        const int64_t rest = seconds % k_units[i].seconds;
        for (size_t j = i + 1; j < std::size(k_units); ++j)
            if (rest / k_units[j].seconds > 0)
                return text + " " + std::to_string(rest / k_units[j].seconds) + k_units[j].name;
        return text;
    }
    return "0s";
}

CheckState CheckReport::state() const
{
    if (checks.empty())
        return CheckState::unknown;
    CheckState s = CheckState::ok;
    for (const CheckResult& c : checks)
        s = worse_state(s, c.state);
    return s;
}

CheckResult check_backup_age(const std::optional<NewestBackup>& newest, int64_t now, const CheckThresholds& t)
{
    CheckResult r{"backup-age", CheckState::critical, ""};
    if (!newest) {
        r.message = "no complete backup in the repository";
        return r;
    }
    const int64_t age = now - newest->stop_time;
    r.state = age_state(age, t.backup_warning_s(), t.backup_critical_s());
    r.message = "newest backup \"" + newest->label + "\" finished " + format_duration(age) + " ago";
    if (r.state != CheckState::ok)
        r.message += " (" + std::string(r.state == CheckState::warning ? "warning" : "critical") + " above " +
            format_duration(r.state == CheckState::warning ? t.backup_warning_s() : t.backup_critical_s()) + ")";
    return r;
}

CheckResult check_wal_age_server(int64_t ready_count, int64_t oldest_ready_age_s, const CheckThresholds& t)
{
    CheckResult r{"wal-age", CheckState::ok, ""};
    if (ready_count == 0) {
        r.message = "no WAL waiting to be archived";
        return r;
    }
    r.state = age_state(oldest_ready_age_s, t.wal_warning_s(), t.wal_critical_s());
    r.message = plural(static_cast<uint64_t>(ready_count), "WAL file", "WAL files") +
        " waiting to be archived, the oldest for " + format_duration(oldest_ready_age_s);
    if (r.state != CheckState::ok)
        r.message += " (" + std::string(r.state == CheckState::warning ? "warning" : "critical") + " above " +
            format_duration(r.state == CheckState::warning ? t.wal_warning_s() : t.wal_critical_s()) + ")";
    return r;
}

CheckResult check_wal_age_repository(
    const std::optional<std::string>& newest_segment, int64_t newest_modified, int64_t now, const CheckThresholds& t)
{
    CheckResult r{"wal-age", CheckState::critical, ""};
    const std::string weaker = " (from the repository alone, a weaker check: pass --dbname to ask the server)";
    if (!newest_segment) {
        r.message = "no WAL segment in the repository" + weaker;
        return r;
    }
    if (newest_modified <= 0) {
        r.state = CheckState::unknown;
        r.message = "the store does not say when \"" + *newest_segment + "\" was archived" + weaker;
        return r;
    }
    const int64_t age = now - newest_modified;
    r.state = age_state(age, t.wal_warning_s(), t.wal_critical_s());
    r.message = "newest segment \"" + *newest_segment + "\" archived " + format_duration(age) + " ago" + weaker;
    return r;
}

CheckResult check_wal_continuity(const ContinuityFacts& facts)
{
    CheckResult r{"wal-continuity", CheckState::ok, ""};
    if (facts.backup_label.empty()) {
        r.state = CheckState::critical;
        r.message = "no complete backup to restore from";
        return r;
    }
    if (!facts.gaps.empty()) {
        uint64_t missing = 0;
        for (const WalGap& g : facts.gaps)
            missing += g.segments;
        const WalGap& first = facts.gaps.front();
        r.state = CheckState::critical;
        r.message = plural(facts.gaps.size(), "gap", "gaps") + " (" + plural(missing, "segment", "segments") +
            " missing) after backup \"" + facts.backup_label + "\", the first " +
            (first.segments == 1 ? "\"" + first.first_missing + "\""
                                 : "\"" + first.first_missing + "\" .. \"" + first.last_missing + "\"") +
            ": recovery stops there";
        return r;
    }
    if (!facts.stop_archived) {
        r.state = CheckState::warning;
        r.message = "backup \"" + facts.backup_label + "\" needs WAL up to \"" + facts.stop_segment +
            "\", archived so far up to " + (facts.newest_segment.empty() ? "none" : "\"" + facts.newest_segment + "\"");
        return r;
    }
    r.message = "no gap from backup \"" + facts.backup_label + "\" (\"" + facts.start_segment + "\") to \"" +
        facts.newest_segment + "\", " + plural(facts.segments, "segment", "segments");
    return r;
}

CheckResult check_archiver(const ArchiverFacts& facts)
{
    CheckResult r{"archiver", CheckState::ok, ""};
    const bool failing = facts.last_failed_time > 0 && facts.last_failed_time >= facts.last_archived_time;
    if (facts.failed_count == 0 || facts.last_failed_time == 0) {
        r.message = "no failure (" + facts.source + ")";
        return r;
    }
    std::string last = "\"" + facts.last_failed_wal + "\" at " + format_utc_time(facts.last_failed_time);
    if (!facts.last_error.empty())
        last += ": " + facts.last_error;
    if (failing) {
        r.state = CheckState::warning;
        r.message =
            "archiving is failing: " + plural(static_cast<uint64_t>(facts.failed_count), "failure", "failures") +
            ", the last " + last + " (" + facts.source + ")";
        return r;
    }
    r.message = plural(static_cast<uint64_t>(facts.failed_count), "failure", "failures") +
        ", none since the last success; the last " + last + " (" + facts.source + ")";
    return r;
}

CheckResult check_receive(const std::vector<ReceiverFacts>& receivers, int64_t now, const CheckThresholds& t)
{
    CheckResult r{"receive", CheckState::ok, ""};
    for (const ReceiverFacts& f : receivers) {
        CheckState state = CheckState::ok;
        std::vector<std::string> why;  // what made it worse than OK
        const auto raise = [&](CheckState to, const std::string& reason) {
            state = worse_state(state, to);
            why.push_back(reason);
        };
        const int64_t age = std::max<int64_t>(0, now - f.updated);
        const uint64_t lag = f.lag_bytes();
        std::string text = "slot \"" + f.slot + "\" " + format_bytes(lag) + " behind the server" +
            (f.server_asked && f.slot_exists ? "" : " when last uploaded") + ", last upload " + format_duration(age) +
            " ago";
        if (f.server_asked) {
            if (!f.slot_exists)
                raise(CheckState::critical, "the slot does not exist on the server");
            else {
                if (!f.active)
                    raise(CheckState::warning, "no receiver is connected to the slot");
                if (f.wal_status == "lost")
                    raise(CheckState::critical, "the server removed WAL the slot needed (wal_status lost)");
                else if (f.wal_status == "unreserved")
                    raise(CheckState::warning, "the server may remove WAL the slot needs (wal_status unreserved)");
            }
        }
        const CheckState lag_state = age_state(static_cast<int64_t>(std::min<uint64_t>(lag, INT64_MAX)),
            t.receive_max_lag_bytes, t.receive_lag_critical_bytes());
        if (lag_state != CheckState::ok)
            raise(lag_state,
                std::string(lag_state == CheckState::warning ? "warning" : "critical") + " above " +
                    format_bytes(static_cast<uint64_t>(
                        lag_state == CheckState::warning ? t.receive_max_lag_bytes : t.receive_lag_critical_bytes())) +
                    " behind");
        const CheckState age_st = age_state(age, t.receive_max_age_s, t.receive_age_critical_s());
        if (age_st != CheckState::ok)
            raise(age_st,
                std::string(age_st == CheckState::warning ? "warning" : "critical") + " above " +
                    format_duration(age_st == CheckState::warning ? t.receive_max_age_s : t.receive_age_critical_s()) +
                    " without an upload: the receiver writes its state every " +
                    format_duration(k_receive_state_interval_s) + " while it streams");
        for (size_t i = 0; i < why.size(); ++i)
            text += (i == 0 ? " (" : "; ") + why[i] + (i + 1 == why.size() ? ")" : "");
        r.state = worse_state(r.state, state);
        r.message += (r.message.empty() ? "" : ", ") + text;
    }
    return r;
}

std::string format_check_text(const CheckReport& report)
{
    std::string line = std::string("WALVAULT ") + check_state_name(report.state()) + " - ";
    for (size_t i = 0; i < report.checks.size(); ++i) {
        const CheckResult& c = report.checks[i];
        line += (i == 0 ? "" : "; ") + c.name + " " + check_state_name(c.state) + ": " + one_line(c.message);
    }
    // Perfdata: 'label'=value[UOM];[warn];[crit];[min];[max] (Nagios plugin guidelines).
    const CheckMetrics& m = report.metrics;
    const CheckThresholds& t = report.thresholds;
    std::vector<std::string> perf;
    auto add = [&](const char* label, const std::optional<int64_t>& v, const char* uom, const std::string& warn,
                   const std::string& crit) {
        if (v)
            perf.push_back(std::string(label) + "=" + std::to_string(*v) + uom + ";" + warn + ";" + crit + ";0");
    };
    add("backup_age", m.backup_age_s, "s", std::to_string(t.backup_warning_s()), std::to_string(t.backup_critical_s()));
    add("wal_age", m.wal_archive_age_s, "s", std::to_string(t.wal_warning_s()), std::to_string(t.wal_critical_s()));
    add("wal_ready", m.wal_ready_count, "", "", "");
    add("wal_gaps", m.wal_gap_count, "", "", "0");
    add("archive_failed", m.archive_failed_total, "c", "", "");
    add("pitr_window", m.pitr_window_s, "s", "", "");
    for (const CheckMetrics::Receiver& rx : m.receivers) {
        add(("receive_lag_" + rx.slot).c_str(), rx.lag_bytes, "B", std::to_string(t.receive_max_lag_bytes),
            std::to_string(t.receive_lag_critical_bytes()));
        add(("receive_age_" + rx.slot).c_str(), rx.state_age_s, "s", std::to_string(t.receive_max_age_s),
            std::to_string(t.receive_age_critical_s()));
    }
    if (!perf.empty()) {
        line += " |";
        for (const std::string& p : perf)
            line += " " + p;
    }
    return line + "\n";
}

std::string format_check_json(const CheckReport& report, int64_t now)
{
    auto opt = [](const std::optional<int64_t>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
    nlohmann::json checks = nlohmann::json::array();
    for (const CheckResult& c : report.checks)
        checks.push_back({{"name", c.name}, {"state", check_state_name(c.state)}, {"message", c.message}});
    const CheckMetrics& m = report.metrics;
    const CheckThresholds& t = report.thresholds;
    nlohmann::json receivers = nlohmann::json::array();
    for (const CheckMetrics::Receiver& rx : m.receivers)
        receivers.push_back({{"slot", rx.slot}, {"lag_bytes", rx.lag_bytes}, {"state_age_seconds", rx.state_age_s},
            {"connected", rx.active ? nlohmann::json(*rx.active) : nlohmann::json(nullptr)}});
    const nlohmann::json doc = {{"format", k_check_json_format}, {"repository", report.repository},
        {"time", format_utc_time(now)}, {"state", check_state_name(report.state())},
        {"exit_code", static_cast<int>(report.state())}, {"checks", checks},
        {"metrics",
            {{"backup_age_seconds", opt(m.backup_age_s)}, {"wal_archive_age_seconds", opt(m.wal_archive_age_s)},
                {"wal_age_source",
                    m.wal_age_source.empty() ? nlohmann::json(nullptr) : nlohmann::json(m.wal_age_source)},
                {"wal_ready_count", opt(m.wal_ready_count)}, {"wal_gap_count", opt(m.wal_gap_count)},
                {"archive_failed_total", opt(m.archive_failed_total)}, {"pitr_window_seconds", opt(m.pitr_window_s)},
                {"receivers", receivers}}},
        {"thresholds",
            {{"backup_warning_seconds", t.backup_warning_s()}, {"backup_critical_seconds", t.backup_critical_s()},
                {"wal_warning_seconds", t.wal_warning_s()}, {"wal_critical_seconds", t.wal_critical_s()},
                {"receive_lag_warning_bytes", t.receive_max_lag_bytes},
                {"receive_lag_critical_bytes", t.receive_lag_critical_bytes()},
                {"receive_age_warning_seconds", t.receive_max_age_s},
                {"receive_age_critical_seconds", t.receive_age_critical_s()}}}};
    return doc.dump(2) + "\n";
}

std::string format_check_prometheus(const CheckReport& report)
{
    const std::string repo = "repo=\"" + label_value(report.repository) + "\"";
    std::string out;
    auto metric = [&](const char* name, const char* type, const char* help, const std::optional<int64_t>& v,
                      const std::string& extra_labels = "") {
        if (!v)
            return;
        out += std::string("# HELP ") + name + " " + help + "\n";
        out += std::string("# TYPE ") + name + " " + type + "\n";
        out += std::string(name) + "{" + repo + extra_labels + "} " + std::to_string(*v) + "\n";
    };
    const CheckMetrics& m = report.metrics;
    metric(
        "walvault_backup_age_seconds", "gauge", "Seconds since the newest complete backup finished.", m.backup_age_s);
    metric("walvault_wal_archive_age_seconds", "gauge",
        "Age of the WAL the wal-age check judged: source=\"server\", the oldest file waiting to be archived (0 if "
        "none); source=\"repository\", the newest archived segment.",
        m.wal_archive_age_s, ",source=\"" + label_value(m.wal_age_source) + "\"");
    // Not "_count": Prometheus keeps that suffix for histograms and summaries, and promtool check metrics
    // rejects a gauge named so.
    metric("walvault_wal_ready_files", "gauge", "WAL files waiting to be archived (.ready files).", m.wal_ready_count);
    metric("walvault_wal_gaps", "gauge", "Gaps in the archived WAL from the newest backup to the newest segment.",
        m.wal_gap_count);
    metric("walvault_archive_failed_total", "counter", "Failed archive attempts since the statistics were reset.",
        m.archive_failed_total);
    metric("walvault_pitr_window_seconds", "gauge",
        "Seconds from the oldest complete backup's end to the newest archived segment.", m.pitr_window_s);
    // One family per receiver metric, a sample per slot.
    auto family = [&](const char* name, const char* help, auto value) {
        bool any = false;
        for (const CheckMetrics::Receiver& rx : m.receivers) {
            const std::optional<int64_t> v = value(rx);
            if (!v)
                continue;
            if (!any)
                out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n";
            any = true;
            out +=
                std::string(name) + "{" + repo + ",slot=\"" + label_value(rx.slot) + "\"} " + std::to_string(*v) + "\n";
        }
    };
    family("walvault_receive_lag_bytes",
        "WAL a walvault receive slot has not made durable in the repository: the WAL the slot retains on the "
        "server, or without --dbname the receiver's own figure at its last upload.",
        [](const CheckMetrics::Receiver& rx) { return std::optional<int64_t>(rx.lag_bytes); });
    family("walvault_receive_state_age_seconds", "Seconds since the receiver of a slot last wrote its state.",
        [](const CheckMetrics::Receiver& rx) { return std::optional<int64_t>(rx.state_age_s); });
    family("walvault_receive_connected", "1 if a receiver is connected to the slot on the server, else 0.",
        [](const CheckMetrics::Receiver& rx) {
            return rx.active ? std::optional<int64_t>(*rx.active ? 1 : 0) : std::nullopt;
        });
    out += "# HELP walvault_check_state State of each check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.\n";
    out += "# TYPE walvault_check_state gauge\n";
    for (const CheckResult& c : report.checks)
        out += "walvault_check_state{" + repo + ",check=\"" + label_value(c.name) + "\"} " +
            std::to_string(static_cast<int>(c.state)) + "\n";
    return out;
}

}  // namespace walvault
