// Unit tests for core/common/setting_def: quantities with PostgreSQL's unit suffixes, read as postgresql.conf
// reads them and written back with the largest whole unit, and the integer check that uses them.
#include "core/common/setting_def.h"

#include <gtest/gtest.h>

#include <string>

namespace walvault {
namespace {

int64_t quantity(std::string_view text, SettingUnit unit)
{
    int64_t value = -42;
    std::string error;
    EXPECT_TRUE(parse_setting_quantity(text, unit, value, error)) << text << ": " << error;
    return value;
}

std::string refused(std::string_view text, SettingUnit unit)
{
    int64_t value = -42;
    std::string error;
    EXPECT_FALSE(parse_setting_quantity(text, unit, value, error)) << text;
    EXPECT_EQ(value, -42) << text;
    return error;
}

TEST(SettingQuantity, TimeUnitsConvertToTheSettingsUnit)
{
    EXPECT_EQ(quantity("14d", SettingUnit::s), 14 * 86400);
    EXPECT_EQ(quantity("36h", SettingUnit::s), 36 * 3600);
    EXPECT_EQ(quantity("90min", SettingUnit::s), 5400);
    EXPECT_EQ(quantity("5 s", SettingUnit::s), 5);
    EXPECT_EQ(quantity("300", SettingUnit::s), 300);  // a bare number is in the setting's unit
    EXPECT_EQ(quantity("5s", SettingUnit::ms), 5000);
    EXPECT_EQ(quantity("1500ms", SettingUnit::s), 2);  // rounded to the nearest, as PostgreSQL does
    EXPECT_EQ(quantity("1499ms", SettingUnit::s), 1);
    EXPECT_EQ(quantity("0", SettingUnit::s), 0);
}

TEST(SettingQuantity, MemoryUnitsConvertToTheSettingsUnit)
{
    EXPECT_EQ(quantity("64MB", SettingUnit::mb), 64);
    EXPECT_EQ(quantity("1GB", SettingUnit::mb), 1024);
    EXPECT_EQ(quantity("2048kB", SettingUnit::mb), 2);
    EXPECT_EQ(quantity("8", SettingUnit::mb), 8);
}

TEST(SettingQuantity, WrongUnitsAndTextAreRefused)
{
    EXPECT_EQ(refused("14D", SettingUnit::s),
        "unit \"D\" is not valid; valid units are \"us\", \"ms\", \"s\", "
        "\"min\", \"h\", \"d\"");
    EXPECT_EQ(refused("64mb", SettingUnit::mb),
        "unit \"mb\" is not valid; valid units are \"B\", \"kB\", \"MB\", \"GB\", \"TB\"");
    EXPECT_EQ(refused("5MB", SettingUnit::s).substr(0, 16), "unit \"MB\" is not");  // a size is no time
    EXPECT_EQ(refused("5s", SettingUnit::none), "\"5s\" is not a whole number");
    EXPECT_EQ(refused("", SettingUnit::s), "\"\" is not a whole number");
    EXPECT_EQ(refused("d", SettingUnit::s), "\"d\" is not a whole number");
    EXPECT_EQ(refused("1.5h", SettingUnit::s),
        "unit \".5h\" is not valid; valid units are \"us\", \"ms\", \"s\", "
        "\"min\", \"h\", \"d\"");
    EXPECT_EQ(refused("99999999999999d", SettingUnit::ms), "\"99999999999999d\" is out of range");
}

TEST(SettingQuantity, FormatUsesTheLargestWholeUnit)
{
    EXPECT_EQ(format_setting_quantity(14 * 86400, SettingUnit::s), "14d");
    EXPECT_EQ(format_setting_quantity(5400, SettingUnit::s), "90min");
    EXPECT_EQ(format_setting_quantity(7200, SettingUnit::s), "2h");
    EXPECT_EQ(format_setting_quantity(61, SettingUnit::s), "61s");
    EXPECT_EQ(format_setting_quantity(0, SettingUnit::s), "0s");
    EXPECT_EQ(format_setting_quantity(1500, SettingUnit::ms), "1500ms");
    EXPECT_EQ(format_setting_quantity(5000, SettingUnit::ms), "5s");
    EXPECT_EQ(format_setting_quantity(1024, SettingUnit::mb), "1GB");
    EXPECT_EQ(format_setting_quantity(64, SettingUnit::mb), "64MB");
    EXPECT_EQ(format_setting_quantity(16, SettingUnit::none), "16");
}

TEST(SettingQuantity, IntegerCheckTakesUnitsAndNamesThemInItsHint)
{
    const SettingDef def{.name = "retain_window",
        .type = SettingType::integer,
        .default_value = "0",
        .min = 0,
        .max = 100LL * 365 * 86400,
        .unit = SettingUnit::s};
    std::string message, hint;
    EXPECT_TRUE(check_setting_value(def, "14d", false, message, hint));
    EXPECT_FALSE(check_setting_value(def, "14 days", false, message, hint));
    EXPECT_EQ(message, "retain_window must be a number of seconds from 0 to 3153600000, not \"14 days\"");
    EXPECT_EQ(hint,
        "The default is 0. A unit may follow the number, as in postgresql.conf: \"90s\", \"5min\", "
        "\"2h\", \"14d\".");
    EXPECT_FALSE(check_setting_value(def, "-1s", false, message, hint));
}

}  // namespace
}  // namespace walvault
