// libcurl, libpq and libcrypto for the walvault tool, opened on first use. restore_command runs `walvault
// wal-fetch` once per WAL segment. Linking libcurl and libpq cost ~18 ms of every exec (each pulls in ~30
// more libraries), and libcrypto alone ~5 ms (its loading and initialisation: an empty program linked with
// it takes 9.7 ms instead of 4.0), though a wal-fetch served from the prefetch spool needs none of them
// and one from a posix repository needs only libcrypto (sha256). The tool links this file instead of
// -lcurl -lpq -lcrypto.
#define CURL_DISABLE_TYPECHECK  // below are the functions themselves, not curl.h's type-checking macros
#include "tool/lazy_libs.h"

#include <dlfcn.h>

#include <atomic>
#include <cstdarg>
#include <mutex>

#include <curl/curl.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#undef curl_easy_setopt
#undef curl_easy_getinfo

// Every libcurl, libpq and libcrypto function the tool and core/ call. The tool links none of these
// libraries, so a call to one not defined below fails its link.
#define WV_CURL_FUNCTIONS(X)                                                                                           \
    X(curl_easy_cleanup)                                                                                               \
    X(curl_easy_getinfo)                                                                                               \
    X(curl_easy_init)                                                                                                  \
    X(curl_easy_perform)                                                                                               \
    X(curl_easy_reset)                                                                                                 \
    X(curl_easy_setopt)                                                                                                \
    X(curl_easy_strerror)                                                                                              \
    X(curl_global_init)                                                                                                \
    X(curl_slist_append)                                                                                               \
    X(curl_slist_free_all)

#define WV_PQ_FUNCTIONS(X)                                                                                             \
    X(PQclear)                                                                                                         \
    X(PQconnectdbParams)                                                                                               \
    X(PQdb)                                                                                                            \
    X(PQerrorMessage)                                                                                                  \
    X(PQexec)                                                                                                          \
    X(PQexecParams)                                                                                                    \
    X(PQfinish)                                                                                                        \
    X(PQgetvalue)                                                                                                      \
    X(PQhost)                                                                                                          \
    X(PQnfields)                                                                                                       \
    X(PQntuples)                                                                                                       \
    X(PQport)                                                                                                          \
    X(PQresultErrorMessage)                                                                                            \
    X(PQresultStatus)                                                                                                  \
    X(PQstatus)                                                                                                        \
    X(PQuser)                                                                                                          \
    X(PQgetCopyData)                                                                                                   \
    X(PQputCopyData)                                                                                                   \
    X(PQputCopyEnd)                                                                                                    \
    X(PQflush)                                                                                                         \
    X(PQsocket)                                                                                                        \
    X(PQconsumeInput)                                                                                                  \
    X(PQgetResult)                                                                                                     \
    X(PQfreemem)                                                                                                       \
    X(PQresultErrorField)

#define WV_CRYPTO_FUNCTIONS(X)                                                                                         \
    X(EVP_Digest)                                                                                                      \
    X(EVP_DigestFinal_ex)                                                                                              \
    X(EVP_DigestInit_ex)                                                                                               \
    X(EVP_DigestUpdate)                                                                                                \
    X(EVP_EncodeBlock)                                                                                                 \
    X(EVP_MD_CTX_copy_ex)                                                                                              \
    X(EVP_MD_CTX_free)                                                                                                 \
    X(EVP_MD_CTX_new)                                                                                                  \
    X(EVP_md5)                                                                                                         \
    X(EVP_sha256)                                                                                                      \
    X(HMAC)                                                                                                            \
    X(EVP_KDF_fetch)                                                                                                   \
    X(EVP_KDF_free)                                                                                                    \
    X(EVP_KDF_CTX_new)                                                                                                 \
    X(EVP_KDF_CTX_free)                                                                                                \
    X(EVP_KDF_derive)                                                                                                  \
    X(OSSL_PARAM_construct_utf8_string)                                                                                \
    X(OSSL_PARAM_construct_octet_string)                                                                               \
    X(OSSL_PARAM_construct_uint64)                                                                                     \
    X(OSSL_PARAM_construct_uint32)                                                                                     \
    X(OSSL_PARAM_construct_end)                                                                                        \
    X(EVP_PKEY_new_raw_private_key)                                                                                    \
    X(EVP_PKEY_new_raw_public_key)                                                                                     \
    X(EVP_PKEY_get_raw_public_key)                                                                                     \
    X(EVP_PKEY_free)                                                                                                   \
    X(EVP_PKEY_CTX_new)                                                                                                \
    X(EVP_PKEY_CTX_free)                                                                                               \
    X(EVP_PKEY_derive_init)                                                                                            \
    X(EVP_PKEY_derive_set_peer)                                                                                        \
    X(EVP_PKEY_derive)                                                                                                 \
    X(EVP_CIPHER_CTX_new)                                                                                              \
    X(EVP_CIPHER_CTX_free)                                                                                             \
    X(EVP_CIPHER_CTX_ctrl)                                                                                             \
    X(EVP_EncryptInit_ex)                                                                                              \
    X(EVP_EncryptUpdate)                                                                                               \
    X(EVP_EncryptFinal_ex)                                                                                             \
    X(EVP_DecryptInit_ex)                                                                                              \
    X(EVP_DecryptUpdate)                                                                                               \
    X(EVP_DecryptFinal_ex)                                                                                             \
    X(EVP_CIPHER_fetch)                                                                                                \
    X(EVP_chacha20_poly1305)                                                                                           \
    X(RAND_bytes)                                                                                                      \
    X(OPENSSL_cleanse)

// A pointer with the exact type of the header's declaration: the compiler checks every forwarding call.
// NOLINTNEXTLINE(bugprone-macro-parentheses): name is an identifier here, which cannot be parenthesized
#define WV_POINTER(name) decltype(&::name) name = nullptr;
#define WV_RESOLVE(name) ok = ok && resolve(lib, handle, #name, api.name);

namespace walvault {
namespace {

constexpr const char* k_curl_soname = "libcurl.so.4";      // SONAME of Debian 12's libcurl4
constexpr const char* k_pq_soname = "libpq.so.5";          // SONAME of Debian 12's libpq5
constexpr const char* k_crypto_soname = "libcrypto.so.3";  // SONAME of Debian 12's libssl3 (OpenSSL 3)

// One library: opened with all of its functions on the first call, or not at all.
struct Library {
    const char* soname;
    std::once_flag once;
    std::string error;  // written once, before failed is set, never again
    std::atomic<bool> failed{false};
};

struct CurlApi {
    WV_CURL_FUNCTIONS(WV_POINTER)
};

struct PqApi {
    WV_PQ_FUNCTIONS(WV_POINTER)
};

struct CryptoApi {
    WV_CRYPTO_FUNCTIONS(WV_POINTER)
};

Library g_curl{k_curl_soname, {}, {}, {}};
Library g_pq{k_pq_soname, {}, {}, {}};
Library g_crypto{k_crypto_soname, {}, {}, {}};
CurlApi g_curl_api;  // all set once g_curl.once has run without failing, else all null
PqApi g_pq_api;
CryptoApi g_crypto_api;

void record_failure(Library& lib, const char* why)
{
    lib.error = std::string("could not load \"") + lib.soname + "\": " + (why != nullptr ? why : "unknown error");
    lib.failed.store(true, std::memory_order_release);
}

template <typename F> bool resolve(Library& lib, void* handle, const char* name, F& fn)
{
    dlerror();
    void* symbol = dlsym(handle, name);
    if (symbol == nullptr) {
        record_failure(lib, dlerror());
        return false;
    }
    fn = reinterpret_cast<F>(symbol);
    return true;
}

// RTLD_LOCAL: the library's symbols stay out of the global scope, so dlsym on its handle finds its own
// functions, never the forwarders below. The handle is never closed: the functions are used until exit.
void* open_library(Library& lib)
{
    void* handle = dlopen(lib.soname, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr)
        record_failure(lib, dlerror());
    return handle;
}

const CurlApi* curl_api()
{
    std::call_once(g_curl.once, [] {
        Library& lib = g_curl;
        void* handle = open_library(lib);
        if (handle == nullptr)
            return;
        CurlApi api;
        bool ok = true;
        WV_CURL_FUNCTIONS(WV_RESOLVE)
        if (ok)
            g_curl_api = api;
    });
    return g_curl_api.curl_easy_init != nullptr ? &g_curl_api : nullptr;
}

const PqApi* pq_api()
{
    std::call_once(g_pq.once, [] {
        Library& lib = g_pq;
        void* handle = open_library(lib);
        if (handle == nullptr)
            return;
        PqApi api;
        bool ok = true;
        WV_PQ_FUNCTIONS(WV_RESOLVE)
        if (ok)
            g_pq_api = api;
    });
    return g_pq_api.PQconnectdbParams != nullptr ? &g_pq_api : nullptr;
}

const CryptoApi* crypto_api()
{
    std::call_once(g_crypto.once, [] {
        Library& lib = g_crypto;
        void* handle = open_library(lib);
        if (handle == nullptr)
            return;
        CryptoApi api;
        bool ok = true;
        WV_CRYPTO_FUNCTIONS(WV_RESOLVE)
        if (ok)
            g_crypto_api = api;
    });
    return g_crypto_api.EVP_MD_CTX_new != nullptr ? &g_crypto_api : nullptr;
}

}  // namespace

std::string lazy_lib_error()
{
    std::string out;
    for (const Library* lib : {&g_curl, &g_pq, &g_crypto}) {
        if (!lib->failed.load(std::memory_order_acquire))
            continue;
        if (!out.empty())
            out += "; ";
        out += lib->error;
    }
    return out;
}

}  // namespace walvault

using walvault::crypto_api;
using walvault::curl_api;
using walvault::pq_api;

// Without the library: initialisation fails the way libcurl's own does (CURLE_FAILED_INIT, a null handle),
// which callers already handle; the other calls cannot have a valid handle and return failure or nothing.
extern "C" {

CURLcode curl_global_init(long flags)
{
    const walvault::CurlApi* api = curl_api();
    return api != nullptr ? api->curl_global_init(flags) : CURLE_FAILED_INIT;
}

CURL* curl_easy_init(void)
{
    const walvault::CurlApi* api = curl_api();
    return api != nullptr ? api->curl_easy_init() : nullptr;
}

void curl_easy_cleanup(CURL* curl)
{
    if (const walvault::CurlApi* api = curl_api())
        api->curl_easy_cleanup(curl);
}

void curl_easy_reset(CURL* curl)
{
    if (const walvault::CurlApi* api = curl_api())
        api->curl_easy_reset(curl);
}

CURLcode curl_easy_perform(CURL* curl)
{
    const walvault::CurlApi* api = curl_api();
    return api != nullptr ? api->curl_easy_perform(curl) : CURLE_FAILED_INIT;
}

// The one argument after the option is read with the type the option's number range gives it (curl.h:
// CURLOPTTYPE_*), as libcurl itself reads it, and passed on with that type.
CURLcode curl_easy_setopt(CURL* curl, CURLoption option, ...)
{
    const walvault::CurlApi* api = curl_api();
    if (api == nullptr)
        return CURLE_FAILED_INIT;
    using AnyFunction = void (*)(void);
    va_list args;
    va_start(args, option);
    CURLcode rc = CURLE_UNKNOWN_OPTION;
    // NOLINTBEGIN(bugprone-branch-clone): the branches differ in va_arg's type, which the check does not compare
    if (option < CURLOPTTYPE_OBJECTPOINT)  // LONG, VALUES
        rc = api->curl_easy_setopt(curl, option, va_arg(args, long));
    else if (option < CURLOPTTYPE_FUNCTIONPOINT)  // OBJECTPOINT, STRINGPOINT, SLISTPOINT, CBPOINT
        rc = api->curl_easy_setopt(curl, option, va_arg(args, void*));
    else if (option < CURLOPTTYPE_OFF_T)  // FUNCTIONPOINT: every callback has a pointer's size and class
        rc = api->curl_easy_setopt(curl, option, va_arg(args, AnyFunction));
    else if (option < CURLOPTTYPE_BLOB)
        rc = api->curl_easy_setopt(curl, option, va_arg(args, curl_off_t));
    else if (option < CURLOPTTYPE_BLOB + 10000)  // a struct curl_blob*
        rc = api->curl_easy_setopt(curl, option, va_arg(args, void*));
    // NOLINTEND(bugprone-branch-clone)
    va_end(args);
    return rc;
}

// Every CURLINFO type (CURLINFO_TYPEMASK) takes a pointer to where the value goes.
CURLcode curl_easy_getinfo(CURL* curl, CURLINFO info, ...)
{
    const walvault::CurlApi* api = curl_api();
    if (api == nullptr)
        return CURLE_FAILED_INIT;
    switch (info & CURLINFO_TYPEMASK) {
    case CURLINFO_STRING:
    case CURLINFO_LONG:
    case CURLINFO_DOUBLE:
    case CURLINFO_SLIST:  // and CURLINFO_PTR, the same value
    case CURLINFO_SOCKET:
    case CURLINFO_OFF_T:
        break;
    default:
        return CURLE_UNKNOWN_OPTION;
    }
    va_list args;
    va_start(args, info);
    const CURLcode rc = api->curl_easy_getinfo(curl, info, va_arg(args, void*));
    va_end(args);
    return rc;
}

const char* curl_easy_strerror(CURLcode code)
{
    const walvault::CurlApi* api = curl_api();
    return api != nullptr ? api->curl_easy_strerror(code) : walvault::g_curl.error.c_str();
}

struct curl_slist* curl_slist_append(struct curl_slist* list, const char* data)
{
    const walvault::CurlApi* api = curl_api();
    return api != nullptr ? api->curl_slist_append(list, data) : nullptr;
}

void curl_slist_free_all(struct curl_slist* list)
{
    if (const walvault::CurlApi* api = curl_api())
        api->curl_slist_free_all(list);
}

// Without libpq: no connection (libpq's own answer when it cannot allocate one), and for a null connection
// or result what libpq answers for one.
PGconn* PQconnectdbParams(const char* const* keywords, const char* const* values, int expand_dbname)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQconnectdbParams(keywords, values, expand_dbname) : nullptr;
}

void PQfinish(PGconn* conn)
{
    if (const walvault::PqApi* api = pq_api())
        api->PQfinish(conn);
}

ConnStatusType PQstatus(const PGconn* conn)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQstatus(conn) : CONNECTION_BAD;
}

char* PQerrorMessage(const PGconn* conn)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQerrorMessage(conn) : const_cast<char*>(walvault::g_pq.error.c_str());
}

char* PQdb(const PGconn* conn)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQdb(conn) : nullptr;
}

char* PQhost(const PGconn* conn)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQhost(conn) : nullptr;
}

char* PQport(const PGconn* conn)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQport(conn) : nullptr;
}

char* PQuser(const PGconn* conn)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQuser(conn) : nullptr;
}

PGresult* PQexec(PGconn* conn, const char* query)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQexec(conn, query) : nullptr;
}

PGresult* PQexecParams(PGconn* conn, const char* command, int n_params, const Oid* param_types,
    const char* const* param_values, const int* param_lengths, const int* param_formats, int result_format)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQexecParams(conn, command, n_params, param_types, param_values, param_lengths,
                                param_formats, result_format)
                          : nullptr;
}

ExecStatusType PQresultStatus(const PGresult* res)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQresultStatus(res) : PGRES_FATAL_ERROR;
}

char* PQresultErrorMessage(const PGresult* res)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQresultErrorMessage(res) : const_cast<char*>(walvault::g_pq.error.c_str());
}

int PQntuples(const PGresult* res)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQntuples(res) : 0;
}

int PQnfields(const PGresult* res)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQnfields(res) : 0;
}

char* PQgetvalue(const PGresult* res, int tup_num, int field_num)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQgetvalue(res, tup_num, field_num) : nullptr;
}

void PQclear(PGresult* res)
{
    if (const walvault::PqApi* api = pq_api())
        api->PQclear(res);
}

int PQgetCopyData(PGconn* conn, char** buffer, int async)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQgetCopyData(conn, buffer, async) : -2;
}

int PQputCopyData(PGconn* conn, const char* buffer, int nbytes)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQputCopyData(conn, buffer, nbytes) : -1;
}

int PQputCopyEnd(PGconn* conn, const char* errormsg)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQputCopyEnd(conn, errormsg) : -1;
}

int PQflush(PGconn* conn)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQflush(conn) : -1;
}

int PQsocket(const PGconn* conn)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQsocket(conn) : -1;
}

int PQconsumeInput(PGconn* conn)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQconsumeInput(conn) : 0;
}

PGresult* PQgetResult(PGconn* conn)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQgetResult(conn) : nullptr;
}

void PQfreemem(void* ptr)
{
    if (const walvault::PqApi* api = pq_api())
        api->PQfreemem(ptr);
}

char* PQresultErrorField(const PGresult* res, int fieldcode)
{
    const walvault::PqApi* api = pq_api();
    return api != nullptr ? api->PQresultErrorField(res, fieldcode) : nullptr;
}

// Without libcrypto: what OpenSSL answers when it cannot allocate (a null context or digest, 0 for failure),
// which callers already treat as failure.
EVP_MD_CTX* EVP_MD_CTX_new(void)
{
    const walvault::CryptoApi* api = crypto_api();
    return api != nullptr ? api->EVP_MD_CTX_new() : nullptr;
}

void EVP_MD_CTX_free(EVP_MD_CTX* ctx)
{
    if (const walvault::CryptoApi* api = crypto_api())
        api->EVP_MD_CTX_free(ctx);
}

int EVP_MD_CTX_copy_ex(EVP_MD_CTX* out, const EVP_MD_CTX* in)
{
    const walvault::CryptoApi* api = crypto_api();
    return api != nullptr ? api->EVP_MD_CTX_copy_ex(out, in) : 0;
}

const EVP_MD* EVP_sha256(void)
{
    const walvault::CryptoApi* api = crypto_api();
    return api != nullptr ? api->EVP_sha256() : nullptr;
}

const EVP_MD* EVP_md5(void)
{
    const walvault::CryptoApi* api = crypto_api();
    return api != nullptr ? api->EVP_md5() : nullptr;
}

int EVP_DigestInit_ex(EVP_MD_CTX* ctx, const EVP_MD* type, ENGINE* impl)
{
    const walvault::CryptoApi* api = crypto_api();
    return api != nullptr ? api->EVP_DigestInit_ex(ctx, type, impl) : 0;
}

int EVP_DigestUpdate(EVP_MD_CTX* ctx, const void* d, size_t cnt)
{
    const walvault::CryptoApi* api = crypto_api();
    return api != nullptr ? api->EVP_DigestUpdate(ctx, d, cnt) : 0;
}

int EVP_DigestFinal_ex(EVP_MD_CTX* ctx, unsigned char* md, unsigned int* s)
{
    const walvault::CryptoApi* api = crypto_api();
    return api != nullptr ? api->EVP_DigestFinal_ex(ctx, md, s) : 0;
}

int EVP_Digest(const void* data, size_t count, unsigned char* md, unsigned int* size, const EVP_MD* type, ENGINE* impl)
{
    const walvault::CryptoApi* api = crypto_api();
    return api != nullptr ? api->EVP_Digest(data, count, md, size, type, impl) : 0;
}

int EVP_EncodeBlock(unsigned char* t, const unsigned char* f, int n)
{
    const walvault::CryptoApi* api = crypto_api();
    return api != nullptr ? api->EVP_EncodeBlock(t, f, n) : 0;
}

unsigned char* HMAC(const EVP_MD* evp_md, const void* key, int key_len, const unsigned char* d, size_t n,
    unsigned char* md, unsigned int* md_len)
{
    const walvault::CryptoApi* api = crypto_api();
    return api != nullptr ? api->HMAC(evp_md, key, key_len, d, n, md, md_len) : nullptr;
}

// The age encryption stages' functions (core/codec/age.cpp). Without libcrypto each fails as OpenSSL does when it
// cannot allocate: a null pointer or 0, which age.cpp reports as a failure. ret, params and args are a type and
// parenthesized lists, which cannot be parenthesized again.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define WV_CRYPTO_FORWARD(ret, name, params, args, fail)                                                               \
    ret name params                                                                                                    \
    {                                                                                                                  \
        const walvault::CryptoApi* api = crypto_api();                                                                 \
        return api != nullptr ? api->name args : fail;                                                                 \
    }
#define WV_CRYPTO_FORWARD_VOID(name, params, args)                                                                     \
    void name params                                                                                                   \
    {                                                                                                                  \
        if (const walvault::CryptoApi* api = crypto_api())                                                             \
            api->name args;                                                                                            \
    }

WV_CRYPTO_FORWARD(EVP_KDF*, EVP_KDF_fetch, (OSSL_LIB_CTX * libctx, const char* algorithm, const char* properties),
    (libctx, algorithm, properties), nullptr)
WV_CRYPTO_FORWARD_VOID(EVP_KDF_free, (EVP_KDF * kdf), (kdf))
WV_CRYPTO_FORWARD(EVP_KDF_CTX*, EVP_KDF_CTX_new, (EVP_KDF * kdf), (kdf), nullptr)
WV_CRYPTO_FORWARD_VOID(EVP_KDF_CTX_free, (EVP_KDF_CTX * ctx), (ctx))
WV_CRYPTO_FORWARD(int, EVP_KDF_derive,
    (EVP_KDF_CTX * ctx, unsigned char* key, size_t keylen, const OSSL_PARAM params[]), (ctx, key, keylen, params), 0)
WV_CRYPTO_FORWARD(OSSL_PARAM, OSSL_PARAM_construct_utf8_string, (const char* key, char* buf, size_t bsize),
    (key, buf, bsize), OSSL_PARAM{})
WV_CRYPTO_FORWARD(OSSL_PARAM, OSSL_PARAM_construct_octet_string, (const char* key, void* buf, size_t bsize),
    (key, buf, bsize), OSSL_PARAM{})
WV_CRYPTO_FORWARD(OSSL_PARAM, OSSL_PARAM_construct_uint64, (const char* key, uint64_t* buf), (key, buf), OSSL_PARAM{})
WV_CRYPTO_FORWARD(OSSL_PARAM, OSSL_PARAM_construct_uint32, (const char* key, uint32_t* buf), (key, buf), OSSL_PARAM{})
WV_CRYPTO_FORWARD(OSSL_PARAM, OSSL_PARAM_construct_end, (void), (), OSSL_PARAM{})
WV_CRYPTO_FORWARD(EVP_PKEY*, EVP_PKEY_new_raw_private_key, (int type, ENGINE* e, const unsigned char* priv, size_t len),
    (type, e, priv, len), nullptr)
WV_CRYPTO_FORWARD(EVP_PKEY*, EVP_PKEY_new_raw_public_key, (int type, ENGINE* e, const unsigned char* pub, size_t len),
    (type, e, pub, len), nullptr)
WV_CRYPTO_FORWARD(
    int, EVP_PKEY_get_raw_public_key, (const EVP_PKEY* pkey, unsigned char* pub, size_t* len), (pkey, pub, len), 0)
WV_CRYPTO_FORWARD_VOID(EVP_PKEY_free, (EVP_PKEY * key), (key))
WV_CRYPTO_FORWARD(EVP_PKEY_CTX*, EVP_PKEY_CTX_new, (EVP_PKEY * pkey, ENGINE* e), (pkey, e), nullptr)
WV_CRYPTO_FORWARD_VOID(EVP_PKEY_CTX_free, (EVP_PKEY_CTX * ctx), (ctx))
WV_CRYPTO_FORWARD(int, EVP_PKEY_derive_init, (EVP_PKEY_CTX * ctx), (ctx), 0)
WV_CRYPTO_FORWARD(int, EVP_PKEY_derive_set_peer, (EVP_PKEY_CTX * ctx, EVP_PKEY* peer), (ctx, peer), 0)
WV_CRYPTO_FORWARD(int, EVP_PKEY_derive, (EVP_PKEY_CTX * ctx, unsigned char* key, size_t* keylen), (ctx, key, keylen), 0)
WV_CRYPTO_FORWARD(EVP_CIPHER_CTX*, EVP_CIPHER_CTX_new, (void), (), nullptr)
WV_CRYPTO_FORWARD_VOID(EVP_CIPHER_CTX_free, (EVP_CIPHER_CTX * c), (c))
WV_CRYPTO_FORWARD(
    int, EVP_CIPHER_CTX_ctrl, (EVP_CIPHER_CTX * ctx, int type, int arg, void* ptr), (ctx, type, arg, ptr), 0)
WV_CRYPTO_FORWARD(int, EVP_EncryptInit_ex,
    (EVP_CIPHER_CTX * ctx, const EVP_CIPHER* cipher, ENGINE* impl, const unsigned char* key, const unsigned char* iv),
    (ctx, cipher, impl, key, iv), 0)
WV_CRYPTO_FORWARD(int, EVP_EncryptUpdate,
    (EVP_CIPHER_CTX * ctx, unsigned char* out, int* outl, const unsigned char* in, int inl), (ctx, out, outl, in, inl),
    0)
WV_CRYPTO_FORWARD(int, EVP_EncryptFinal_ex, (EVP_CIPHER_CTX * ctx, unsigned char* out, int* outl), (ctx, out, outl), 0)
WV_CRYPTO_FORWARD(int, EVP_DecryptInit_ex,
    (EVP_CIPHER_CTX * ctx, const EVP_CIPHER* cipher, ENGINE* impl, const unsigned char* key, const unsigned char* iv),
    (ctx, cipher, impl, key, iv), 0)
WV_CRYPTO_FORWARD(int, EVP_DecryptUpdate,
    (EVP_CIPHER_CTX * ctx, unsigned char* out, int* outl, const unsigned char* in, int inl), (ctx, out, outl, in, inl),
    0)
WV_CRYPTO_FORWARD(
    int, EVP_DecryptFinal_ex, (EVP_CIPHER_CTX * ctx, unsigned char* outm, int* outl), (ctx, outm, outl), 0)
WV_CRYPTO_FORWARD(const EVP_CIPHER*, EVP_chacha20_poly1305, (void), (), nullptr)
WV_CRYPTO_FORWARD(EVP_CIPHER*, EVP_CIPHER_fetch, (OSSL_LIB_CTX * libctx, const char* algorithm, const char* properties),
    (libctx, algorithm, properties), nullptr)
WV_CRYPTO_FORWARD(int, RAND_bytes, (unsigned char* buf, int num), (buf, num), 0)
// NOLINTEND(bugprone-macro-parentheses)

void OPENSSL_cleanse(void* ptr, size_t len)
{
    if (const walvault::CryptoApi* api = crypto_api()) {
        api->OPENSSL_cleanse(ptr, len);
        return;
    }
    volatile unsigned char* p = static_cast<volatile unsigned char*>(ptr);
    for (size_t i = 0; i < len; ++i)
        p[i] = 0;
}

}  // extern "C"
