// Helpers shared by the unit tests: a temporary directory that removes itself, whole-file reads and
// writes, deterministic test data, a directory listing that includes hidden files, objects encoded in one
// piece, and objects as an older walvault wrote them.
#pragma once

#include "core/codec/codec.h"
#include "core/common/status.h"
#include "core/storage/storage.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace walvault {

// gtest printers, so a failed EXPECT_EQ on a Code or Status says which one.
inline const char* code_name(Code code)
{
    switch (code) {
    case Code::ok:
        return "ok";
    case Code::not_found:
        return "not_found";
    case Code::already_exists:
        return "already_exists";
    case Code::conflict:
        return "conflict";
    case Code::corrupt:
        return "corrupt";
    case Code::invalid:
        return "invalid";
    case Code::io_error:
        return "io_error";
    case Code::busy:
        return "busy";
    }
    return "?";
}
inline void PrintTo(Code code, std::ostream* os)
{
    *os << "Code::" << code_name(code);
}
inline void PrintTo(const Status& s, std::ostream* os)
{
    *os << code_name(s.code()) << ": " << s.message();
}

}  // namespace walvault

// Asserts that a Status is ok and shows its message otherwise.
#define WV_ASSERT_OK(expr)                                                                                             \
    do {                                                                                                               \
        const ::walvault::Status wv_status_ = (expr);                                                                  \
        ASSERT_TRUE(wv_status_.is_ok()) << ::walvault::code_name(wv_status_.code()) << ": " << wv_status_.message();   \
    } while (0)
#define WV_EXPECT_OK(expr)                                                                                             \
    do {                                                                                                               \
        const ::walvault::Status wv_status_ = (expr);                                                                  \
        EXPECT_TRUE(wv_status_.is_ok()) << ::walvault::code_name(wv_status_.code()) << ": " << wv_status_.message();   \
    } while (0)

namespace walvault::test {

// A 127.0.0.1 TCP port nobody listens on right now: bound to port 0, read, closed.
inline int unused_local_port()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

constexpr uint64_t k_mib = 1024 * 1024;

// mkdtemp under /tmp; removed with everything in it when the object goes away.
// Sets TZ (and tzset) for one scope, then puts the old value back.
class ScopedTz {
public:
    explicit ScopedTz(const char* tz)
    {
        if (const char* old = std::getenv("TZ"))
            m_old = old;
        ::setenv("TZ", tz, 1);
        ::tzset();
    }
    ~ScopedTz()
    {
        if (m_old)
            ::setenv("TZ", m_old->c_str(), 1);
        else
            ::unsetenv("TZ");
        ::tzset();
    }
    ScopedTz(const ScopedTz&) = delete;
    ScopedTz& operator=(const ScopedTz&) = delete;

private:
    std::optional<std::string> m_old;
};

class TempDir {
public:
    TempDir()
    {
        char tmpl[] = "/tmp/walvault-unit-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr)
            throw std::runtime_error("mkdtemp failed");
        m_path = tmpl;
    }
    ~TempDir()
    {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const { return m_path; }
    std::string operator/(const std::string& rel) const { return m_path + "/" + rel; }

private:
    std::string m_path;
};

inline std::vector<uint8_t> to_bytes(const std::string& s)
{
    return std::vector<uint8_t>(s.begin(), s.end());
}

// The keys list() returns for prefix and range; the output starts with a stale entry, which list() must clear.
inline std::vector<std::string> listed_keys(Storage& storage, const std::string& prefix, const ListRange& range = {})
{
    std::vector<ObjectInfo> listed{ObjectInfo{"stale", 1}};
    const Status s = storage.list(prefix, range, listed);
    EXPECT_TRUE(s.is_ok()) << s.message();
    std::vector<std::string> out;
    for (const ObjectInfo& o : listed)
        out.push_back(o.key);
    return out;
}

// Writes text as one object (create, write, commit), as a test sets a repository up.
inline Status put_object(Storage& storage, const std::string& key, const std::string& text)
{
    std::unique_ptr<Writer> w;
    Status s = storage.create(key, w);
    if (s.is_ok())
        s = w->write(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    return s.is_ok() ? w->commit() : s;
}
inline std::string to_string(const std::vector<uint8_t>& b)
{
    return std::string(b.begin(), b.end());
}

inline void write_file(const std::string& path, const std::vector<uint8_t>& data)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
    if (!out)
        throw std::runtime_error("could not write " + path);
}

inline void write_file(const std::string& path, const std::string& text)
{
    write_file(path, to_bytes(text));
}

inline std::vector<uint8_t> read_file(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("could not read " + path);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline bool file_exists(const std::string& path)
{
    std::error_code ec;
    return std::filesystem::exists(path, ec);
}

// Incompressible bytes, the same for the same seed.
inline std::vector<uint8_t> random_bytes(size_t n, uint64_t seed)
{
    std::mt19937_64 rng(seed);
    std::vector<uint8_t> out(n);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v = rng();
        for (int k = 0; k < 8; ++k)
            out[i + k] = static_cast<uint8_t>(v >> (8 * k));
    }
    for (uint64_t v = rng(); i < n; ++i, v >>= 8)
        out[i] = static_cast<uint8_t>(v);
    return out;
}

// Text-like bytes that zstd compresses well (many repeats, a counter that changes).
inline std::vector<uint8_t> compressible_bytes(size_t n)
{
    std::vector<uint8_t> out;
    out.reserve(n + 128);
    char line[128];
    for (unsigned i = 0; out.size() < n; ++i) {
        const int len =
            std::snprintf(line, sizeof(line), "record %08u: INSERT INTO t VALUES (%u, 'walvault')\n", i, i % 97);
        out.insert(out.end(), line, line + len);
    }
    out.resize(n);
    return out;
}

// Every entry of a directory except "." and "..", hidden ones included, sorted.
inline std::vector<std::string> dir_entries(const std::string& path)
{
    std::vector<std::string> names;
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr)
        throw std::runtime_error("could not open directory " + path);
    while (struct dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name != "." && name != "..")
            names.push_back(name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

// The name the tests give the objects they encode, and the sizes of zstd's framing they count with.
constexpr const char* k_object_name = "000000010000000000000003";
constexpr size_t k_raw_frame_header_bytes = 6;  // magic, descriptor, window descriptor
constexpr size_t k_block_header_bytes = 3;

// A ByteSink that appends to a vector.
inline ByteSink vector_sink(std::vector<uint8_t>& out)
{
    return [&out](const uint8_t* data, size_t len) {
        out.insert(out.end(), data, data + len);
        return Status::ok();
    };
}

// data encoded in one piece, with compression ("none", "zstd:3"), as an object named k_object_name.
inline std::vector<uint8_t> encode_object(const std::string& compression, const std::vector<uint8_t>& data)
{
    std::string error;
    const std::optional<Compression> c = Compression::parse(compression, &error);
    if (!c)
        throw std::runtime_error("bad compression " + compression + ": " + error);
    Encoder encoder;
    std::vector<uint8_t> out;
    EncodeResult result;
    Status s = encoder.begin(*c, vector_sink(out), data.size());
    if (s.is_ok())
        s = encoder.update(data.data(), data.size());
    if (s.is_ok())
        s = encoder.finish(k_object_name, result);
    if (!s.is_ok())
        throw std::runtime_error("encode failed: " + s.message());
    return out;
}

// The object with its trailer rewritten without xxh3_128, as walvault wrote objects before it recorded that.
inline std::vector<uint8_t> without_xxh3(const std::vector<uint8_t>& object)
{
    const size_t frame = object.size() < 8
        ? 0
        : static_cast<size_t>(object[object.size() - 8]) | static_cast<size_t>(object[object.size() - 7]) << 8 |
            static_cast<size_t>(object[object.size() - 6]) << 16 | static_cast<size_t>(object[object.size() - 5]) << 24;
    ObjectMeta meta;
    if (frame > object.size() || !parse_trailer(object.data(), object.size(), meta).is_ok() || meta.xxh3_128.empty())
        throw std::runtime_error("without_xxh3: not an object with xxh3_128 in its trailer");
    meta.xxh3_128.clear();
    std::vector<uint8_t> out(object.begin(), object.end() - static_cast<std::ptrdiff_t>(frame));
    const std::vector<uint8_t> trailer = encode_trailer(meta);
    out.insert(out.end(), trailer.begin(), trailer.end());
    return out;
}

}  // namespace walvault::test
