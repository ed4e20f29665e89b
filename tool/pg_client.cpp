// libpq with text results only: the few values backup needs are all printed by the server in stable
// text forms (LSNs, xids, timestamps in UTC), which keeps binary formats out of the tool.
#include "tool/pg_client.h"

#include "tool/lazy_libs.h"

#include "core/common/text.h"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>
#include <cstdlib>

namespace walvault {

constexpr const char* k_connect_timeout = "30";  // seconds

PgClient::~PgClient()
{
    if (m_copy_buffer != nullptr)
        PQfreemem(m_copy_buffer);
    if (m_conn != nullptr)
        PQfinish(m_conn);
}

Status PgClient::connect(const std::string& conninfo, bool replication)
{
    // A connection attempt gives up after k_connect_timeout unless PGCONNECT_TIMEOUT or the conninfo says
    // otherwise (libpq's own default is to wait forever). expand_dbname = 1: dbname may be a whole conninfo
    // string or URI, whose settings override the keywords before it (connect_timeout).
    const char* timeout = std::getenv("PGCONNECT_TIMEOUT") != nullptr ? nullptr : k_connect_timeout;
    const char* keys[] = {
        "connect_timeout", "dbname", "fallback_application_name", replication ? "replication" : nullptr, nullptr};
    const char* values[] = {timeout, conninfo.empty() ? nullptr : conninfo.c_str(), "walvault", "true", nullptr};
    m_conn = PQconnectdbParams(keys, values, 1);
    if (m_conn == nullptr) {
        const std::string why = lazy_lib_error();  // libpq is opened on first use (tool/lazy_libs.cpp)
        return Status::error(Code::io_error,
            "could not connect to the server: " + (why.empty() ? "out of memory" : why),
            why.empty() ? "" : "Install libpq5, PostgreSQL's client library.");
    }
    if (PQstatus(m_conn) != CONNECTION_OK) {
        std::string error(trim(PQerrorMessage(m_conn)));
        return Status::error(Code::io_error, "could not connect to the server: " + error,
            "Pass --dbname with a connection string, or set PGHOST, PGPORT, PGUSER and PGDATABASE; passwords "
            "come from ~/.pgpass or PGPASSFILE.");
    }
    if (replication)
        return Status::ok();
    // Timestamps in UTC and ISO form whatever the role's settings say.
    std::vector<PgRow> rows;
    return query("SET TimeZone = 'UTC'; SET DateStyle = 'ISO'", {}, rows);
}

Status PgClient::query(const std::string& sql, const std::vector<std::string>& params, std::vector<PgRow>& rows)
{
    rows.clear();
    m_sqlstate.clear();
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const std::string& p : params)
        values.push_back(p.c_str());
    PGresult* res = params.empty() ? PQexec(m_conn, sql.c_str())
                                   : PQexecParams(m_conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                         values.data(), nullptr, nullptr, 0);
    const ExecStatusType status = PQresultStatus(res);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK)
        return failed(res);
    for (int r = 0; r < PQntuples(res); r++) {
        PgRow row;
        for (int c = 0; c < PQnfields(res); c++)
            row.emplace_back(PQgetvalue(res, r, c));
        rows.push_back(std::move(row));
    }
    PQclear(res);
    return Status::ok();
}

Status PgClient::query_row(const std::string& sql, const std::vector<std::string>& params, PgRow& row)
{
    std::vector<PgRow> rows;
    Status s = query(sql, params, rows);
    if (!s.is_ok())
        return s;
    if (rows.size() != 1)
        return Status::error(Code::io_error, "expected one row from the server, got " + std::to_string(rows.size()));
    row = std::move(rows[0]);
    return Status::ok();
}

Status PgClient::start_copy_both(const std::string& command)
{
    m_sqlstate.clear();
    PGresult* res = PQexec(m_conn, command.c_str());
    if (PQresultStatus(res) == PGRES_COPY_BOTH) {
        PQclear(res);
        return Status::ok();
    }
    return failed(res);
}

Status PgClient::failed(PGresult* res)
{
    std::string error(trim(PQresultErrorMessage(res)));
    if (error.empty())
        error = std::string(trim(PQerrorMessage(m_conn)));
    const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
    m_sqlstate = state != nullptr ? state : "";
    PQclear(res);
    return Status::error(Code::io_error, error);
}

int PgClient::read_copy_data(int timeout_ms, const uint8_t*& data, size_t& len, Status& error)
{
    if (m_copy_buffer != nullptr) {
        PQfreemem(m_copy_buffer);
        m_copy_buffer = nullptr;
    }
    for (int round = 0; round < 2; ++round) {
        const int n = PQgetCopyData(m_conn, &m_copy_buffer, 1);
        if (n > 0) {
            data = reinterpret_cast<const uint8_t*>(m_copy_buffer);
            len = static_cast<size_t>(n);
            return 1;
        }
        if (n == -1)
            return -1;
        if (n == -2) {
            error = Status::error(
                Code::io_error, "could not read the replication stream: " + std::string(trim(PQerrorMessage(m_conn))));
            return -1;
        }
        if (round == 1)
            return 0;
        pollfd pfd{PQsocket(m_conn), POLLIN, 0};
        const int ready = ::poll(&pfd, 1, timeout_ms);
        if (ready < 0 && errno != EINTR) {
            error = Status::error(Code::io_error, "could not wait for the replication stream: " + errno_text(errno));
            return -1;
        }
        if (ready <= 0)
            return 0;
        if (PQconsumeInput(m_conn) == 0) {
            error = Status::error(
                Code::io_error, "could not read the replication stream: " + std::string(trim(PQerrorMessage(m_conn))));
            return -1;
        }
    }
    return 0;
}

Status PgClient::write_copy_data(const uint8_t* data, size_t len)
{
    if (PQputCopyData(m_conn, reinterpret_cast<const char*>(data), static_cast<int>(len)) <= 0 || PQflush(m_conn) != 0)
        return Status::error(
            Code::io_error, "could not send to the server: " + std::string(trim(PQerrorMessage(m_conn))));
    return Status::ok();
}

Status PgClient::end_copy(std::vector<PgRow>& rows)
{
    rows.clear();
    Status out;
    bool sent_end = false;
    for (;;) {
        PGresult* res = PQgetResult(m_conn);
        if (res == nullptr)
            return out;
        const ExecStatusType status = PQresultStatus(res);
        if (status == PGRES_TUPLES_OK) {
            for (int r = 0; r < PQntuples(res); r++) {
                PgRow row;
                for (int c = 0; c < PQnfields(res); c++)
                    row.emplace_back(PQgetvalue(res, r, c));
                rows.push_back(std::move(row));
            }
        } else if (status == PGRES_COPY_IN && !sent_end) {
            sent_end = true;  // the server ended its side of COPY BOTH: end ours
            PQputCopyEnd(m_conn, nullptr);
            PQflush(m_conn);
        } else if (status != PGRES_COMMAND_OK && status != PGRES_COPY_IN && out.is_ok()) {
            std::string error(trim(PQresultErrorMessage(res)));
            if (error.empty())
                error = std::string(trim(PQerrorMessage(m_conn)));
            out = Status::error(Code::io_error, error);
        }
        PQclear(res);
        if (status == PGRES_FATAL_ERROR && PQstatus(m_conn) != CONNECTION_OK)
            return out;
    }
}

std::string PgClient::describe() const
{
    if (m_conn == nullptr)
        return "(not connected)";
    const char* host = PQhost(m_conn);
    return std::string("host=") + (host ? host : "") + " port=" + PQport(m_conn) + " dbname=" + PQdb(m_conn) +
        " user=" + PQuser(m_conn);
}

}  // namespace walvault
