// Status: how every core operation reports an expected failure (not found, conflict, I/O error) as a value.
// Also the compile-time guard that keeps PostgreSQL headers out of core/ and tool/.
#pragma once

#if defined(POSTGRES_H) || defined(C_H) || defined(PG_VERSION_NUM)
#error "core/ and tool/ are PostgreSQL-free: include postgres.h only in module/*.c"
#endif

#include <string>
#include <utility>

namespace walvault {

enum class Code {
    ok,
    not_found,       // the object or file does not exist
    already_exists,  // a create-only write found the key taken
    conflict,        // same name, different content; or a repository of another cluster
    corrupt,         // stored bytes fail their length, checksum or format check
    invalid,         // a bad setting or argument
    io_error,        // the operating system or the store failed
    busy,            // another writer holds the object; try again later
};

// A result code with a message in PostgreSQL style (lower case, no final period) and an optional hint
// (a full sentence). Cheap to copy when ok. [[nodiscard]]: every function returning a Status by value
// must have its result checked, or discarded with a (void) cast and a comment saying why that is safe.
class [[nodiscard]] Status {
public:
    Status() = default;
    static Status ok() { return Status(); }
    static Status error(Code code, std::string message, std::string hint = {})
    {
        Status s;
        s.m_code = code;
        s.m_message = std::move(message);
        s.m_hint = std::move(hint);
        return s;
    }

    bool is_ok() const { return m_code == Code::ok; }
    Code code() const { return m_code; }
    const std::string& message() const { return m_message; }
    const std::string& hint() const { return m_hint; }

    // Prefixes the message with context: "could not archive "X": " + message.
    Status& prefix(const std::string& context)
    {
        m_message = context + ": " + m_message;
        return *this;
    }

private:
    Code m_code = Code::ok;
    std::string m_message;
    std::string m_hint;
};

// The text of errno in a thread-safe way.
std::string errno_text(int err);

}  // namespace walvault
