#include "test_support.hpp"

#include "cli.hpp"

#include <ATen/Parallel.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace stylize::test {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::random_device entropy;
  path_ = fs::temp_directory_path() / ("stylize-test-" + std::to_string(entropy()));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path_, ec);
}

ScopedThreadCount::ScopedThreadCount() : saved_(at::get_num_threads()) {}

ScopedThreadCount::~ScopedThreadCount() { at::set_num_threads(saved_); }

ScopedEnvVar::ScopedEnvVar(std::string name) : name_(std::move(name)) {
  if (const char* value = std::getenv(name_.c_str()); value != nullptr) saved_ = value;
}

ScopedEnvVar::~ScopedEnvVar() {
  if (saved_) {
    ::setenv(name_.c_str(), saved_->c_str(), 1);
  } else {
    ::unsetenv(name_.c_str());
  }
}

void ScopedEnvVar::set(const std::string& value) const {
  if (::setenv(name_.c_str(), value.c_str(), 1) != 0) {
    throw std::runtime_error("cannot set " + name_);
  }
}

void ScopedEnvVar::unset() const { ::unsetenv(name_.c_str()); }

ScopedWorkingDirectory::ScopedWorkingDirectory(const fs::path& dir) : saved_(fs::current_path()) {
  fs::current_path(dir);
}

ScopedWorkingDirectory::~ScopedWorkingDirectory() {
  std::error_code ec;
  fs::current_path(saved_, ec);
}

std::string random_model_path() {
  return (fs::path(STYLIZE_TEST_MODEL_DIR) / "vgg19-random.pt").string();
}

std::optional<std::string> real_model_path() {
  const auto path = fs::path(STYLIZE_TEST_MODEL_DIR) / "vgg19-caffe-blocks1-3.pt";
  if (fs::exists(path)) return path.string();
  return std::nullopt;
}

std::optional<std::string> shared_image(const std::string& name) {
  const auto path = fs::path(STYLIZE_SHARED_DIR) / "images" / name;
  if (fs::exists(path)) return path.string();
  return std::nullopt;
}

std::vector<std::uint8_t> test_icc_profile(std::size_t size_bytes) {
  std::vector<std::uint8_t> profile(size_bytes, 0);
  auto put = [&](std::size_t at, std::uint32_t value) {
    for (int k = 0; k < 4; ++k) profile[at + static_cast<std::size_t>(k)] = static_cast<std::uint8_t>(value >> (24 - 8 * k));
  };
  auto tag = [&](std::size_t at, const char* four) { std::memcpy(&profile[at], four, 4); };
  put(0, static_cast<std::uint32_t>(size_bytes));
  put(8, 0x02100000U);  // version 2.1
  tag(12, "mntr");
  tag(16, "RGB ");
  tag(20, "XYZ ");
  tag(36, "acsp");
  put(68, 0x0000F6D6U);  // the D50 illuminant
  put(72, 0x00010000U);
  put(76, 0x0000D32DU);
  return profile;  // tag count (at 128) 0
}

void write_test_image(const std::string& path, int width_px, int height_px,
                      int stripe_period_px) {
  cv::Mat image(height_px, width_px, CV_8UC3);
  for (int y = 0; y < height_px; ++y) {
    for (int x = 0; x < width_px; ++x) {
      const bool stripe = ((x + y) / std::max(1, stripe_period_px)) % 2 == 0;
      image.at<cv::Vec3b>(y, x) =
          cv::Vec3b(static_cast<uchar>(255 * x / std::max(1, width_px - 1)),
                    static_cast<uchar>(stripe ? 200 : 40),
                    static_cast<uchar>(255 * y / std::max(1, height_px - 1)));
    }
  }
  if (!cv::imwrite(path, image)) throw std::runtime_error("cannot write test image " + path);
}

cv::Mat smooth_texture(int width_px, int height_px, int channels, int seed) {
  cv::Mat noise(height_px, width_px, CV_32FC(channels));
  cv::RNG rng(static_cast<std::uint64_t>(seed));
  rng.fill(noise, cv::RNG::UNIFORM, 0.0, 255.0);
  cv::GaussianBlur(noise, noise, cv::Size(0, 0), 2.0);
  cv::normalize(noise, noise, 0, 255, cv::NORM_MINMAX);
  cv::Mat out;
  noise.convertTo(out, CV_8UC(channels));
  return out;
}

CliRun run_cli(const std::vector<std::string>& args) {
  std::ostringstream out;
  std::ostringstream err;
  CliRun run;
  run.exit_code = stylize::cli::run(args, out, err, /*err_is_terminal=*/false);
  run.out = out.str();
  run.err = err.str();
  return run;
}

namespace {
std::string shell_quote(const std::string& arg) {
  std::string quoted = "'";
  for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}
}  // namespace

CliRun run_binary(const std::vector<std::string>& args) {
  std::string command = shell_quote(STYLIZE_BINARY);
  for (const auto& arg : args) command += " " + shell_quote(arg);
  command += " 2>&1";
  CliRun run;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run " + command);
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) {
    run.out += buffer.data();
  }
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.err = run.out;
  return run;
}

ChildProcess::ChildProcess(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> argv_strings{STYLIZE_BINARY};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  fd_ = fds[0];
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (fd_ >= 0) ::close(fd_);
}

bool ChildProcess::wait_for_output(const std::string& needle, double timeout_s) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (output_.find(needle) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buffer[4096];
    const auto n = ::read(fd_, buffer, sizeof buffer);
    if (n <= 0) return false;
    output_.append(buffer, static_cast<std::size_t>(n));
  }
  return true;
}

bool ChildProcess::drain_output(double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
    if (ready < 0) return false;
    if (ready == 0) return true;  // nothing more within timeout_s
    char buffer[4096];
    const auto n = ::read(fd_, buffer, sizeof buffer);
    if (n <= 0) return false;
    output_.append(buffer, static_cast<std::size_t>(n));
  }
}

void ChildProcess::send(int signal_number) const { ::kill(pid_, signal_number); }

int ChildProcess::wait_exit(double timeout_s) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    drain_output(0.05);  // so the child never blocks on a full pipe
    int status = 0;
    const int done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      drain_output(0.2);
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
  }
  return -1;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  std::string line;
  while (std::getline(stream, line)) {
    if (line.rfind("libpng warning", 0) == 0) continue;
    lines.push_back(line);
  }
  return lines;
}

}  // namespace stylize::test
