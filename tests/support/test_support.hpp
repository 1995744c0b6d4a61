#pragma once

#include <stylize/errors.hpp>

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <optional>
#include <string>
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

/// The full 16-conv VGG-19 with random weights that the build exports for tests.
std::string random_model_path();
/// The real blocks 1-3 model exported from ../shared/models, when present.
std::optional<std::string> real_model_path();
/// A sample image from ../shared/images, when present.
std::optional<std::string> shared_image(const std::string& name);

/// Writes a synthetic 8-bit colour image (smooth gradients plus stripes of the given period).
void write_test_image(const std::string& path, int width_px, int height_px, int stripe_period_px);

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
