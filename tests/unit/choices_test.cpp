// The fixed choices are typed once: one table of names parses, prints and says what is accepted.
#include "core/choices.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace greenbatch {
namespace {

TEST(Choices, EveryNameRoundTripsAndOthersAreRefusedWithTheList) {
  EXPECT_EQ(parse_choice<ClockKind>("virtual", "--clock"), ClockKind::kVirtual);
  EXPECT_EQ(name_of(Preprocess::kPerRequest), "per-request");
  EXPECT_EQ(parse_choice<HostMemory>(name_of(HostMemory::kSystem), "--host-memory"), HostMemory::kSystem);
  EXPECT_EQ(parse_choice<SweepOrder>("random", "order"), SweepOrder::kRandom);
  EXPECT_EQ(accepted_names<Preprocess>(), "cached, per-request");
  try {
    parse_choice<HostMemory>("pooled", "--host-memory");
    FAIL() << "pooled was accepted";
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(), "--host-memory 'pooled': accepted: cached, system");
  }
  EXPECT_THROW(parse_choice<ClockKind>("Real", "--clock"), UserError);  // names are exact
}

}  // namespace
}  // namespace greenbatch
