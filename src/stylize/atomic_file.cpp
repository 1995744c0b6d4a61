#include "atomic_file.hpp"

#include <stylize/errors.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

namespace stylize {
namespace fs = std::filesystem;
namespace {

constexpr const char* kTempMark = ".tmp-";

/// The writer's process id in a temporary's name (".<name>.tmp-<pid>-<random>"), or 0.
long writer_of(const std::string& filename) {
  if (filename.empty() || filename.front() != '.') return 0;
  const auto mark = filename.rfind(kTempMark);
  if (mark == std::string::npos) return 0;
  const std::string rest = filename.substr(mark + std::strlen(kTempMark));
  const auto dash = rest.find('-');
  if (dash == std::string::npos || dash == 0) return 0;
  for (std::size_t i = 0; i < dash; ++i) {
    if (rest[i] < '0' || rest[i] > '9') return 0;
  }
  try {
    return std::stol(rest.substr(0, dash));
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

std::string temp_name_beside(const fs::path& target) {
  std::random_device entropy;
  const auto dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  return (dir / ("." + target.filename().string() + kTempMark + std::to_string(::getpid()) + "-" +
                 std::to_string(entropy())))
      .string();
}

void write_file_atomically(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  const std::string temp = temp_name_beside(fs::path(path));
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw OutputError("cannot write '" + path + "': " + std::strerror(errno));
  auto fail = [&](int error) {
    const std::string reason = std::strerror(error);
    ::unlink(temp.c_str());
    throw OutputError("cannot write '" + path + "': " + reason);
  };
  std::size_t written = 0;
  while (written < bytes.size()) {
    const auto n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      fail(error);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int error = errno;
    ::close(fd);
    fail(error);
  }
  if (::close(fd) != 0) fail(errno);
  if (std::rename(temp.c_str(), path.c_str()) != 0) fail(errno);
}

int remove_stale_temporaries(const fs::path& dir) {
  int removed = 0;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const long pid = writer_of(it->path().filename().string());
    // The writer is gone when no process has its id (a live one, even another user's, answers
    // kill(pid, 0) with success or EPERM).
    if (pid <= 0 || pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 ||
        errno != ESRCH) {
      continue;
    }
    std::error_code remove_error;
    if (fs::remove(it->path(), remove_error)) ++removed;
  }
  return removed;
}

}  // namespace stylize
