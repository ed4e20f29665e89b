// The S3 backend: AWS S3 and compatible stores (MinIO, Ceph RGW, GCS's XML API). Writes are verified by
// the store (Content-MD5 and x-amz-content-sha256) and by us (ETag, then a HEAD for the length), and
// are create-only where the store supports If-None-Match.
#pragma once

#include "core/storage/storage.h"

#include <memory>
#include <string>

namespace walvault {

constexpr uint64_t k_s3_default_part_size = 32ULL * 1024 * 1024;  // above any compressed 16 MiB segment
constexpr uint64_t k_s3_min_part_size = 5ULL * 1024 * 1024;       // S3 limit (all parts but the last)
constexpr uint64_t k_s3_max_part_size = 5ULL * 1024 * 1024 * 1024;  // S3 limit
constexpr int k_s3_max_parts = 10000;                               // S3 limit
constexpr const char* k_s3_default_region = "us-east-1";

// Opens s3://BUCKET[/PREFIX] with the given options (validated here, naming the setting at fault).
Status open_s3_storage(const std::string& repo, const StorageOptions& options, std::unique_ptr<Storage>& out);

}  // namespace walvault
