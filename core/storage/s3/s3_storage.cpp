// S3 backend. Every request is signed (SigV4), sent over a pooled connection, and retried a bounded number
// of times with jittered backoff when the failure is worth retrying (http_client.h). Objects are buffered
// in memory up to the part size and sent in one PUT; larger ones go up as a multipart upload, aborted on
// failure. A write counts only when the store has checked its MD5 and SHA-256, its ETag matches what we
// sent (where the ETag is an MD5) and a HEAD reports the right length.
#include "core/storage/s3/s3_storage.h"

#include "core/codec/sha256.h"
#include "core/common/text.h"
#include "core/http/http_client.h"
#include "core/storage/s3/credentials.h"
#include "core/storage/s3/s3_xml.h"
#include "core/storage/s3/sigv4.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
    const ByteSink* sink = nullptr;
    std::string context;  // "could not upload "s3://b/p/k"" for messages
};

class S3Storage;

class S3Writer final : public Writer {
public:
    S3Writer(S3Storage& s3, std::string key)
        : m_s3(s3)
        , m_key(std::move(key))
    {
    }
    ~S3Writer() override { abort(); }
    Status write(const uint8_t* data, size_t len) override;
    Status commit() override;
    void abort() override;

private:
    Status upload_part(const uint8_t* data, size_t len);

    S3Storage& m_s3;
    std::string m_key;
    std::vector<uint8_t> m_buffer;
    std::string m_upload_id;
    std::vector<std::pair<int, std::string>> m_parts;  // number, ETag as returned
    std::string m_part_md5s;                           // raw MD5s of the parts, for the multipart ETag
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> m_whole_md5{nullptr, EVP_MD_CTX_free};
    uint64_t m_total = 0;
    bool m_finished = false;
};

class S3Storage final : public Storage {
public:
    std::string m_bucket;
    std::string m_prefix;  // without leading or trailing '/'
    Endpoint m_endpoint;
    std::string m_region;
    bool m_path_style = false;
    StorageOptions m_options;
    HttpOptions m_http;
    uint64_t m_part_size = k_s3_default_part_size;
    std::unique_ptr<CredentialProvider> m_credentials;

    std::string location() const override
    {
        return std::string(k_s3_scheme) + m_bucket + (m_prefix.empty() ? "" : "/" + m_prefix);
    }
    std::string location(const std::string& key) const override { return location() + "/" + key; }
    std::string object_key(const std::string& key) const { return m_prefix.empty() ? key : m_prefix + "/" + key; }

    Status head(const std::string& key, ObjectInfo& out) override;
    Status create(const std::string& key, std::unique_ptr<Writer>& out) override;
    Status get(const std::string& key, const ByteSink& sink) override;
    Status get_range(const std::string& key, uint64_t offset, size_t len, std::vector<uint8_t>& out) override;
    Status list(const std::string& prefix, std::vector<ObjectInfo>& out) override;
    Status remove(const std::string& key) override;
    Status remove_many(const std::vector<std::string>& keys) override;
    Status sync(const std::string&) override { return Status::ok(); }  // S3 acknowledges durable writes only

    // Signs, sends and retries one request; a non-2xx answer becomes a Status (s3_error_status).
    Status request(const Call& call, HttpResponse& response);
    // Headers every object write carries: server-side encryption, storage class.
    void add_write_headers(SigV4Fields& headers) const;

private:
    std::unique_ptr<HttpClient> lease();
    void give_back(std::unique_ptr<HttpClient> client);

    std::mutex m_pool_mutex;
    std::vector<std::unique_ptr<HttpClient>> m_pool;
};

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
    if (!m_options.s3_sse.empty())
        headers.emplace_back("x-amz-server-side-encryption", m_options.s3_sse);
    if (!m_options.s3_sse_kms_key_id.empty())
        headers.emplace_back("x-amz-server-side-encryption-aws-kms-key-id", m_options.s3_sse_kms_key_id);
    if (!m_options.s3_storage_class.empty())
        headers.emplace_back("x-amz-storage-class", m_options.s3_storage_class);
}

Status S3Storage::request(const Call& call, HttpResponse& response)
{
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uniform_real_distribution<double> jitter(0.0, 1.0);

    const std::string payload_sha = sha256_hex(call.body, call.body_len);
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
        h.sink = call.sink != nullptr ? &counting : nullptr;
        s = client->perform(h, response);
        if (!sink_status.is_ok()) {
            result = sink_status;
            break;
        }
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

Status S3Storage::list(const std::string& prefix, std::vector<ObjectInfo>& out)
{
    out.clear();
    const std::string full = object_key(prefix);
    const size_t strip = m_prefix.empty() ? 0 : m_prefix.size() + 1;
    std::string token;
    for (;;) {
        Call c;
        c.method = "GET";
        c.query = {{"list-type", "2"}, {"prefix", full}};
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
                out.push_back(ObjectInfo{o.key.substr(strip), o.size});
        if (!page.truncated)
            break;
        if (page.next_continuation_token.empty())
            return Status::error(Code::io_error, c.context + ": truncated listing without a continuation token");
        token = page.next_continuation_token;
    }
    std::sort(out.begin(), out.end(), [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
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

Status S3Writer::write(const uint8_t* data, size_t len)
{
    if (m_finished)
        return Status::error(Code::invalid, "write to \"" + m_key + "\" after commit or abort");
    if (!m_whole_md5) {
        m_whole_md5.reset(EVP_MD_CTX_new());
        if (!m_whole_md5 || EVP_DigestInit_ex(m_whole_md5.get(), EVP_md5(), nullptr) != 1)
            return Status::error(Code::io_error, "could not set up MD5");
    }
    EVP_DigestUpdate(m_whole_md5.get(), data, len);
    m_buffer.insert(m_buffer.end(), data, data + len);
    m_total += len;
    // Only a buffer larger than one part starts a multipart upload; a full part goes, the rest waits.
    while (m_buffer.size() > m_s3.m_part_size) {
        Status s = upload_part(m_buffer.data(), m_s3.m_part_size);
        if (!s.is_ok())
            return s;
        m_buffer.erase(m_buffer.begin(), m_buffer.begin() + static_cast<std::ptrdiff_t>(m_s3.m_part_size));
    }
    return Status::ok();
}

Status S3Writer::upload_part(const uint8_t* data, size_t len)
{
    const std::string where = "\"" + std::string(k_s3_scheme) + m_s3.m_bucket + "/" + m_key + "\"";
    if (m_upload_id.empty()) {
        Call c;
        c.method = "POST";
        c.key = m_key;
        c.query = {{"uploads", ""}};
        m_s3.add_write_headers(c.headers);
        c.context = "could not start a multipart upload of " + where;
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
            "object " + where + " needs more than " + std::to_string(k_s3_max_parts) + " parts",
            "Raise walvault.s3_part_size.");
    const int number = static_cast<int>(m_parts.size()) + 1;
    const std::string md5 = md5_raw(data, len);
    Call c;
    c.method = "PUT";
    c.key = m_key;
    c.query = {{"partNumber", std::to_string(number)}, {"uploadId", m_upload_id}};
    c.headers = {{"content-md5", base64(md5)}};
    c.body = data;
    c.body_len = len;
    c.context = "could not upload part " + std::to_string(number) + " of " + where;
    HttpResponse response;
    Status s = m_s3.request(c, response);
    if (!s.is_ok())
        return s;
    const std::string etag = response.header("etag");
    if (is_md5_hex(unquote(etag)) && unquote(etag) != hex_encode(md5))
        return Status::error(
            Code::corrupt, c.context + ": the store's ETag " + etag + " is not the MD5 of what was sent");
    m_parts.emplace_back(number, etag);
    m_part_md5s += md5;
    return Status::ok();
}

Status S3Writer::commit()
{
    if (m_finished)
        return Status::error(Code::invalid, "commit of \"" + m_key + "\" after commit or abort");
    const std::string where = "\"" + std::string(k_s3_scheme) + m_s3.m_bucket + "/" + m_key + "\"";
    // Any of these ETags proves the store holds what was sent: the MD5 of a single PUT; for a multipart
    // upload AWS's MD5 of the part MD5s plus "-N", or (s3rver, some others) the MD5 of the whole object.
    std::vector<std::string> expected_etags;
    std::string returned_etag;
    if (m_upload_id.empty()) {
        const std::string md5 = md5_raw(m_buffer.data(), m_buffer.size());
        Call c;
        c.method = "PUT";
        c.key = m_key;
        c.headers = {{"content-md5", base64(md5)}, {"if-none-match", "*"}};
        m_s3.add_write_headers(c.headers);
        c.body = m_buffer.data();
        c.body_len = m_buffer.size();
        c.context = "could not upload " + where;
        HttpResponse response;
        Status s = m_s3.request(c, response);
        if (!s.is_ok())
            return s;
        returned_etag = response.header("etag");
        expected_etags.push_back(hex_encode(md5));
    } else {
        if (!m_buffer.empty() || m_parts.empty()) {
            Status s = upload_part(m_buffer.data(), m_buffer.size());
            if (!s.is_ok())
                return s;
        }
        const std::string body = build_complete_multipart(m_parts);
        Call c;
        c.method = "POST";
        c.key = m_key;
        c.query = {{"uploadId", m_upload_id}};
        c.headers = {{"if-none-match", "*"}};
        c.body = reinterpret_cast<const uint8_t*>(body.data());
        c.body_len = body.size();
        c.context = "could not complete the multipart upload of " + where;
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
        unsigned char whole[EVP_MAX_MD_SIZE];
        unsigned whole_len = 0;
        if (m_whole_md5 && EVP_DigestFinal_ex(m_whole_md5.get(), whole, &whole_len) == 1)
            expected_etags.push_back(hex_encode(std::string(reinterpret_cast<char*>(whole), whole_len)));
    }
    m_upload_id.clear();  // complete: nothing to abort any more
    m_finished = true;
    std::vector<uint8_t>().swap(m_buffer);

    // SSE-KMS ETags are not MD5s; otherwise an ETag that looks like one must be one of ours.
    const std::string etag = unquote(returned_etag);
    const bool checkable = m_s3.m_options.s3_sse != "aws:kms" &&
        (is_md5_hex(etag) || (etag.find('-') != std::string::npos && is_md5_hex(etag.substr(0, etag.find('-')))));
    if (checkable && std::find(expected_etags.begin(), expected_etags.end(), etag) == expected_etags.end())
        return Status::error(Code::corrupt,
            "the store's ETag for " + where + " is " + etag + ", which is not the MD5 of what was sent (" +
                expected_etags.front() + ")");
    ObjectInfo info;
    const std::string key_in_repo = m_key.substr(m_s3.m_prefix.empty() ? 0 : m_s3.m_prefix.size() + 1);
    Status s = m_s3.head(key_in_repo, info);
    if (!s.is_ok())
        return s;
    if (info.size != m_total)
        return Status::error(Code::corrupt,
            "object " + where + " holds " + std::to_string(info.size) + " bytes after upload, " +
                std::to_string(m_total) + " were sent");
    return Status::ok();
}

void S3Writer::abort()
{
    m_finished = true;
    std::vector<uint8_t>().swap(m_buffer);
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

    s3->m_options = options;
    CredentialOptions cred;
    cred.credentials_file = options.s3_credentials_file;
    cred.profile = options.s3_profile;
    if (options.getenv)
        cred.getenv = options.getenv;

    s3->m_region = options.s3_region;
    for (const char* var : {"AWS_REGION", "AWS_DEFAULT_REGION"})
        if (s3->m_region.empty())
            s3->m_region = env_value(options, var).value_or("");
    if (s3->m_region.empty())
        s3->m_region = profile_region(cred).value_or(k_s3_default_region);

    std::string endpoint = options.s3_endpoint;
    for (const char* var : {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"})
        if (endpoint.empty())
            endpoint = env_value(options, var).value_or("");
    const bool custom_endpoint = !endpoint.empty();
    if (!custom_endpoint)
        endpoint = "https://s3." + s3->m_region + ".amazonaws.com";
    if (!parse_endpoint(endpoint, s3->m_endpoint))
        return bad("invalid value for walvault.s3_endpoint: \"" + endpoint + "\"",
            "Use a URL such as \"https://minio.internal:9000\" (scheme, host and port only).");

    if (options.s3_uri_style.empty())
        s3->m_path_style = custom_endpoint;
    else if (options.s3_uri_style == "path" || options.s3_uri_style == "host")
        s3->m_path_style = options.s3_uri_style == "path";
    else
        return bad("invalid value for walvault.s3_uri_style: \"" + options.s3_uri_style + "\"",
            "Use \"host\" (bucket.endpoint, the AWS default) or \"path\" (endpoint/bucket).");

    if (!options.s3_sse.empty() && options.s3_sse != "AES256" && options.s3_sse != "aws:kms")
        return bad("invalid value for walvault.s3_sse: \"" + options.s3_sse + "\"", "Use \"AES256\" or \"aws:kms\".");
    if (!options.s3_sse_kms_key_id.empty() && options.s3_sse != "aws:kms")
        return bad("walvault.s3_sse_kms_key_id is set but walvault.s3_sse is not \"aws:kms\"",
            "Set walvault.s3_sse = 'aws:kms' or clear walvault.s3_sse_kms_key_id.");

    if (options.s3_part_size != 0) {
        if (options.s3_part_size < k_s3_min_part_size || options.s3_part_size > k_s3_max_part_size)
            return bad("walvault.s3_part_size must be between 5MB and 5GB", "S3 limits the size of a part.");
        s3->m_part_size = options.s3_part_size;
    }
    if (!options.s3_ca_file.empty()) {
        if (::access(options.s3_ca_file.c_str(), R_OK) != 0)
            return bad("could not read walvault.s3_ca_file \"" + options.s3_ca_file + "\": " + errno_text(errno),
                "Give the server's operating-system user read access to the CA bundle.");
        s3->m_http.ca_file = options.s3_ca_file;
    }
    s3->m_credentials = std::make_unique<CredentialProvider>(cred);
    out = std::move(s3);
    return Status::ok();
}

}  // namespace walvault
