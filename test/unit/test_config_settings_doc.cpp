// docs/configuration.md holds the settings reference made from the declarations, as it is now. With
// WALVAULT_UPDATE_DOCS=1 (`make docs`) the test writes it there instead.
#include "core/config/settings_doc.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace walvault {
namespace {

std::string doc_path()
{
    const char* source_dir = std::getenv("WALVAULT_SOURCE_DIR");
    const std::string dir = source_dir != nullptr && *source_dir != '\0' ? std::string(source_dir) + "/" : "";
    return dir + "docs/configuration.md";
}

TEST(SettingsDoc, ConfigurationMdHoldsTheReferenceMadeFromTheDeclarations)
{
    const std::string path = doc_path();
    std::ifstream in(path);
    ASSERT_TRUE(in) << "could not open \"" << path
                    << "\": run the tests from the source tree or set WALVAULT_SOURCE_DIR";
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::string text = buffer.str();
    const size_t begin = text.find(k_settings_doc_begin);
    const size_t end = text.find(k_settings_doc_end);
    ASSERT_NE(begin, std::string::npos) << path << " lacks the line: " << k_settings_doc_begin;
    ASSERT_NE(end, std::string::npos) << path << " lacks the line: " << k_settings_doc_end;
    const std::string expected = settings_reference_markdown();
    const size_t end_of_block = end + std::string(k_settings_doc_end).size();
    const std::string actual = text.substr(begin, end_of_block - begin);
    if (actual != expected && std::getenv("WALVAULT_UPDATE_DOCS") != nullptr) {
        text.replace(begin, end_of_block - begin, expected);
        std::ofstream(path, std::ios::trunc) << text;
        return;
    }
    EXPECT_EQ(actual, expected) << path << " is out of date: run `make docs`";
}

}  // namespace
}  // namespace walvault
