#pragma once

#include <stylize/errors.hpp>

#include <ATen/core/Tensor.h>
#include <gtest/gtest.h>
#include <opencv2/core/mat.hpp>

#include <exception>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <typeinfo>
#include <vector>

namespace stylize::test {

/// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

/// The message of the stylize::Error that fn throws, or "no error".
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

/// Success when fn throws an ErrorType whose what() is exactly expected; otherwise a failure
/// that says what happened instead. The implementation of EXPECT_ERROR_MSG.
template <typename ErrorType, typename Fn>
::testing::AssertionResult throws_error_with_message(Fn&& fn, const char* statement,
                                                     const char* error_type,
                                                     const std::string& expected) {
  try {
    fn();
  } catch (const ErrorType& e) {
    if (expected == e.what()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << statement << " throws " << error_type << " with another message.\n"
           << "Expected: " << expected << "\n  Actual: " << e.what();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure()
           << "Expected: " << statement << " throws " << error_type << ": " << expected
           << "\n  Actual: it throws " << typeid(e).name() << ": " << e.what();
  } catch (...) {
    return ::testing::AssertionFailure()
           << "Expected: " << statement << " throws " << error_type << ": " << expected
           << "\n  Actual: it throws something else";
  }
  return ::testing::AssertionFailure() << "Expected: " << statement << " throws " << error_type
                                       << ": " << expected << "\n  Actual: it throws nothing";
}

/// The guards below save a piece of process-wide state on construction and put it back on
/// destruction: as members of a test's fixture they leave the next test the state it found.

/// torch's intra-op thread count (at::set_num_threads), which configure_threads and every
/// in-process CLI run set.
class ScopedThreadCount {
 public:
  ScopedThreadCount();
  ~ScopedThreadCount();
  ScopedThreadCount(const ScopedThreadCount&) = delete;
  ScopedThreadCount& operator=(const ScopedThreadCount&) = delete;

 private:
  int saved_;
};

/// One environment variable: set or unset through this object while it lives, and restored
/// (to its value, or to absent) on destruction.
class ScopedEnvVar {
 public:
  explicit ScopedEnvVar(std::string name);
  ~ScopedEnvVar();
  ScopedEnvVar(const ScopedEnvVar&) = delete;
  ScopedEnvVar& operator=(const ScopedEnvVar&) = delete;
  void set(const std::string& value) const;
  void unset() const;

 private:
  std::string name_;
  std::optional<std::string> saved_;
};

/// The working directory changed to dir while this object lives.
class ScopedWorkingDirectory {
 public:
  explicit ScopedWorkingDirectory(const std::filesystem::path& dir);
  ~ScopedWorkingDirectory();
  ScopedWorkingDirectory(const ScopedWorkingDirectory&) = delete;
  ScopedWorkingDirectory& operator=(const ScopedWorkingDirectory&) = delete;

 private:
  std::filesystem::path saved_;
};

/// The full 16-conv VGG-19 with random weights that the build exports for tests.
std::string random_model_path();
/// The real blocks 1-3 model exported from ../shared/models, when present.
std::optional<std::string> real_model_path();
/// A sample image from ../shared/images, when present.
std::optional<std::string> shared_image(const std::string& name);

/// A minimal well-formed ICC profile of size_bytes (>= 132): an RGB display profile header with
/// no tags, padded with zeros; enough for libpng's checks, so decoders do not warn about it.
std::vector<std::uint8_t> test_icc_profile(std::size_t size_bytes);

/// Writes a synthetic 8-bit colour image (smooth gradients plus stripes of the given period).
void write_test_image(const std::string& path, int width_px, int height_px, int stripe_period_px);

/// A smooth random 8-bit texture (blurred noise stretched to 0-255): structure at several scales,
/// as optical flow needs. channels 1 (grey) or 3.
cv::Mat smooth_texture(int width_px, int height_px, int channels, int seed);

/// Result of running the CLI in-process.
struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CliRun run_cli(const std::vector<std::string>& args);

/// Runs the real binary (STYLIZE_BINARY) with args through the shell; returns its exit code and
/// merged output.
CliRun run_binary(const std::vector<std::string>& args);

/// The real binary running in the background, its stdout and stderr merged into a pipe.
class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& args);
  ~ChildProcess();  ///< kills the child if it still runs
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  /// Reads output until it contains needle (true) or timeout_s passes / the pipe closes (false).
  bool wait_for_output(const std::string& needle, double timeout_s);
  /// Reads what the child writes during timeout_s (so it never blocks on a full pipe); false
  /// once the pipe has closed (the child has exited).
  bool drain_output(double timeout_s);
  void send(int signal_number) const;
  /// Waits for the exit; returns the exit code, or 128 + signal when killed. -1 on timeout.
  int wait_exit(double timeout_s);
  [[nodiscard]] const std::string& output() const { return output_; }

 private:
  int pid_ = -1;
  int fd_ = -1;
  std::string output_;
};

/// Lines of err that are not third-party library chatter.
std::vector<std::string> lines_of(const std::string& text);

}  // namespace stylize::test

/// Expects statement to throw error_type (or a type derived from it) whose what() is exactly
/// expected_message (a std::string or C string), like fmt's EXPECT_THROW_MSG. More context can be
/// streamed in: EXPECT_ERROR_MSG(parse(spec), ConfigError, "...") << "for " << spec;
#define EXPECT_ERROR_MSG(statement, error_type, expected_message)                 \
  switch (0)                                                                      \
  case 0:                                                                         \
  default:                                                                        \
    if (const ::testing::AssertionResult stylize_error_msg_result =               \
            ::stylize::test::throws_error_with_message<error_type>(               \
                [&] { statement; }, #statement, #error_type, (expected_message))) \
      ;                                                                           \
    else                                                                          \
      ADD_FAILURE() << stylize_error_msg_result.message()
