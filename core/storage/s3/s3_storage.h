// The S3 backend: AWS S3 and compatible stores (MinIO, Ceph RGW, GCS's XML API). Writes are verified by
// the store (Content-MD5; over plain HTTP also x-amz-content-sha256) and by us (ETag, then a HEAD for the length), and
// are create-only where the store supports If-None-Match.
#pragma once

#include "core/storage/storage.h"

#include <memory>
#include <string>

namespace walvault {

constexpr uint64_t k_s3_default_part_size = 32ULL * 1024 * 1024;    // above any compressed 16 MiB segment
constexpr uint64_t k_s3_min_part_size = 5ULL * 1024 * 1024;         // S3 limit (all parts but the last)
constexpr uint64_t k_s3_max_part_size = 5ULL * 1024 * 1024 * 1024;  // S3 limit
constexpr int k_s3_max_parts = 10000;                               // S3 limit
constexpr const char* k_s3_default_region = "us-east-1";
constexpr size_t k_s3_max_list_keys = 1000;  // S3 limit: keys per ListObjectsV2 page
// Bytes of an object a writer keeps in memory; the rest goes to an unlinked file in the temporary
// directory (StorageOptions::temp_directory), so memory per upload does not grow with the part size.
constexpr size_t k_s3_writer_memory = 256UL * 1024;
// Spill files kept open for reuse by later writers of one storage, and the most each may hold allocated.
constexpr size_t k_s3_kept_spill_files = 16;
constexpr uint64_t k_s3_kept_spill_bytes = 64ULL * 1024 * 1024;
constexpr const char* k_default_temp_directory = "/tmp";  // when neither temp_directory nor TMPDIR is set

// Opens s3://BUCKET[/PREFIX] with the given options (validated here, naming the setting at fault).
Status open_s3_storage(const std::string& repo, const StorageOptions& options, std::unique_ptr<Storage>& out);

// For tests: the bytes of memory an S3 writer holds for its object's content (never above
// k_s3_writer_memory); 0 for other writers.
size_t s3_writer_memory(const Writer& writer);

}  // namespace walvault
