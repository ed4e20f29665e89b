// A libpq connection for the commands that talk to a running server (backup). Connection settings are
// libpq's own: a conninfo string or URI from --dbname, else the PG* environment, ~/.pgpass and PGPASSFILE.
#pragma once

#include "core/common/status.h"

#include <memory>
#include <string>
#include <vector>

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

namespace walvault {

using PgRow = std::vector<std::string>;

class PgClient {
public:
    PgClient() = default;
    ~PgClient();
    PgClient(const PgClient&) = delete;
    PgClient& operator=(const PgClient&) = delete;

    // Connects (application_name walvault unless the conninfo sets one). The message names the server.
    // replication: a physical replication connection (replication=true), which takes replication commands
    // (IDENTIFY_SYSTEM, START_REPLICATION, ...) and SHOW only.
    Status connect(const std::string& conninfo, bool replication = false);
    // Runs one statement with text parameters ($1, $2, ...) and returns its rows as text (NULL as "").
    Status query(const std::string& sql, const std::vector<std::string>& params, std::vector<PgRow>& rows);
    // The same, expecting exactly one row.
    Status query_row(const std::string& sql, const std::vector<std::string>& params, PgRow& row);
    // The SQLSTATE of the last failed query ("" if none or unknown).
    const std::string& last_sqlstate() const { return m_sqlstate; }

    // The COPY BOTH stream of START_REPLICATION (replication connections only).
    // Sends the command; ok once the server has entered the stream.
    Status start_copy_both(const std::string& command);
    // The next CopyData message, waiting at most timeout_ms for one. Returns 1 with data (valid until the next
    // call), 0 on timeout (or a signal), -1 when the server ended the stream (then end_copy() reads the result).
    int read_copy_data(int timeout_ms, const uint8_t*& data, size_t& len, Status& error);
    // Sends one CopyData message and flushes it.
    Status write_copy_data(const uint8_t* data, size_t len);
    // After the server ended the stream: the rows of its result (for the end of a timeline: next timeline and
    // its start position), and then the command's completion.
    Status end_copy(std::vector<PgRow>& rows);

    // "host=/var/run/postgresql port=5432 dbname=postgres user=postgres", for messages.
    std::string describe() const;

private:
    // A failed command's error, its SQLSTATE kept in m_sqlstate; frees res.
    Status failed(PGresult* res);

    PGconn* m_conn = nullptr;
    std::string m_sqlstate;
    char* m_copy_buffer = nullptr;  // the last message read_copy_data returned
};

}  // namespace walvault
