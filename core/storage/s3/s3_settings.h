// The S3 backend's settings (walvault.s3_*), declared once (core/common/setting_def.h), and their values
// read from StorageOptions. Only this backend knows them; the generic code passes them through by name.
#pragma once

#include "core/common/setting_def.h"
#include "core/storage/storage.h"

#include <cstdint>
#include <span>
#include <string>

namespace walvault {

// Every walvault.s3_* setting, in the order docs/configuration.md lists them.
std::span<const SettingDef> s3_settings();

// The values an S3 storage is opened with; empty strings are unset (the environment or a default applies).
struct S3Options {
    std::string endpoint;          // "https://minio.internal:9000"; empty: AWS_ENDPOINT_URL, else AWS for the region
    std::string region;            // empty: AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1
    std::string uri_style;         // "host" | "path"; empty: path with an endpoint, host for AWS
    std::string ca_file;           // PEM bundle for a private CA
    std::string sse;               // "" | "AES256" | "aws:kms"
    std::string sse_kms_key_id;    // with aws:kms
    std::string storage_class;     // "STANDARD", "STANDARD_IA", ...; empty: the bucket's default
    std::string credentials_file;  // AWS shared-credentials format; first in the credentials chain
    std::string profile;           // profile in that file (and in ~/.aws/*); empty: AWS_PROFILE or "default"
    uint64_t part_size = 0;        // multipart part size in bytes; 0: the default
};

// Reads the walvault.s3_* values of options.settings; Code::invalid naming the setting if one does not parse.
Status s3_options(const StorageOptions& options, S3Options& out);

}  // namespace walvault
