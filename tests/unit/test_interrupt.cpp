// Signals sent to the real binary: interruption keeps the work done, and no kill leaves a partial
// output file. These run the binary as a child process: the suite is named *Binary* (ctest label
// cli).
#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli.hpp"
#include "test_support.hpp"

namespace stylize {
namespace {
namespace fs = std::filesystem;

/// What happens to the files of one directory, as the kernel reports it (inotify), in order.
class DirectoryWatch {
 public:
  struct Event {
    std::uint32_t mask = 0;
    std::uint32_t cookie = 0;  ///< pairs IN_MOVED_FROM with its IN_MOVED_TO
    std::string name;
  };
  static constexpr std::uint32_t kMask =
      IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE;

  explicit DirectoryWatch(const fs::path& dir) : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    if (fd_ < 0 || ::inotify_add_watch(fd_, dir.c_str(), kMask) < 0) {
      throw std::runtime_error("cannot watch " + dir.string());
    }
  }
  ~DirectoryWatch() {
    if (fd_ >= 0) ::close(fd_);
  }
  DirectoryWatch(const DirectoryWatch&) = delete;
  DirectoryWatch& operator=(const DirectoryWatch&) = delete;

  /// Waits up to timeout_s for events; returns those that came (events() keeps them all).
  std::vector<Event> read(double timeout_s) {
    std::vector<Event> fresh;
    pollfd ready{fd_, POLLIN, 0};
    if (::poll(&ready, 1, static_cast<int>(timeout_s * 1000)) <= 0) return fresh;
    alignas(inotify_event) char buffer[64 * 1024];
    for (auto n = ::read(fd_, buffer, sizeof buffer); n > 0;
         n = ::read(fd_, buffer, sizeof buffer)) {
      for (const char* at = buffer; at < buffer + n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(at);
        fresh.push_back({event->mask, event->cookie,
                         event->len > 0 ? std::string(event->name) : std::string()});
        at += sizeof(inotify_event) + event->len;
      }
    }
    events_.insert(events_.end(), fresh.begin(), fresh.end());
    return fresh;
  }
  [[nodiscard]] const std::vector<Event>& events() const { return events_; }

 private:
  int fd_;
  std::vector<Event> events_;
};

/// Temporary files are hidden (".out_1.png.tmp-*"); what a user sees is not.
bool hidden(const std::string& name) { return !name.empty() && name[0] == '.'; }

/// Adds a failure for every sign in events that an image was written in place: a visible file
/// created, written or closed after writing, or a visible name given to a temporary file that
/// had not been closed after writing yet (or to something from outside the directory).
void expect_only_complete_files_were_renamed_into_view(
    const std::vector<DirectoryWatch::Event>& events) {
  std::set<std::string> written;                    // temporaries closed after writing
  std::map<std::uint32_t, std::string> moved_from;  // cookie -> old name
  for (const auto& event : events) {
    if ((event.mask & IN_Q_OVERFLOW) != 0) ADD_FAILURE() << "inotify lost events";
    if (!hidden(event.name) && (event.mask & (IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE)) != 0) {
      ADD_FAILURE() << event.name << " was written in place (inotify mask 0x" << std::hex
                    << event.mask << std::dec << ")";
    }
    if ((event.mask & IN_CLOSE_WRITE) != 0) written.insert(event.name);
    if ((event.mask & IN_MOVED_FROM) != 0) moved_from[event.cookie] = event.name;
    if ((event.mask & IN_MOVED_TO) != 0 && !hidden(event.name)) {
      const auto from = moved_from.find(event.cookie);
      if (from == moved_from.end()) {
        ADD_FAILURE() << event.name << " came from outside the directory";
      } else if (!hidden(from->second) || written.count(from->second) == 0) {
        ADD_FAILURE() << event.name << " took the place of " << from->second
                      << " before that was written and closed";
      }
    }
  }
}

class InterruptBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::write_test_image(dir_.file("photo.png"), 64, 48, 9);
    test::write_test_image(dir_.file("style.png"), 48, 48, 3);
  }
  std::vector<std::string> endless_run(const std::string& output,
                                       const std::vector<std::string>& more = {}) const {
    std::vector<std::string> args{"--content",    dir_.file("photo.png"), "--style",
                                  dir_.file("style.png"), "--output", output,
                                  "--model",      test::random_model_path(), "--size", "64",
                                  "--iterations", "1000000", "--print-every", "1", "--seed", "3"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }
  test::TempDir dir_;
};

TEST_F(InterruptBinaryTest, sigint_saves_the_best_image_and_exits_130) {
  const auto out = dir_.file("out.png");
  test::ChildProcess child(endless_run(out));
  ASSERT_TRUE(child.wait_for_output("iteration 3/", 60)) << child.output();
  child.send(SIGINT);
  EXPECT_EQ(child.wait_exit(60), 130) << child.output();
  EXPECT_NE(child.output().find("interrupted: wrote the best image so far to " + out),
            std::string::npos)
      << child.output();
  const auto image = load_image_rgb01(out, 0);
  EXPECT_EQ(image.sizes(), (at::IntArrayRef{1, 3, 48, 64}));
}

TEST_F(InterruptBinaryTest, sigterm_saves_and_exits_143) {
  const auto out = dir_.file("out.jpg");
  test::ChildProcess child(endless_run(out));
  ASSERT_TRUE(child.wait_for_output("iteration 2/", 60)) << child.output();
  child.send(SIGTERM);
  EXPECT_EQ(child.wait_exit(60), 143) << child.output();
  EXPECT_NE(child.output().find("interrupted: wrote the best image so far to " + out),
            std::string::npos)
      << child.output();
  EXPECT_EQ(load_image_rgb01(out, 0).sizes(), (at::IntArrayRef{1, 3, 48, 64}));
}

TEST_F(InterruptBinaryTest, second_sigint_exits_at_once_without_partial_output) {
  const auto out = dir_.file("out.png");
  test::ChildProcess child(endless_run(out, {"--size", "256", "--min-size", "0"}));  // slow ones
  ASSERT_TRUE(child.wait_for_output("iteration 1/", 120)) << child.output();
  child.send(SIGINT);
  child.send(SIGINT);
  EXPECT_EQ(child.wait_exit(60), 130) << child.output();
  if (fs::exists(out)) {  // the first SIGINT's save may have finished: then it is complete
    EXPECT_EQ(load_image_rgb01(out, 0).sizes(), (at::IntArrayRef{1, 3, 192, 256}));
  }
  // Unless the first one's save finished first, the second says what happened, in one line.
  if (child.output().find("interrupted: wrote the best image so far") == std::string::npos) {
    EXPECT_NE(child.output().find(
                  "stylize: interrupted twice: exiting at once, nothing more written\n"),
              std::string::npos)
        << child.output();
  }
}

TEST_F(InterruptBinaryTest, sigkill_during_writes_never_leaves_a_partial_image) {
  // Snapshots (out_<N>.png) are written every iteration. The directory is watched while the
  // child writes them, and the child is killed as soon as the second snapshot has reached one
  // step of its write. Whenever the kill lands, every visible file must be a complete image; and
  // the kernel's record of the writes must show that no image was ever written where a user
  // sees it (which a save_image writing in place fails every time, not only when a kill hits).
  struct KillPoint {
    const char* step;
    std::uint32_t mask;
    bool on_temporary;  ///< the event names the hidden temporary, else the visible snapshot
  };
  const KillPoint points[] = {{"its temporary was created", IN_CREATE, true},
                              {"its temporary was written to", IN_MODIFY, true},
                              {"its temporary was closed", IN_CLOSE_WRITE, true},
                              {"it was renamed into place", IN_MOVED_TO, false}};
  constexpr int kSnapshot = 2;
  int rounds = 0;
  for (const auto& point : points) {
    SCOPED_TRACE(std::string("killed when snapshot 2 ") + point.step);
    const auto dir = dir_.path() / ("round" + std::to_string(++rounds));
    fs::create_directory(dir);
    DirectoryWatch watch(dir);
    test::ChildProcess child(endless_run((dir / "out.png").string(), {"--save-every", "1"}));
    const std::string prefix = point.on_temporary ? ".out_" : "out_";
    int seen = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (seen < kSnapshot && std::chrono::steady_clock::now() < deadline) {
      for (const auto& event : watch.read(0.05)) {
        if ((event.mask & point.mask) != 0 && event.name.rfind(prefix, 0) == 0) ++seen;
      }
      if (seen < kSnapshot && !child.drain_output(0.0)) break;  // the child has exited
    }
    child.send(SIGKILL);
    ASSERT_GE(seen, kSnapshot) << child.output();
    EXPECT_EQ(child.wait_exit(30), 128 + SIGKILL) << child.output();
    watch.read(0.2);
    expect_only_complete_files_were_renamed_into_view(watch.events());
    int images = 0;
    int temporaries = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
      const auto name = entry.path().filename().string();
      if (hidden(name)) {
        ++temporaries;
        continue;
      }
      try {
        EXPECT_EQ(load_image_rgb01(entry.path().string(), 0).sizes(),
                  (at::IntArrayRef{1, 3, 48, 64}))
            << name;
      } catch (const Error& e) {
        ADD_FAILURE() << name << " is not a complete image: " << e.what();
      }
      ++images;
    }
    EXPECT_LE(temporaries, 1) << "only the write in flight may leave its temporary";
    EXPECT_GE(images, point.on_temporary ? kSnapshot - 1 : kSnapshot);
  }
}

}  // namespace
}  // namespace stylize
