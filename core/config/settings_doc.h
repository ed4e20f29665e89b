// The settings reference of docs/configuration.md, made from the declarations (all_settings()), so the docs
// cannot drift from the code. test/unit/test_config_settings_doc.cpp checks that the file holds it; `make docs`
// writes it there.
#pragma once

#include <string>

namespace walvault {

constexpr const char* k_settings_doc_begin =
    "<!-- settings reference: made by `make docs` from core/config/settings.cpp "
    "and each backend's settings; do not edit -->";
constexpr const char* k_settings_doc_end = "<!-- end of settings reference -->";

// Markdown tables, one for the generic settings and one per storage backend, between the two markers.
std::string settings_reference_markdown();

}  // namespace walvault
