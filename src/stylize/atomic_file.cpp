#include "atomic_file.hpp"

#include <stylize/errors.hpp>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>

namespace stylize {
namespace fs = std::filesystem;
namespace {

constexpr const char* kTempMark = ".tmp-";
/// A temporary this old whose writer is gone is stale: a younger one may be a writer's on
/// another host or in another PID namespace sharing the folder, whose id means nothing here.
constexpr auto kStaleAfter = std::chrono::minutes(10);

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "host";
  std::string host(name);
  std::replace(host.begin(), host.end(), '/', '_');
  return host;
}

/// The writer's process id in a temporary's name (".<name>.tmp-<host>-<pid>-<random>") when it
/// was written on this host, else 0.
long writer_on_this_host(const std::string& filename) {
  if (filename.empty() || filename.front() != '.') return 0;
  const auto mark = filename.rfind(kTempMark);
  if (mark == std::string::npos) return 0;
  const std::string rest = filename.substr(mark + std::strlen(kTempMark));
  const auto random_dash = rest.rfind('-');
  if (random_dash == std::string::npos || random_dash == 0) return 0;
  const auto pid_dash = rest.rfind('-', random_dash - 1);
  if (pid_dash == std::string::npos || rest.substr(0, pid_dash) != host_name()) return 0;
  const std::string pid = rest.substr(pid_dash + 1, random_dash - pid_dash - 1);
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) return 0;
  try {
    return std::stol(pid);
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

std::string temp_name_beside(const fs::path& target) {
  std::random_device entropy;
  const auto dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  return (dir / ("." + target.filename().string() + kTempMark + host_name() + "-" +
                 std::to_string(::getpid()) + "-" + std::to_string(entropy())))
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
  const auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const long pid = writer_on_this_host(it->path().filename().string());
    // The writer is gone when no process has its id (a live one, even another user's, answers
    // kill(pid, 0) with success or EPERM).
    if (pid <= 0 || pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 ||
        errno != ESRCH) {
      continue;
    }
    std::error_code time_error;
    const auto written = fs::last_write_time(it->path(), time_error);
    if (time_error || now - written < kStaleAfter) continue;
    std::error_code remove_error;
    if (fs::remove(it->path(), remove_error)) ++removed;
  }
  return removed;
}

}  // namespace stylize
