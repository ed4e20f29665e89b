// A libpq connection for the commands that talk to a running server (backup). Connection settings are
// libpq's own: a conninfo string or URI from --dbname, else the PG* environment, ~/.pgpass and PGPASSFILE.
#pragma once

#include "core/common/status.h"

#include <memory>
#include <string>
#include <vector>

typedef struct pg_conn PGconn;

namespace walvault {

using PgRow = std::vector<std::string>;

class PgClient {
public:
    PgClient() = default;
    ~PgClient();
    PgClient(const PgClient&) = delete;
    PgClient& operator=(const PgClient&) = delete;

    // Connects (application_name walvault unless the conninfo sets one). The message names the server.
    Status connect(const std::string& conninfo);
    // Runs one statement with text parameters ($1, $2, ...) and returns its rows as text (NULL as "").
    Status query(const std::string& sql, const std::vector<std::string>& params, std::vector<PgRow>& rows);
    // The same, expecting exactly one row.
    Status query_row(const std::string& sql, const std::vector<std::string>& params, PgRow& row);
    // "host=/var/run/postgresql port=5432 dbname=postgres user=postgres", for messages.
    std::string describe() const;

private:
    PGconn* m_conn = nullptr;
};

}  // namespace walvault
