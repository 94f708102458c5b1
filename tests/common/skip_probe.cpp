// A program with one skipping test, run by CTest (tests/CMakeLists.txt) to check the CI rule in
// test_main.cpp: with CI=true it must fail, unless the allow-list names the test.
#include <gtest/gtest.h>

TEST(SkipProbe, Skips) { GTEST_SKIP() << "the probe always skips"; }
