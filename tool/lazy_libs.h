// The walvault tool opens libcurl, libpq and libcrypto on first use instead of at exec: tool/lazy_libs.cpp
// defines the curl_*, PQ*, EVP_* and HMAC functions the code calls, each forwarding to the real one found
// with dlopen/dlsym.
#pragma once

#include <string>

namespace walvault {

// Why a library the tool needed could not be opened, e.g. `could not load "libcurl.so.4": ...` (both
// reasons, separated by "; ", when neither opened); empty when every library tried so far opened.
std::string lazy_lib_error();

}  // namespace walvault
