// Typed settings shared by the module (GUC strings) and the tool (flags, environment, config file).
// One name per setting everywhere: walvault.repo / --repo / WALVAULT_REPO / repo.
#pragma once

#include "core/codec/codec.h"
#include "core/common/status.h"

#include <string>
#include <string_view>

namespace walvault {

constexpr const char* k_default_compression = "zstd:3";
constexpr int k_default_parallel = 2;  // files in flight; one per core on the smallest machines we support
// Each file in flight holds a zstd context and its buffers (~3-4 MiB): 16 keeps the archiver within the
// 64 MiB it may use (bench/memory.sh), and is more uploads at once than one archiver needs.
constexpr int k_max_parallel = 16;

struct Settings {
    std::string repo;  // a location of one of the storage_schemes(), or empty
    Compression compression;
    int parallel = k_default_parallel;
};

// Checks a walvault.repo value: empty (not configured) or a location of one of the storage_schemes()
// (core/storage/storage.h), with that scheme's check (check_access: what this process can check locally,
// such as a directory being writable). On failure, message and hint are filled (PostgreSQL style).
bool check_repo_setting(std::string_view value, bool check_access, std::string& message, std::string& hint);

// Checks a walvault.compression value.
bool check_compression_setting(std::string_view value, std::string& message, std::string& hint);

// Checks the value of setting NAME (without "walvault."): repo, compression, s3_endpoint, s3_uri_style,
// s3_sse, s3_ca_file, s3_credentials_file; other names accept any value. With check_access, paths must be
// usable by this process.
bool check_setting(
    std::string_view name, std::string_view value, bool check_access, std::string& message, std::string& hint);

}  // namespace walvault
