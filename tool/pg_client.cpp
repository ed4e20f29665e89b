// libpq with text results only: the few values backup needs are all printed by the server in stable
// text forms (LSNs, xids, timestamps in UTC), which keeps binary formats out of the tool.
#include "tool/pg_client.h"

#include "tool/lazy_libs.h"

#include "core/common/text.h"

#include <libpq-fe.h>

namespace walvault {

PgClient::~PgClient()
{
    if (m_conn != nullptr)
        PQfinish(m_conn);
}

Status PgClient::connect(const std::string& conninfo)
{
    const char* keys[] = {"dbname", "fallback_application_name", nullptr};
    const char* values[] = {conninfo.empty() ? nullptr : conninfo.c_str(), "walvault", nullptr};
    // expand_dbname = 1: dbname may be a whole conninfo string or URI.
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
    // Timestamps in UTC and ISO form whatever the role's settings say.
    std::vector<PgRow> rows;
    return query("SET TimeZone = 'UTC'; SET DateStyle = 'ISO'", {}, rows);
}

Status PgClient::query(const std::string& sql, const std::vector<std::string>& params, std::vector<PgRow>& rows)
{
    rows.clear();
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const std::string& p : params)
        values.push_back(p.c_str());
    PGresult* res = params.empty() ? PQexec(m_conn, sql.c_str())
                                   : PQexecParams(m_conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                         values.data(), nullptr, nullptr, 0);
    const ExecStatusType status = PQresultStatus(res);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        std::string error(trim(PQresultErrorMessage(res)));
        if (error.empty())
            error = std::string(trim(PQerrorMessage(m_conn)));
        PQclear(res);
        return Status::error(Code::io_error, error);
    }
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

std::string PgClient::describe() const
{
    if (m_conn == nullptr)
        return "(not connected)";
    const char* host = PQhost(m_conn);
    return std::string("host=") + (host ? host : "") + " port=" + PQport(m_conn) + " dbname=" + PQdb(m_conn) +
        " user=" + PQuser(m_conn);
}

}  // namespace walvault
