// What a record says of the machine's numeric path: the BLAS found in a process's maps.
#include "core/sysinfo.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace greenbatch {
namespace {

TEST(Sysinfo, MappedFilesAreTheMapsPathsEachOnce) {
  std::istringstream maps(
      "55d0c000-55d0d000 r--p 00000000 08:01 123 /usr/bin/greenbatch\n"
      "7f00-7f01 r-xp 00000000 08:01 456      /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3\n"
      "7f01-7f02 r--p 00010000 08:01 456      /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3\n"
      "7f02-7f03 rw-p 00000000 00:00 0 \n"
      "7f03-7f04 rw-p 00000000 00:00 0          [heap]\n"
      "7f04-7f05 r--p 00000000 08:01 789      /opt/app/a file with spaces.so (deleted)\n");
  const auto files = mapped_files(maps);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0], "/usr/bin/greenbatch");
  EXPECT_EQ(files[1], "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3");
  EXPECT_EQ(files[2], "/opt/app/a file with spaces.so");
}

TEST(Sysinfo, TheBlasIsTheFirstFileNamedLikeOne) {
  EXPECT_FALSE(blas_file({"/usr/bin/greenbatch", "/lib/libc.so.6", "/lib/liblapack.so.3"}));
  EXPECT_EQ(blas_file({"/lib/libc.so.6", "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0", "/lib/libopenblas.so.0"}),
            "/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0");
  EXPECT_EQ(blas_file({"/opt/intel/lib/libmkl_rt.so.2"}), "/opt/intel/lib/libmkl_rt.so.2");
  EXPECT_FALSE(blas_file({"/opt/notlibblas.so"}));  // the name must start with the library's
}

TEST(Sysinfo, ABlasIsNamedByItsDebianDirectory) {
  EXPECT_EQ(blas_kind("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0"), "reference BLAS");
  EXPECT_EQ(blas_kind("/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"), "OpenBLAS (pthread)");
  EXPECT_EQ(blas_kind("/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3"), "OpenBLAS (OpenMP)");
  EXPECT_EQ(blas_kind("/usr/lib/x86_64-linux-gnu/openblas-serial/libblas.so.3"), "OpenBLAS (serial)");
  EXPECT_EQ(blas_kind("/opt/OpenBLAS/lib/libopenblas.so.0"), "OpenBLAS");
  EXPECT_EQ(blas_kind("/usr/lib/x86_64-linux-gnu/blis-openmp/libblas.so.3"), "BLIS");
  EXPECT_EQ(blas_kind("/usr/lib/x86_64-linux-gnu/atlas/libblas.so.3"), "ATLAS");
  EXPECT_EQ(blas_kind("/opt/intel/lib/libmkl_rt.so.2"), "MKL");
  EXPECT_EQ(blas_kind("/opt/custom/libblas.so.3"), "unknown");
}

}  // namespace
}  // namespace greenbatch
