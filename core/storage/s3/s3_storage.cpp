// S3 backend. Every request is signed (SigV4), sent over a pooled connection, and retried a bounded number
// of times with jittered backoff when the failure is worth retrying (http_client.h). A writer keeps the
// first k_s3_writer_memory bytes of an object in memory and spills the rest to an unlinked temporary file;
// objects up to the part size go in one PUT, larger ones as a multipart upload (aborted on failure), parts
// sent from ranges of that file. MD5 (and, over plain HTTP, SHA-256) is computed as the bytes arrive. A write counts
// only when the store has checked its MD5 (Content-MD5; over HTTP also its SHA-256), its ETag matches what we sent
// (where the ETag is an MD5) and a HEAD reports the right length.
#include "core/storage/s3/s3_storage.h"

#include "core/codec/sha256.h"
#include "core/common/text.h"
#include "core/http/http_client.h"
#include "core/storage/s3/credentials.h"
#include "core/storage/s3/s3_settings.h"
#include "core/storage/s3/s3_xml.h"
#include "core/storage/s3/sigv4.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

#include <openssl/evp.h>

namespace walvault {
namespace {

constexpr const char* k_s3_scheme = "s3://";

struct Endpoint {
    std::string scheme;  // "http" | "https"
    std::string host;    // host[:port], as sent in the Host header
};

bool parse_endpoint(const std::string& url, Endpoint& out)
{
    const size_t sep = url.find("://");
    if (sep == std::string::npos)
        return false;
    out.scheme = url.substr(0, sep);
    if (out.scheme != "http" && out.scheme != "https")
        return false;
    std::string rest = url.substr(sep + 3);
    while (!rest.empty() && rest.back() == '/')
        rest.pop_back();
    if (rest.empty() || rest.find('/') != std::string::npos || rest.find('@') != std::string::npos)
        return false;
    out.host = rest;
    return true;
}

std::string md5_raw(const uint8_t* data, size_t len)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(data, len, digest, &n, EVP_md5(), nullptr);
    return std::string(reinterpret_cast<char*>(digest), n);
}

// Incremental MD5 (Content-MD5 and ETags); restarts after finish_raw().
class Md5 {
public:
    Md5()
        : m_ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free)
    {
        m_ok = m_ctx && EVP_DigestInit_ex(m_ctx.get(), EVP_md5(), nullptr) == 1;
    }
    bool ok() const { return m_ok; }
    // Continues from where other is (EVP_MD_CTX_copy_ex): both then hash the same bytes so far.
    void copy_from(const Md5& other) { m_ok = other.m_ok && EVP_MD_CTX_copy_ex(m_ctx.get(), other.m_ctx.get()) == 1; }
    void update(const uint8_t* data, size_t len)
    {
        if (m_ok)
            EVP_DigestUpdate(m_ctx.get(), data, len);
    }
    std::string finish_raw()
    {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        if (!m_ok || EVP_DigestFinal_ex(m_ctx.get(), digest, &n) != 1)
            return {};
        m_ok = EVP_DigestInit_ex(m_ctx.get(), EVP_md5(), nullptr) == 1;
        return std::string(reinterpret_cast<char*>(digest), n);
    }

private:
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> m_ctx;
    bool m_ok = false;
};

// An unlinked read-write file in dir: O_TMPFILE where the filesystem has it, else mkostemp + unlink.
Status open_spill_file(const std::string& dir, int& fd)
{
    fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        std::string path = dir + "/.walvault-spill-XXXXXX";
        fd = ::mkostemp(path.data(), O_CLOEXEC);
        if (fd >= 0)
            ::unlink(path.c_str());
    }
    if (fd < 0)
        return Status::error(Code::io_error,
            "could not create a temporary file in \"" + dir + "\": " + errno_text(errno),
            "S3 uploads spill to that directory: make it writable for the server's operating-system user, or "
            "start the server with TMPDIR naming one that is.");
    return Status::ok();
}

std::string base64(const std::string& raw)
{
    std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
        reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

std::string unquote(std::string s)
{
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"')
        s = s.substr(1, s.size() - 2);
    return s;
}

bool is_md5_hex(const std::string& s)
{
    return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    });
}

struct Call {
    std::string method;
    std::string key;  // object key within the bucket (prefix included); empty for bucket requests
    SigV4Fields query;
    SigV4Fields headers;
    const uint8_t* body = nullptr;
    size_t body_len = 0;
    int body_fd = -1;  // >= 0: the body is body_len bytes of this file from body_offset
    uint64_t body_offset = 0;
    std::string payload_sha256;  // hex SHA-256 of the body if the caller has it; required with body_fd
    const ByteSink* sink = nullptr;
    std::string context;  // "could not upload "s3://b/p/k"" for messages
};

class S3Storage;

// Object bytes [0, m_spilled) are in the spill file, [m_spilled, m_total) in m_buffer. The current part
// is [m_part_start, m_part_start + m_part_len); it is hashed as it grows and goes up once a byte beyond it
// arrives, so an object of exactly one part is still a single PUT.
class S3Writer final : public Writer {
public:
    // replace: commit() replaces an existing object (Storage::replace), without If-None-Match.
    S3Writer(S3Storage& s3, std::string key, bool replace = false);
    ~S3Writer() override { abort(); }
    Status write(const uint8_t* data, size_t len) override;
    Status commit() override;
    void abort() override;
    size_t memory() const { return m_buffer.capacity(); }

private:
    std::string where() const;
    Status keep(const uint8_t* data, size_t len);
    Status spill();
    // Points the call's body at object bytes [offset, offset + len), spilling the buffer first unless
    // the range lies wholly in it.
    Status set_body(Call& c, uint64_t offset, uint64_t len);
    Status upload_part();
    void release();

    S3Storage& m_s3;
    std::string m_key;
    std::vector<uint8_t> m_buffer;  // capacity never above k_s3_writer_memory
    int m_fd = -1;
    uint64_t m_spilled = 0;
    uint64_t m_total = 0;
    uint64_t m_part_start = 0;
    uint64_t m_part_len = 0;
    const bool m_unsigned_payload;  // see S3Storage::unsigned_payload()
    const bool m_replace;
    Md5 m_part_md5;
    Sha256 m_part_sha256;  // unused with m_unsigned_payload
    Md5 m_whole_md5;       // from the second part on
    std::string m_upload_id;
    std::vector<std::pair<int, std::string>> m_parts;  // number, ETag as returned
    std::string m_part_md5s;                           // raw MD5s of the parts, for the multipart ETag
    bool m_finished = false;
};

class S3Storage final : public Storage {
public:
    std::string m_bucket;
    std::string m_prefix;  // without leading or trailing '/'
    Endpoint m_endpoint;
    std::string m_region;
    bool m_path_style = false;
    S3Options m_options;
    HttpOptions m_http;
    uint64_t m_part_size = k_s3_default_part_size;
    std::string m_temp_directory;  // where writers spill
    std::unique_ptr<CredentialProvider> m_credentials;

    std::string location() const override
    {
        return std::string(k_s3_scheme) + m_bucket + (m_prefix.empty() ? "" : "/" + m_prefix);
    }
    std::string location(const std::string& key) const override { return location() + "/" + key; }
    // Everything that decides where a request goes: "s3://bucket/prefix at https://host:port (region
    // eu-west-1, path-style URIs)".
    std::string identity() const override
    {
        return location() + " at " + m_endpoint.scheme + "://" + m_endpoint.host + " (region " + m_region + ", " +
            (m_path_style ? "path" : "host") + "-style URIs)";
    }
    std::string object_key(const std::string& key) const { return m_prefix.empty() ? key : m_prefix + "/" + key; }

    Status head(const std::string& key, ObjectInfo& out) override;
    Status create(const std::string& key, std::unique_ptr<Writer>& out) override;
    Status replace(const std::string& key, std::unique_ptr<Writer>& out) override;
    Status get(const std::string& key, const ByteSink& sink) override;
    Status get_range(const std::string& key, uint64_t offset, size_t len, std::vector<uint8_t>& out) override;
    using Storage::list;
    Status list(const std::string& prefix, const ListRange& range, std::vector<ObjectInfo>& out) override;
    Status remove(const std::string& key) override;
    Status remove_many(const std::vector<std::string>& keys) override;
    Status sync(const std::string&) override { return Status::ok(); }  // S3 acknowledges durable writes only

    // Signs, sends and retries one request; a non-2xx answer becomes a Status (s3_error_status).
    Status request(const Call& call, HttpResponse& response);
    // Headers every object write carries: server-side encryption, storage class.
    void add_write_headers(SigV4Fields& headers) const;
    // Object bodies go with x-amz-content-sha256: UNSIGNED-PAYLOAD over HTTPS, as the AWS CLI sends them: TLS
    // protects them on the way and the store checks their Content-MD5, so a SHA-256 pass over every byte
    // uploaded (16 MiB per incompressible segment) buys nothing more there. Over plain HTTP they are signed.
    bool unsigned_payload() const { return m_endpoint.scheme == "https"; }

    // Spill files are kept for the next writer rather than closed (at most k_s3_kept_spill_files, each
    // with at most k_s3_kept_spill_bytes allocated). Overwriting pages a file already has costs a copy;
    // filling new page-cache pages, as a new file does for every object, cost more than the copy on the
    // benchmark VM (docs/benchmarks.md). Only bytes a writer wrote itself are ever read back: its body
    // ranges end at what it spilled.
    Status take_spill_file(int& fd);
    void give_back_spill_file(int fd);
    ~S3Storage() override;

private:
    std::unique_ptr<HttpClient> lease();
    void give_back(std::unique_ptr<HttpClient> client);

    std::mutex m_pool_mutex;
    std::vector<std::unique_ptr<HttpClient>> m_pool;
    std::mutex m_spill_mutex;
    std::vector<int> m_spill_files;
};

S3Storage::~S3Storage()
{
    for (int fd : m_spill_files)
        ::close(fd);
}

Status S3Storage::take_spill_file(int& fd)
{
    {
        std::lock_guard lock(m_spill_mutex);
        if (!m_spill_files.empty()) {
            fd = m_spill_files.back();
            m_spill_files.pop_back();
            return Status::ok();
        }
    }
    return open_spill_file(m_temp_directory, fd);
}

void S3Storage::give_back_spill_file(int fd)
{
    struct stat st;
    if (::fstat(fd, &st) == 0 && static_cast<uint64_t>(st.st_blocks) * 512 <= k_s3_kept_spill_bytes) {
        std::lock_guard lock(m_spill_mutex);
        if (m_spill_files.size() < k_s3_kept_spill_files) {
            m_spill_files.push_back(fd);
            return;
        }
    }
    ::close(fd);
}

std::unique_ptr<HttpClient> S3Storage::lease()
{
    {
        std::lock_guard<std::mutex> lock(m_pool_mutex);
        if (!m_pool.empty()) {
            auto c = std::move(m_pool.back());
            m_pool.pop_back();
            return c;
        }
    }
    return std::make_unique<HttpClient>(m_http);
}

void S3Storage::give_back(std::unique_ptr<HttpClient> client)
{
    std::lock_guard<std::mutex> lock(m_pool_mutex);
    m_pool.push_back(std::move(client));
}

void S3Storage::add_write_headers(SigV4Fields& headers) const
{
    if (!m_options.sse.empty())
        headers.emplace_back("x-amz-server-side-encryption", m_options.sse);
    if (!m_options.sse_kms_key_id.empty())
        headers.emplace_back("x-amz-server-side-encryption-aws-kms-key-id", m_options.sse_kms_key_id);
    if (!m_options.storage_class.empty())
        headers.emplace_back("x-amz-storage-class", m_options.storage_class);
}

Status S3Storage::request(const Call& call, HttpResponse& response)
{
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uniform_real_distribution<double> jitter(0.0, 1.0);

    if (call.body_fd >= 0 && call.payload_sha256.empty())
        return Status::error(Code::invalid, call.context + ": a file body needs its SHA-256");
    const std::string payload_sha =
        call.payload_sha256.empty() ? sha256_hex(call.body, call.body_len) : call.payload_sha256;
    SigV4Request r;
    r.method = call.method;
    if (m_path_style) {
        r.host = m_endpoint.host;
        r.path = "/" + m_bucket + (call.key.empty() ? "" : "/" + call.key);
    } else {
        r.host = m_bucket + "." + m_endpoint.host;
        r.path = "/" + call.key;
    }
    r.query = call.query;
    r.headers = call.headers;
    r.payload_sha256 = payload_sha;
    std::string url = m_endpoint.scheme + "://" + r.host + canonical_uri(r.path);
    if (!r.query.empty())
        url += "?" + canonical_query_string(r.query);

    // Bytes already handed to the caller's sink cannot be taken back: such a transfer is not retried.
    uint64_t delivered = 0;
    Status sink_status;
    ByteSink counting = [&](const uint8_t* d, size_t n) {
        delivered += n;
        sink_status = (*call.sink)(d, n);
        return sink_status;
    };

    std::unique_ptr<HttpClient> client = lease();
    Status result;
    for (int attempt = 1;; ++attempt) {
        AwsCredentials creds;
        Status s = m_credentials->get(creds);
        if (!s.is_ok()) {
            // "No credentials anywhere" is a setup problem, never "no such object": a caller that reads
            // not_found as "absent" (restore_command's exit 1) must not end a recovery over it.
            if (s.code() == Code::not_found)
                s = Status::error(Code::invalid, s.message(), s.hint());
            result = s.prefix(call.context);
            break;
        }
        const SigV4Signed signed_request =
            sign_v4(r, SigV4Credentials{creds.access_key_id, creds.secret_access_key, creds.session_token}, m_region,
                "s3", std::chrono::system_clock::now());
        HttpRequest h;
        h.method = call.method;
        h.url = url;
        h.headers = signed_request.headers;
        h.body = call.body;
        h.body_len = call.body_len;
        h.body_fd = call.body_fd;
        h.body_offset = call.body_offset;
        h.sink = call.sink != nullptr ? &counting : nullptr;
        s = client->perform(h, response);
        if (!sink_status.is_ok()) {
            result = sink_status;
            break;
        }
        if (response.body_unreadable) {
            result = s.prefix(call.context);
            break;
        }
        // Each attempt sends the body again from its start (a new HttpRequest, read from offset 0).
        const bool last = attempt >= k_retry_attempts || delivered > 0;
        if (!s.is_ok()) {
            if (last) {
                const bool tls = s.message().find("certificate") != std::string::npos ||
                    s.message().find("SSL") != std::string::npos;
                result = Status::error(Code::io_error, call.context + ": " + s.message(),
                    tls ? "Check walvault.s3_ca_file: the endpoint's certificate must be signed by a CA in it, "
                          "or in the system's store when it is not set."
                        : "Check walvault.s3_endpoint and that the store is reachable.");
                break;
            }
        } else if (response.status >= 200 && response.status < 300) {
            result = Status::ok();
            break;
        } else {
            S3Error err;
            parse_s3_error(response.body, err);
            if (last || !s3_error_retryable(response.status, err.code)) {
                result = s3_error_status(
                    response.status, response.body, response.header("x-amz-bucket-region"), call.context);
                break;
            }
        }
        std::this_thread::sleep_for(retry_delay(attempt, jitter(rng)));
    }
    give_back(std::move(client));
    return result;
}

Status S3Storage::head(const std::string& key, ObjectInfo& out)
{
    Call c;
    c.method = "HEAD";
    c.key = object_key(key);
    c.context = "could not check \"" + location(key) + "\"";
    HttpResponse response;
    Status s = request(c, response);
    if (!s.is_ok() && s.code() != Code::not_found && response.body.empty() && response.status >= 400) {
        // HEAD answers carry no error document: ask again with a one-byte GET to say precisely what is
        // wrong (InvalidAccessKeyId rather than "403"). Only on this error path.
        Call g = c;
        g.method = "GET";
        g.headers.emplace_back("range", "bytes=0-0");
        HttpResponse detailed;
        Status again = request(g, detailed);
        if (!again.is_ok() && !detailed.body.empty())
            return again;
    }
    if (!s.is_ok())
        return s;
    const std::string length = response.header("content-length");
    uint64_t size = 0;
    const auto [end, ec] = std::from_chars(length.data(), length.data() + length.size(), size);
    if (length.empty() || ec != std::errc() || end != length.data() + length.size())
        return Status::error(Code::io_error, c.context + ": the store sent no Content-Length");
    out.key = key;
    out.size = size;
    return Status::ok();
}

Status S3Storage::create(const std::string& key, std::unique_ptr<Writer>& out)
{
    out = std::make_unique<S3Writer>(*this, object_key(key));
    return Status::ok();
}

Status S3Storage::replace(const std::string& key, std::unique_ptr<Writer>& out)
{
    out = std::make_unique<S3Writer>(*this, object_key(key), true);
    return Status::ok();
}

Status S3Storage::get(const std::string& key, const ByteSink& sink)
{
    Call c;
    c.method = "GET";
    c.key = object_key(key);
    c.sink = &sink;
    c.context = "could not download \"" + location(key) + "\"";
    HttpResponse response;
    return request(c, response);
}

Status S3Storage::get_range(const std::string& key, uint64_t offset, size_t len, std::vector<uint8_t>& out)
{
    out.clear();
    if (len == 0)
        return Status::ok();
    Call c;
    c.method = "GET";
    c.key = object_key(key);
    c.headers.emplace_back("range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + len - 1));
    c.context = "could not download \"" + location(key) + "\"";
    HttpResponse response;
    Status s = request(c, response);
    if (!s.is_ok()) {
        if (response.status == 416)  // the range starts at or past the end
            return Status::ok();
        return s;
    }
    std::string_view body = response.body;
    if (response.status == 200)  // a store that ignores Range sends everything
        body = offset < body.size() ? body.substr(offset, len) : std::string_view();
    out.assign(body.begin(), body.end());
    return Status::ok();
}

Status S3Storage::list(const std::string& prefix, const ListRange& range, std::vector<ObjectInfo>& out)
{
    out.clear();
    const std::string full = object_key(prefix);
    const size_t strip = m_prefix.empty() ? 0 : m_prefix.size() + 1;
    std::string token;
    for (;;) {
        Call c;
        c.method = "GET";
        c.query = {{"list-type", "2"}, {"prefix", full}};
        if (!range.start_after.empty())
            c.query.emplace_back("start-after", object_key(range.start_after));
        if (range.max_keys != 0)
            c.query.emplace_back("max-keys", std::to_string(std::min(range.max_keys - out.size(), k_s3_max_list_keys)));
        if (!token.empty())
            c.query.emplace_back("continuation-token", token);
        c.context = "could not list \"" + location(prefix) + "\"";
        HttpResponse response;
        Status s = request(c, response);
        if (!s.is_ok())
            return s;
        S3ListPage page;
        s = parse_list_objects_v2(response.body, page);
        if (!s.is_ok())
            return s.prefix(c.context);
        for (ObjectInfo& o : page.objects)
            if (o.key.size() > strip)
                out.push_back(ObjectInfo{o.key.substr(strip), o.size, o.modified});
        if (!page.truncated || (range.max_keys != 0 && out.size() >= range.max_keys))
            break;
        if (page.next_continuation_token.empty())
            return Status::error(Code::io_error, c.context + ": truncated listing without a continuation token");
        token = page.next_continuation_token;
    }
    std::sort(out.begin(), out.end(), [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
    if (range.max_keys != 0 && out.size() > range.max_keys)
        out.resize(range.max_keys);  // a store that ignores max-keys
    return Status::ok();
}

Status S3Storage::remove(const std::string& key)
{
    Call c;
    c.method = "DELETE";
    c.key = object_key(key);
    c.context = "could not delete \"" + location(key) + "\"";
    HttpResponse response;
    Status s = request(c, response);
    return s.code() == Code::not_found ? Status::ok() : s;
}

Status S3Storage::remove_many(const std::vector<std::string>& keys)
{
    for (size_t start = 0; start < keys.size(); start += k_s3_delete_batch) {
        std::vector<std::string> batch;
        for (size_t i = start; i < std::min(keys.size(), start + k_s3_delete_batch); ++i)
            batch.push_back(object_key(keys[i]));
        const std::string body = build_delete_objects(batch, true);
        Call c;
        c.method = "POST";
        c.query = {{"delete", ""}};
        c.headers = {{"content-md5", base64(md5_raw(reinterpret_cast<const uint8_t*>(body.data()), body.size()))}};
        c.body = reinterpret_cast<const uint8_t*>(body.data());
        c.body_len = body.size();
        c.context = "could not delete objects in \"" + location() + "\"";
        HttpResponse response;
        Status s = request(c, response);
        if (!s.is_ok())
            return s;
        std::vector<std::pair<std::string, S3Error>> failed;
        s = parse_delete_objects(response.body, failed);
        if (!s.is_ok())
            return s.prefix(c.context);
        for (const auto& [key, err] : failed)
            if (err.code != "NoSuchKey")
                return Status::error(Code::io_error,
                    "could not delete \"" + std::string(k_s3_scheme) + m_bucket + "/" + key + "\": " + err.code + ": " +
                        err.message);
    }
    return Status::ok();
}

S3Writer::S3Writer(S3Storage& s3, std::string key, bool replace)
    : m_s3(s3)
    , m_key(std::move(key))
    , m_unsigned_payload(s3.unsigned_payload())
    , m_replace(replace)
{
}

std::string S3Writer::where() const
{
    return "\"" + std::string(k_s3_scheme) + m_s3.m_bucket + "/" + m_key + "\"";
}

Status S3Writer::write(const uint8_t* data, size_t len)
{
    if (m_finished)
        return Status::error(Code::invalid, "write to \"" + m_key + "\" after commit or abort");
    if (!m_part_md5.ok() || !m_whole_md5.ok())
        return Status::error(Code::io_error, "could not set up MD5");
    while (len > 0) {
        if (m_part_len == m_s3.m_part_size) {
            Status s = upload_part();
            if (!s.is_ok())
                return s;
        }
        const size_t n = static_cast<size_t>(std::min<uint64_t>(len, m_s3.m_part_size - m_part_len));
        m_part_md5.update(data, n);
        if (!m_unsigned_payload)
            m_part_sha256.update(data, n);
        if (!m_parts.empty())  // the first part's MD5 is the whole object's so far (upload_part copies it)
            m_whole_md5.update(data, n);
        Status s = keep(data, n);
        if (!s.is_ok())
            return s;
        m_part_len += n;
        m_total += n;
        data += n;
        len -= n;
    }
    return Status::ok();
}

Status S3Writer::keep(const uint8_t* data, size_t len)
{
    while (len > 0) {
        if (m_buffer.size() == k_s3_writer_memory) {
            Status s = spill();
            if (!s.is_ok())
                return s;
        }
        const size_t n = std::min(len, k_s3_writer_memory - m_buffer.size());
        // Grow by doubling, as a vector would, but never past the bound.
        if (m_buffer.size() + n > m_buffer.capacity())
            m_buffer.reserve(std::min(k_s3_writer_memory, std::max(2 * m_buffer.capacity(), m_buffer.size() + n)));
        m_buffer.insert(m_buffer.end(), data, data + n);
        data += n;
        len -= n;
    }
    return Status::ok();
}

Status S3Writer::spill()
{
    if (m_fd < 0) {
        Status s = m_s3.take_spill_file(m_fd);
        if (!s.is_ok())
            return s.prefix("could not upload " + where());
    }
    size_t done = 0;
    while (done < m_buffer.size()) {
        const ssize_t n =
            ::pwrite(m_fd, m_buffer.data() + done, m_buffer.size() - done, static_cast<off_t>(m_spilled + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return Status::error(Code::io_error,
                "could not upload " + where() + ": could not write its temporary file in \"" + m_s3.m_temp_directory +
                    "\": " + errno_text(errno),
                "Make room in that directory, or start the server with TMPDIR naming one with more space.");
        done += static_cast<size_t>(n);
    }
    m_spilled += m_buffer.size();
    m_buffer.clear();
    return Status::ok();
}

Status S3Writer::set_body(Call& c, uint64_t offset, uint64_t len)
{
    c.body_len = static_cast<size_t>(len);
    if (offset >= m_spilled) {
        c.body = m_buffer.data() + (offset - m_spilled);
        return Status::ok();
    }
    if (offset + len > m_spilled) {
        Status s = spill();
        if (!s.is_ok())
            return s;
    }
    c.body_fd = m_fd;
    c.body_offset = offset;
    return Status::ok();
}

Status S3Writer::upload_part()
{
    if (m_upload_id.empty()) {
        Call c;
        c.method = "POST";
        c.key = m_key;
        c.query = {{"uploads", ""}};
        m_s3.add_write_headers(c.headers);
        c.context = "could not start a multipart upload of " + where();
        HttpResponse response;
        Status s = m_s3.request(c, response);
        if (!s.is_ok())
            return s;
        s = parse_initiate_multipart(response.body, m_upload_id);
        if (!s.is_ok())
            return s.prefix(c.context);
    }
    if (static_cast<int>(m_parts.size()) >= k_s3_max_parts)
        return Status::error(Code::invalid,
            "object " + where() + " needs more than " + std::to_string(k_s3_max_parts) + " parts",
            "Raise walvault.s3_part_size.");
    const int number = static_cast<int>(m_parts.size()) + 1;
    if (number == 1)  // from here on the whole object's MD5 is kept apart from the parts'
        m_whole_md5.copy_from(m_part_md5);
    const std::string md5 = m_part_md5.finish_raw();
    Call c;
    c.method = "PUT";
    c.key = m_key;
    c.query = {{"partNumber", std::to_string(number)}, {"uploadId", m_upload_id}};
    c.headers = {{"content-md5", base64(md5)}};
    c.payload_sha256 = m_unsigned_payload ? k_sigv4_unsigned_payload : m_part_sha256.finish_hex();
    c.context = "could not upload part " + std::to_string(number) + " of " + where();
    Status s = set_body(c, m_part_start, m_part_len);
    if (!s.is_ok())
        return s;
    HttpResponse response;
    s = m_s3.request(c, response);
    if (!s.is_ok())
        return s;
    const std::string etag = response.header("etag");
    if (is_md5_hex(unquote(etag)) && unquote(etag) != hex_encode(md5))
        return Status::error(
            Code::corrupt, c.context + ": the store's ETag " + etag + " is not the MD5 of what was sent");
    m_parts.emplace_back(number, etag);
    m_part_md5s += md5;
    // The part's bytes are not needed again: give the file's blocks (or tmpfs pages) back. Best effort:
    // where the filesystem cannot punch holes they stay until the file is closed.
    if (c.body_fd >= 0)
        (void)::fallocate(m_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(m_part_start),
            static_cast<off_t>(m_part_len));
    m_part_start += m_part_len;
    m_part_len = 0;
    return Status::ok();
}

void S3Writer::release()
{
    m_finished = true;
    std::vector<uint8_t>().swap(m_buffer);
    if (m_fd >= 0)
        m_s3.give_back_spill_file(m_fd);
    m_fd = -1;
}

Status S3Writer::commit()
{
    if (m_finished)
        return Status::error(Code::invalid, "commit of \"" + m_key + "\" after commit or abort");
    if (!m_part_md5.ok() || !m_whole_md5.ok())
        return Status::error(Code::io_error, "could not set up MD5");
    // Any of these ETags proves the store holds what was sent: the MD5 of a single PUT; for a multipart
    // upload AWS's MD5 of the part MD5s plus "-N", or (s3rver, some others) the MD5 of the whole object.
    std::vector<std::string> expected_etags;
    std::string returned_etag;
    if (m_upload_id.empty()) {
        // One part so far, and it is the whole object.
        const std::string md5 = m_part_md5.finish_raw();
        Call c;
        c.method = "PUT";
        c.key = m_key;
        c.headers = {{"content-md5", base64(md5)}};
        if (!m_replace)
            c.headers.emplace_back("if-none-match", "*");
        m_s3.add_write_headers(c.headers);
        c.payload_sha256 = m_unsigned_payload ? k_sigv4_unsigned_payload : m_part_sha256.finish_hex();
        c.context = "could not upload " + where();
        Status s = set_body(c, 0, m_total);
        if (!s.is_ok())
            return s;
        HttpResponse response;
        s = m_s3.request(c, response);
        if (!s.is_ok())
            return s;
        returned_etag = response.header("etag");
        expected_etags.push_back(hex_encode(md5));
    } else {
        if (m_part_len > 0 || m_parts.empty()) {
            Status s = upload_part();
            if (!s.is_ok())
                return s;
        }
        const std::string body = build_complete_multipart(m_parts);
        Call c;
        c.method = "POST";
        c.key = m_key;
        c.query = {{"uploadId", m_upload_id}};
        if (!m_replace)
            c.headers = {{"if-none-match", "*"}};
        c.body = reinterpret_cast<const uint8_t*>(body.data());
        c.body_len = body.size();
        c.context = "could not complete the multipart upload of " + where();
        // S3 may answer 200 and still fail (an <Error> body, sent late): retry those that are worth it.
        for (int attempt = 1;; ++attempt) {
            HttpResponse response;
            Status s = m_s3.request(c, response);
            if (!s.is_ok())
                return s;
            s = parse_complete_multipart(response.body, returned_etag);
            if (s.is_ok())
                break;
            S3Error err;
            if (attempt >= k_retry_attempts || !parse_s3_error(response.body, err) ||
                !s3_error_retryable(response.status, err.code))
                return s.prefix(c.context);
            std::this_thread::sleep_for(retry_delay(attempt, 0.5));
        }
        expected_etags.push_back(
            hex_encode(md5_raw(reinterpret_cast<const uint8_t*>(m_part_md5s.data()), m_part_md5s.size())) + "-" +
            std::to_string(m_parts.size()));
        expected_etags.push_back(hex_encode(m_whole_md5.finish_raw()));
    }
    m_upload_id.clear();  // complete: nothing to abort any more
    release();

    // SSE-KMS ETags are not MD5s; otherwise an ETag that looks like one must be one of ours.
    const std::string etag = unquote(returned_etag);
    const bool checkable = m_s3.m_options.sse != "aws:kms" &&
        (is_md5_hex(etag) || (etag.find('-') != std::string::npos && is_md5_hex(etag.substr(0, etag.find('-')))));
    if (checkable && std::find(expected_etags.begin(), expected_etags.end(), etag) == expected_etags.end())
        return Status::error(Code::corrupt,
            "the store's ETag for " + where() + " is " + etag + ", which is not the MD5 of what was sent (" +
                expected_etags.front() + ")");
    // The length the store reports now. AWS S3 reads its own writes at once; a store that does not (s3rver
    // under load answers a HEAD right after the PUT with 0 bytes, or 404) is asked again, up to
    // k_retry_attempts times within about 0.4 s, before the upload counts as failed.
    ObjectInfo info;
    const std::string key_in_repo = m_key.substr(m_s3.m_prefix.empty() ? 0 : m_s3.m_prefix.size() + 1);
    for (int attempt = 1;; ++attempt) {
        Status s = m_s3.head(key_in_repo, info);
        const bool settled = s.is_ok() ? info.size == m_total : s.code() != Code::not_found;
        if (settled || attempt >= k_retry_attempts) {
            if (!s.is_ok())
                return s;
            if (info.size != m_total)
                return Status::error(Code::corrupt,
                    "object " + where() + " holds " + std::to_string(info.size) + " bytes after upload, " +
                        std::to_string(m_total) + " were sent");
            return Status::ok();
        }
        std::this_thread::sleep_for(retry_delay(attempt, 0.5));
    }
}

void S3Writer::abort()
{
    release();
    if (m_upload_id.empty())
        return;
    // Best effort: a store that does not implement abort keeps the parts until its lifecycle rules drop them.
    Call c;
    c.method = "DELETE";
    c.key = m_key;
    c.query = {{"uploadId", m_upload_id}};
    c.context = "could not abort the multipart upload of \"" + m_key + "\"";
    HttpResponse response;
    (void)m_s3.request(c, response);
    m_upload_id.clear();
}

std::optional<std::string> env_value(const StorageOptions& options, const std::string& name)
{
    if (options.getenv)
        return options.getenv(name);
    const char* v = std::getenv(name.c_str());
    return v != nullptr && *v != '\0' ? std::optional<std::string>(v) : std::nullopt;
}

}  // namespace

size_t s3_writer_memory(const Writer& writer)
{
    const auto* w = dynamic_cast<const S3Writer*>(&writer);
    return w != nullptr ? w->memory() : 0;
}

Status open_s3_storage(const std::string& repo, const StorageOptions& options, std::unique_ptr<Storage>& out)
{
    auto bad = [](const std::string& message, const std::string& hint) {
        return Status::error(Code::invalid, message, hint);
    };
    auto s3 = std::make_unique<S3Storage>();
    std::string rest = repo.substr(std::string(k_s3_scheme).size());
    const size_t slash = rest.find('/');
    s3->m_bucket = rest.substr(0, slash);
    std::string prefix = slash == std::string::npos ? std::string() : rest.substr(slash + 1);
    while (!prefix.empty() && prefix.back() == '/')
        prefix.pop_back();
    while (!prefix.empty() && prefix.front() == '/')
        prefix.erase(prefix.begin());
    s3->m_prefix = prefix;
    if (s3->m_bucket.empty() || s3->m_bucket.find_first_of(" ?#\\") != std::string::npos)
        return bad("invalid repository location \"" + repo + "\": no valid bucket name",
            "Use s3://BUCKET/PREFIX, for example \"s3://backups/prod/main\".");

    S3Options o;
    if (Status st = s3_options(options, o); !st.is_ok())
        return st;
    s3->m_options = o;
    CredentialOptions cred;
    cred.credentials_file = o.credentials_file;
    cred.profile = o.profile;
    if (options.getenv)
        cred.getenv = options.getenv;

    s3->m_region = o.region;
    for (const char* var : {"AWS_REGION", "AWS_DEFAULT_REGION"})
        if (s3->m_region.empty())
            s3->m_region = env_value(options, var).value_or("");
    if (s3->m_region.empty())
        s3->m_region = profile_region(cred).value_or(k_s3_default_region);

    std::string endpoint = o.endpoint;
    for (const char* var : {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"})
        if (endpoint.empty())
            endpoint = env_value(options, var).value_or("");
    const bool custom_endpoint = !endpoint.empty();
    if (!custom_endpoint)
        endpoint = "https://s3." + s3->m_region + ".amazonaws.com";
    if (!parse_endpoint(endpoint, s3->m_endpoint))
        return bad("invalid value for walvault.s3_endpoint: \"" + endpoint + "\"",
            "Use a URL such as \"https://minio.internal:9000\" (scheme, host and port only).");

    if (o.uri_style.empty())
        s3->m_path_style = custom_endpoint;
    else if (o.uri_style == "path" || o.uri_style == "host")
        s3->m_path_style = o.uri_style == "path";
    else
        return bad("invalid value for walvault.s3_uri_style: \"" + o.uri_style + "\"",
            "Use \"host\" (bucket.endpoint, the AWS default) or \"path\" (endpoint/bucket).");

    if (!o.sse.empty() && o.sse != "AES256" && o.sse != "aws:kms")
        return bad("invalid value for walvault.s3_sse: \"" + o.sse + "\"", "Use \"AES256\" or \"aws:kms\".");
    if (!o.sse_kms_key_id.empty() && o.sse != "aws:kms")
        return bad("walvault.s3_sse_kms_key_id is set but walvault.s3_sse is not \"aws:kms\"",
            "Set walvault.s3_sse = 'aws:kms' or clear walvault.s3_sse_kms_key_id.");

    if (o.part_size != 0) {
        if (o.part_size < k_s3_min_part_size || o.part_size > k_s3_max_part_size)
            return bad("walvault.s3_part_size must be between 5MB and 5GB", "S3 limits the size of a part.");
        s3->m_part_size = o.part_size;
    }
    if (!o.ca_file.empty()) {
        if (::access(o.ca_file.c_str(), R_OK) != 0)
            return bad("could not read walvault.s3_ca_file \"" + o.ca_file + "\": " + errno_text(errno),
                "Give the server's operating-system user read access to the CA bundle.");
        s3->m_http.ca_file = o.ca_file;
    }
    s3->m_temp_directory = options.temp_directory;
    if (s3->m_temp_directory.empty())
        s3->m_temp_directory = env_value(options, "TMPDIR").value_or(k_default_temp_directory);
    s3->m_credentials = std::make_unique<CredentialProvider>(cred);
    out = std::move(s3);
    return Status::ok();
}

}  // namespace walvault
