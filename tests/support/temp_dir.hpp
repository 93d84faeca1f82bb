#pragma once
// Test helpers: a fresh temporary folder per test, and reading a whole file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace greenbatch::testing {

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("greenbatch_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" + info->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // Writes `body` to dir/name (creating dir) and returns the path.
  std::string write(const std::string& name, const std::string& body) {
    std::filesystem::create_directories(dir_);
    const auto p = (dir_ / name).string();
    std::ofstream(p) << body;
    return p;
  }
  std::filesystem::path dir_;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace greenbatch::testing
