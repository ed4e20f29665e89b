// The one storage interface of the repository. Every backend (posix/, s3/) implements these contracts and
// passes test/unit/test_storage_contract.cpp; callers rely on nothing else. Expected failures (not found,
// key taken) are Status values; Code::not_found means the store was read and does not hold the object,
// never that it could not be read.
#pragma once

#include "core/common/byte_sink.h"
#include "core/common/setting_def.h"
#include "core/common/status.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace walvault {

struct ObjectInfo {
    std::string key;
    uint64_t size = 0;  // stored bytes
    // When the object was written, in seconds since the epoch, as the store keeps it (posix: the file's
    // mtime; S3: LastModified). list() fills it; 0 where a store does not say.
    int64_t modified = 0;
};

// Which part of a listing to return: the keys after start_after (all keys if empty), and of those the
// first max_keys (all if 0). Lets a caller page through a large prefix, or ask "what comes next after this
// key" without listing what lies before it.
struct ListRange {
    std::string start_after;
    size_t max_keys = 0;
};

// One create-only write. Nothing is visible under the key until commit() returns ok.
//
// Create-only holds where the store can refuse a taken key: posix always (link() never replaces), S3 where
// the store honours "If-None-Match: *" on PutObject and CompleteMultipartUpload (AWS S3 does). A store that
// ignores that header (s3rver, some older S3-compatible stores) cannot be stopped by the client: there a
// commit of a taken key succeeds and replaces the object, and of two writers of one key the last commit
// wins. Callers that must never overwrite (archive_wal_file) therefore head() the key first, which leaves
// only the race between two live writers of one key to the store.
class Writer {
public:
    virtual ~Writer() = default;
    virtual Status write(const uint8_t* data, size_t len) = 0;
    // Makes the object durable and visible, after checking that the store holds exactly the bytes written.
    // Code::already_exists if the key was taken (the object is then left untouched; see above for stores
    // that ignore If-None-Match); Code::busy if another writer is writing the same key right now (a store
    // that can tell only then; posix tells at create()).
    virtual Status commit() = 0;
    // Drops what was written. Safe to call after a failed commit or not at all (the destructor aborts).
    virtual void abort() = 0;
};

class Storage {
public:
    virtual ~Storage() = default;

    // Where the repository is, for messages: "/var/lib/walvault/main".
    virtual std::string location() const = 0;
    // Where one object is, for messages: "/var/lib/walvault/main/wal/.../X.zst".
    virtual std::string location(const std::string& key) const = 0;
    // Names the store fully: two Storage objects with equal identities read and write the same objects, and
    // two that differ in anything that can send a request elsewhere (for S3: endpoint, region, URI style,
    // bucket, prefix; for a directory: its real path) have different identities. Use it, never location(),
    // wherever "is this the same repository?" is asked.
    virtual std::string identity() const = 0;

    // Size of an object; Code::not_found if absent.
    virtual Status head(const std::string& key, ObjectInfo& out) = 0;
    // Begins a create-only, durable write of key (see Writer). Code::busy if another writer of key is
    // still writing, where the backend can tell this early (posix: the temporary file is locked).
    virtual Status create(const std::string& key, std::unique_ptr<Writer>& out) = 0;
    // Begins a write whose commit() replaces the object under key, or creates it, atomically: a reader finds
    // the old object or the new one, never neither, and the old one stays until the store holds the new bytes,
    // verified (posix: read back, then rename(); S3: a PUT or multipart upload with Content-MD5, which the
    // store completes only with exactly those bytes). Only for objects whose old and new contents are both
    // valid (walvault rekey: the same object for other recipients; identity.json). A store that cannot:
    // Code::invalid (the default).
    virtual Status replace(const std::string& key, std::unique_ptr<Writer>& out);
    // Streams the whole object to sink; Code::not_found if absent.
    virtual Status get(const std::string& key, const ByteSink& sink) = 0;
    // Reads len bytes at offset (less only at the end of the object; none, and ok, at or past it);
    // Code::not_found if absent (for len 0 a backend need not look).
    virtual Status get_range(const std::string& key, uint64_t offset, size_t len, std::vector<uint8_t>& out) = 0;
    // Objects whose key starts with prefix and sorts after range.start_after, sorted by key (byte order),
    // at most range.max_keys of them: the first ones in the store's listing order. That is byte order for
    // posix and AWS S3 (ListObjectsV2 lists in UTF-8 binary order); a store that lists in another order
    // (s3rver walks its directories: "a/b" before "a.x") may keep other keys than the first in byte
    // order when a byte below '/' follows a common part of two keys. Writes in progress are not listed.
    virtual Status list(const std::string& prefix, const ListRange& range, std::vector<ObjectInfo>& out) = 0;
    // Every object whose key starts with prefix, sorted by key.
    Status list(const std::string& prefix, std::vector<ObjectInfo>& out) { return list(prefix, ListRange{}, out); }
    // Deletes an object; ok if it was already absent.
    virtual Status remove(const std::string& key) = 0;
    // Deletes many objects (absent ones are ok); object stores batch them. The default calls remove().
    virtual Status remove_many(const std::vector<std::string>& keys);
    // Makes an existing object durable again (after a crash between write and sync), and clears what a
    // crashed writer of this key left behind: posix fsyncs the file and its directory and removes an
    // unlocked temp file; stores that acknowledge only durable writes do nothing.
    virtual Status sync(const std::string& key) = 0;
};

// One small object (a JSON document) written whole: create-only (Code::already_exists if the key is taken,
// Code::busy if another writer is writing it), or with replace_small_object atomically replacing the object
// (Storage::replace). Ok once it is durable.
Status write_small_object(Storage& storage, const std::string& key, const std::string& text);
Status replace_small_object(Storage& storage, const std::string& key, const std::string& text);

// What a backend needs besides the location: the values of its own settings (the SettingDef rows its
// StorageScheme lists, such as walvault.s3_*), which the backend reads and validates itself (open_storage()
// names the setting at fault), and what every backend may use.
struct StorageOptions {
    std::map<std::string, std::string> settings;  // by setting name ("s3_endpoint"); absent or "": unset
    std::string temp_directory;                   // where writers may spill; empty: TMPDIR, else /tmp
    // Environment lookups (tests replace it); empty: ::getenv.
    std::function<std::optional<std::string>(const std::string&)> getenv;
};

// One row per kind of repository location, recognised by how a walvault.repo value starts. open_storage()
// and the setting check (check_repo_setting, core/config/settings.h) read this table and nothing else, and
// the settings list (all_settings(), core/config/settings.h) takes each row's settings from it, so a new
// backend is one row here (with its settings) plus one instantiation of test/unit/test_storage_contract.cpp.
struct StorageScheme {
    const char* name;          // "posix", "s3"
    const char* prefix;        // a value that starts with it belongs to this backend: "/", "s3://"
    const char* form;          // what a value looks like, for messages: "an absolute directory path"
    const char* example_noun;  // for hints: "a path" (such as ...)
    const char* example;       // a valid value: "/var/lib/walvault/main"
    // Checks a value of this scheme without contacting the store; with check_access also what this process
    // can check locally (posix: the directory, or the nearest existing parent it would be created under, is
    // writable). On failure, fills message and hint (PostgreSQL style).
    bool (*check)(std::string_view repo, bool check_access, std::string& message, std::string& hint);
    // Opens a value of this scheme (its options are validated here, naming the setting at fault).
    Status (*open)(const std::string& repo, const StorageOptions& options, std::unique_ptr<Storage>& out);
    // The settings this backend reads from StorageOptions::settings (their SettingDef::backend is name).
    std::span<const SettingDef> (*settings)();
};

// Every backend, in the order messages name them.
std::span<const StorageScheme> storage_schemes();
// The row whose prefix starts repo; nullptr if none does.
const StorageScheme* find_storage_scheme(std::string_view repo);
// Every row's form, for messages: "an absolute directory path or s3://BUCKET/PREFIX".
std::string storage_scheme_forms();
// Every row's example, for hints: "a path such as \"/var/lib/walvault/main\" or a location such as ...".
std::string storage_scheme_examples();

// Opens the repository a walvault.repo value names, with the backend its scheme chooses (storage_schemes():
// an absolute directory path for posix, s3://BUCKET[/PREFIX] for S3).
Status open_storage(const std::string& repo, const StorageOptions& options, std::unique_ptr<Storage>& out);
// The same with default options.
Status open_storage(const std::string& repo, std::unique_ptr<Storage>& out);

}  // namespace walvault
