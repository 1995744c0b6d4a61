// Signals sent to the real binary: interruption keeps the work done, and no kill leaves a partial
// output file.
#include <stylize/image_io.hpp>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <random>
#include <thread>

#include "cli.hpp"
#include "test_support.hpp"

namespace stylize {
namespace {
namespace fs = std::filesystem;

class InterruptTest : public ::testing::Test {
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

TEST_F(InterruptTest, sigint_saves_the_best_image_and_exits_130) {
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

TEST_F(InterruptTest, sigterm_saves_and_exits_143) {
  const auto out = dir_.file("out.jpg");
  test::ChildProcess child(endless_run(out));
  ASSERT_TRUE(child.wait_for_output("iteration 2/", 60)) << child.output();
  child.send(SIGTERM);
  EXPECT_EQ(child.wait_exit(60), 143) << child.output();
  EXPECT_NO_THROW(load_image_rgb01(out, 0));
}

TEST_F(InterruptTest, second_sigint_exits_at_once_without_partial_output) {
  const auto out = dir_.file("out.png");
  test::ChildProcess child(endless_run(out, {"--size", "256"}));  // slow iterations
  ASSERT_TRUE(child.wait_for_output("iteration 1/", 120)) << child.output();
  child.send(SIGINT);
  child.send(SIGINT);
  EXPECT_EQ(child.wait_exit(60), 130) << child.output();
  if (fs::exists(out)) {
    EXPECT_NO_THROW(load_image_rgb01(out, 0));  // complete, or absent
  }
}

TEST_F(InterruptTest, sigkill_during_writes_never_leaves_a_partial_image) {
  // Snapshots are written every iteration; kill at random moments and check every visible file.
  std::mt19937 random(11);
  for (int round = 0; round < 4; ++round) {
    test::ChildProcess child(endless_run(dir_.file("out.png"), {"--save-every", "1"}));
    ASSERT_TRUE(child.wait_for_output("saved", 60)) << child.output();
    std::this_thread::sleep_for(std::chrono::milliseconds(random() % 400));
    child.send(SIGKILL);
    EXPECT_EQ(child.wait_exit(30), 128 + SIGKILL);
  }
  int images = 0;
  for (const auto& entry : fs::directory_iterator(dir_.path())) {
    const auto name = entry.path().filename().string();
    if (name.rfind("out", 0) != 0) continue;  // temporaries are hidden (".out...tmp-*")
    EXPECT_NO_THROW(load_image_rgb01(entry.path().string(), 0)) << name << " is partial";
    ++images;
  }
  EXPECT_GT(images, 0);
}

}  // namespace
}  // namespace stylize
