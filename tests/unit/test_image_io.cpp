#include <stylize/errors.hpp>
#include <stylize/image_io.hpp>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "test_support.hpp"

namespace stylize {
namespace {
namespace fs = std::filesystem;
using test::TempDir;

TEST(image_io_test, loads_rgb_in_unit_range_from_bgr_files) {
  TempDir dir;
  cv::Mat red(20, 30, CV_8UC3, cv::Scalar(0, 0, 255));  // OpenCV is BGR: this is pure red
  ASSERT_TRUE(cv::imwrite(dir.file("red.png"), red));
  const auto image = load_image_rgb01(dir.file("red.png"), 0);
  ASSERT_EQ(image.sizes(), (at::IntArrayRef{1, 3, 20, 30}));
  EXPECT_EQ(image.scalar_type(), at::kFloat);
  EXPECT_FLOAT_EQ(image[0][0].mean().item<float>(), 1.0F);  // R
  EXPECT_FLOAT_EQ(image[0][1].mean().item<float>(), 0.0F);  // G
  EXPECT_FLOAT_EQ(image[0][2].mean().item<float>(), 0.0F);  // B
}

TEST(image_io_test, saves_rgb_as_bgr_files) {
  TempDir dir;
  auto image = at::zeros({1, 3, 16, 16});
  image[0][2].fill_(1.0);  // pure blue
  save_image(image, dir.file("blue.png"));
  const cv::Mat read = cv::imread(dir.file("blue.png"));
  ASSERT_FALSE(read.empty());
  const auto pixel = read.at<cv::Vec3b>(3, 3);
  EXPECT_EQ(pixel, cv::Vec3b(255, 0, 0));
}

TEST(image_io_test, png_round_trip_is_exact_to_8_bits) {
  TempDir dir;
  const auto image = at::rand({1, 3, 17, 23});
  save_image(image, dir.file("round.png"));
  const auto back = load_image_rgb01(dir.file("round.png"), 0);
  ASSERT_EQ(back.sizes(), image.sizes());
  EXPECT_LE((back - image).abs().max().item<float>(), 0.5F / 255.0F + 1e-6F);
}

TEST(image_io_test, writes_every_supported_format) {
  TempDir dir;
  const auto image = at::rand({1, 3, 20, 24});
  for (const char* name : {"a.png", "a.jpg", "a.jpeg", "a.webp", "a.tif", "a.tiff", "a.bmp"}) {
    save_image(image, dir.file(name));
    const auto back = load_image_rgb01(dir.file(name), 0);
    EXPECT_EQ(back.sizes(), image.sizes()) << name;
  }
}

TEST(image_io_test, resizes_longest_side_keeping_aspect) {
  TempDir dir;
  test::write_test_image(dir.file("wide.png"), 100, 50, 4);
  EXPECT_EQ(load_image_rgb01(dir.file("wide.png"), 40).sizes(), (at::IntArrayRef{1, 3, 20, 40}));
  EXPECT_EQ(load_image_rgb01(dir.file("wide.png"), 200).sizes(),
            (at::IntArrayRef{1, 3, 100, 200}));
  EXPECT_EQ(load_image_rgb01_exact(dir.file("wide.png"), 33, 17).sizes(),
            (at::IntArrayRef{1, 3, 17, 33}));
  const auto tensor = at::rand({1, 3, 30, 60});
  EXPECT_EQ(resize_longest_side(tensor, 20).sizes(), (at::IntArrayRef{1, 3, 10, 20}));
  EXPECT_EQ(resize_longest_side(tensor, 120).sizes(), (at::IntArrayRef{1, 3, 60, 120}));
}

TEST(image_io_test, grey_and_alpha_and_16_bit_inputs_load_as_rgb) {
  TempDir dir;
  cv::Mat grey(20, 20, CV_8UC1, cv::Scalar(128));
  ASSERT_TRUE(cv::imwrite(dir.file("grey.png"), grey));
  const auto g = load_image_rgb01(dir.file("grey.png"), 0);
  EXPECT_EQ(g.size(1), 3);
  EXPECT_NEAR(g.mean().item<float>(), 128.0F / 255.0F, 1e-6);

  cv::Mat rgba(20, 20, CV_8UC4, cv::Scalar(255, 0, 0, 100));
  ASSERT_TRUE(cv::imwrite(dir.file("alpha.png"), rgba));
  EXPECT_FLOAT_EQ(load_image_rgb01(dir.file("alpha.png"), 0)[0][2].mean().item<float>(), 1.0F);

  cv::Mat deep(20, 20, CV_16UC3, cv::Scalar(1000, 30000, 65535));
  ASSERT_TRUE(cv::imwrite(dir.file("deep.png"), deep));
  const auto d = load_image_rgb01(dir.file("deep.png"), 0);
  EXPECT_NEAR(d[0][2].mean().item<float>(), 1000.0F / 65535.0F, 1e-6);  // B keeps 16-bit detail
  ASSERT_TRUE(cv::imwrite(dir.file("deep.tif"), deep));
  const auto t = load_image_rgb01(dir.file("deep.tif"), 0);
  EXPECT_NEAR(t[0][2].mean().item<float>(), 1000.0F / 65535.0F, 1e-6);
  EXPECT_NEAR(t[0][1].mean().item<float>(), 30000.0F / 65535.0F, 1e-6);
}

TEST(image_io_test, alpha_is_loaded_and_saved) {
  TempDir dir;
  cv::Mat rgba(20, 24, CV_8UC4, cv::Scalar(10, 20, 30, 0));
  rgba(cv::Rect(0, 0, 12, 20)).setTo(cv::Scalar(10, 20, 30, 255));
  ASSERT_TRUE(cv::imwrite(dir.file("alpha.png"), rgba));
  const auto image = read_image(dir.file("alpha.png"), 0);
  ASSERT_TRUE(image.alpha01.defined());
  EXPECT_EQ(image.alpha01.sizes(), (at::IntArrayRef{1, 1, 20, 24}));
  EXPECT_NEAR(image.alpha01.mean().item<float>(), 0.5F, 1e-6);
  save_image(image.rgb01, dir.file("out.png"), image.alpha01);
  const cv::Mat back = cv::imread(dir.file("out.png"), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(back.channels(), 4);
  EXPECT_EQ(back.at<cv::Vec4b>(5, 3)[3], 255);
  EXPECT_EQ(back.at<cv::Vec4b>(5, 20)[3], 0);
  EXPECT_TRUE(read_image(dir.file("out.png"), 0).alpha01.defined());
  cv::Mat opaque(20, 20, CV_8UC3, cv::Scalar(1, 2, 3));
  ASSERT_TRUE(cv::imwrite(dir.file("opaque.png"), opaque));
  EXPECT_FALSE(read_image(dir.file("opaque.png"), 0).alpha01.defined());
  EXPECT_TRUE(format_keeps_alpha("x.webp"));
  EXPECT_FALSE(format_keeps_alpha("x.jpg"));
}

TEST(image_io_test, masks_read_alpha_or_brightness_at_the_size_asked) {
  TempDir dir;
  cv::Mat grey(20, 40, CV_8UC1, cv::Scalar(0));
  grey(cv::Rect(0, 0, 20, 20)).setTo(cv::Scalar(255));
  ASSERT_TRUE(cv::imwrite(dir.file("left.png"), grey));
  bool stretched = true;
  const auto mask = read_mask(dir.file("left.png"), 20, 10, &stretched);
  EXPECT_FALSE(stretched);
  EXPECT_EQ(mask.sizes(), (at::IntArrayRef{1, 1, 10, 20}));
  EXPECT_FLOAT_EQ(mask[0][0][5][2].item<float>(), 1.0F);
  EXPECT_FLOAT_EQ(mask[0][0][5][17].item<float>(), 0.0F);
  read_mask(dir.file("left.png"), 20, 20, &stretched);
  EXPECT_TRUE(stretched);
  // A cut-out: transparent where it does not apply, whatever its colours.
  cv::Mat rgba(10, 10, CV_8UC4, cv::Scalar(0, 0, 0, 255));
  rgba(cv::Rect(0, 0, 10, 5)).setTo(cv::Scalar(255, 255, 255, 0));
  ASSERT_TRUE(cv::imwrite(dir.file("cutout.png"), rgba));
  const auto cutout = read_mask(dir.file("cutout.png"), 10, 10);
  EXPECT_FLOAT_EQ(cutout[0][0][2][2].item<float>(), 0.0F);
  EXPECT_FLOAT_EQ(cutout[0][0][7][2].item<float>(), 1.0F);
  ASSERT_TRUE(cv::imwrite(dir.file("black.png"), cv::Mat(8, 8, CV_8UC1, cv::Scalar(0))));
  EXPECT_ERROR_MSG(read_mask(dir.file("black.png"), 8, 8), ConfigError,
                   "mask '" + dir.file("black.png") + "' selects nothing: it is black everywhere");
  EXPECT_ERROR_MSG(read_mask(dir.file("none.png"), 8, 8), InputError,
                   "cannot read image '" + dir.file("none.png") + "': no such file");
}

TEST(image_io_test, exif_orientation_is_honoured) {
  TempDir dir;
  cv::Mat wide(20, 40, CV_8UC3, cv::Scalar(0, 0, 0));
  wide(cv::Rect(0, 0, 20, 20)).setTo(cv::Scalar(255, 255, 255));  // left half white
  std::vector<uchar> jpeg;
  ASSERT_TRUE(cv::imencode(".jpg", wide, jpeg));
  // An APP1 Exif segment saying "orientation 6: rotate 90 degrees clockwise to display".
  const std::vector<uchar> exif = {0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0, 0, 'M', 'M',
                                   0x00, 0x2A, 0x00, 0x00, 0x00, 0x08, 0x00, 0x01, 0x01, 0x12,
                                   0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00,
                                   0x00, 0x00, 0x00, 0x00};
  jpeg.insert(jpeg.begin() + 2, exif.begin(), exif.end());
  const auto image = decode_image(std::vector<std::uint8_t>(jpeg.begin(), jpeg.end()), "r.jpg", 0);
  ASSERT_EQ(image.rgb01.sizes(), (at::IntArrayRef{1, 3, 40, 20}));
  // After a clockwise turn the white left half is on top.
  EXPECT_GT(image.rgb01[0][0][5][10].item<float>(), 0.9F);
  EXPECT_LT(image.rgb01[0][0][35][10].item<float>(), 0.1F);
}

TEST(image_io_test, absurd_sizes_are_refused_before_decoding) {
  // A PNG header claiming 50000x60000 px, followed by nothing a decoder could use.
  std::vector<std::uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13,
                                   'I', 'H', 'D', 'R', 0, 0, 0xC3, 0x50, 0, 0, 0xEA, 0x60,
                                   8, 2, 0, 0, 0};
  EXPECT_ERROR_MSG(decode_image(png, "huge.png", 512), InputError,
                   "cannot read image 'huge.png': 50000x60000 px is more than the 250 megapixels "
                   "stylize decodes");
}

/// How much this process's resident memory peaked above its level at reset(): Linux's VmHWM,
/// which writing 5 to /proc/self/clear_refs resets to the current RSS. Unlike getrusage's peak
/// over the whole process life, it does not depend on what earlier tests allocated.
class PeakRssGrowth {
 public:
  /// False where the kernel refuses the reset (before Linux 4.0).
  bool reset() {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
    clear.close();
    if (!clear) return false;
    start_kib_ = status_kib("VmRSS:");
    return start_kib_ >= 0;
  }
  [[nodiscard]] long kib() const { return status_kib("VmHWM:") - start_kib_; }

 private:
  static long status_kib(const std::string& field) {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind(field, 0) == 0) return std::stol(line.substr(field.size()));
    }
    return -1;
  }
  long start_kib_ = -1;
};

// Fuzzing found a 670-byte JPEG whose stray bytes hid a 12544x33280 frame from the size check;
// decoding it took ~2 GB. Each file in tests/data/fuzz has its exact outcome here, and handling
// all of them must take a fraction of that.
TEST(image_io_test, fuzz_regression_inputs_decode_or_fail_cleanly_within_memory) {
  struct Outcome {
    std::string error;  ///< what follows "cannot read image '<path>': ", or empty: it decodes
  };
  const std::map<std::string, Outcome> outcomes = {
      {"oom-jpeg-huge-claimed-size.jpg",
       {"12544x33280 px is more than the 250 megapixels stylize decodes"}},
  };
  const fs::path dir = fs::path(STYLIZE_SOURCE_DIR) / "tests" / "data" / "fuzz";
  PeakRssGrowth peak;
  ASSERT_TRUE(peak.reset()) << "cannot reset the peak RSS through /proc/self/clear_refs";
  std::set<std::string> seen;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (entry.path().extension() == ".md") continue;
    seen.insert(name);
    const auto outcome = outcomes.find(name);
    if (outcome == outcomes.end()) {
      ADD_FAILURE() << name << " has no expected outcome in this test";
      continue;
    }
    const auto path = entry.path().string();
    for (int side : {16, 64}) {
      if (outcome->second.error.empty()) {
        const auto image = read_image(path, side);
        EXPECT_EQ(std::max(image.rgb01.size(2), image.rgb01.size(3)), side) << name;
      } else {
        EXPECT_ERROR_MSG(read_image(path, side), InputError,
                         "cannot read image '" + path + "': " + outcome->second.error)
            << "at " << side << " px";
      }
    }
  }
  for (const auto& [name, outcome] : outcomes) {
    EXPECT_EQ(seen.count(name), 1U) << name << " is missing from " << dir;
  }
  EXPECT_LT(peak.kib(), 256L * 1024) << "KiB above the resident memory before the first file";
}

TEST(image_io_test, paths_with_spaces_and_non_ascii_work) {
  TempDir dir;
  fs::create_directory(dir.path() / "my photos");
  const auto path = (dir.path() / "my photos" / "фото été.png").string();
  test::write_test_image(path, 30, 20, 4);
  const auto image = load_image_rgb01(path, 0);
  save_image(image, (dir.path() / "my photos" / "résultat.jpg").string());
  EXPECT_TRUE(fs::exists(dir.path() / "my photos" / "résultat.jpg"));
}

TEST(image_io_test, input_errors_name_the_file) {
  TempDir dir;
  const auto missing = dir.file("missing.png");
  EXPECT_ERROR_MSG(load_image_rgb01(missing, 0), InputError,
                   "cannot read image '" + missing + "': no such file");
  EXPECT_ERROR_MSG(load_image_rgb01(dir.path().string(), 0), InputError,
                   "cannot read image '" + dir.path().string() + "': it is a directory");
  const auto empty = dir.file("empty.png");
  std::ofstream(empty).close();
  EXPECT_ERROR_MSG(load_image_rgb01(empty, 0), InputError,
                   "cannot read image '" + empty + "': the file is empty");
  const auto text = dir.file("notes.jpg");
  std::ofstream(text) << "this is not an image\n";
  EXPECT_ERROR_MSG(
      load_image_rgb01(text, 0), InputError,
      "cannot read image '" + text + "': not a supported image format, or the file is corrupt");
}

TEST(image_io_test, truncated_files_fail_cleanly) {
  TempDir dir;
  test::write_test_image(dir.file("whole.png"), 64, 64, 3);
  const auto size = fs::file_size(dir.file("whole.png"));
  std::ifstream in(dir.file("whole.png"), std::ios::binary);
  std::string bytes(size / 2, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  std::ofstream(dir.file("half.png"), std::ios::binary) << bytes;
  EXPECT_THROW(load_image_rgb01(dir.file("half.png"), 0), InputError);
}

TEST(image_io_test, rejects_images_too_small_after_resizing) {
  TempDir dir;
  test::write_test_image(dir.file("strip.png"), 200, 20, 4);
  EXPECT_ERROR_MSG(
      load_image_rgb01(dir.file("strip.png"), 100), InputError,
      "image '" + dir.file("strip.png") +
          "' is 100x10 px after resizing to 100 px but must be at least 16 px on each side");
}

TEST(image_io_test, output_checks_name_the_problem) {
  TempDir dir;
  EXPECT_ERROR_MSG(check_output_writable(dir.file("out.xyz")), OutputError,
                   "cannot write '" + dir.file("out.xyz") +
                       "': unknown image format '.xyz' (use .png, .jpg, .webp, .tif or .bmp)");
  EXPECT_ERROR_MSG(check_output_writable(dir.file("out")), OutputError,
                   "cannot write '" + dir.file("out") +
                       "': unknown image format '' (use .png, .jpg, .webp, .tif or .bmp)");
  const auto nested = dir.file("no/such/dir/out.png");
  EXPECT_ERROR_MSG(
      check_output_writable(nested), OutputError,
      "cannot write '" + nested + "': directory '" + dir.file("no/such/dir") + "' does not exist");
  fs::create_directory(dir.file("taken.png"));
  EXPECT_ERROR_MSG(check_output_writable(dir.file("taken.png")), OutputError,
                   "cannot write '" + dir.file("taken.png") + "': it is a directory");
  EXPECT_THROW(check_output_writable("/proc/stylize-out.png"), OutputError);
  EXPECT_NO_THROW(check_output_writable(dir.file("fine.PNG")));
  EXPECT_TRUE(fs::is_empty(dir.path() / "taken.png"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1)
      << "the writability probe must not leave files behind";
}

TEST(image_io_test, save_replaces_atomically_and_leaves_no_temporaries) {
  TempDir dir;
  const auto path = dir.file("out.png");
  save_image(at::zeros({1, 3, 16, 16}), path);
  save_image(at::ones({1, 3, 16, 16}), path);
  EXPECT_FLOAT_EQ(load_image_rgb01(path, 0).mean().item<float>(), 1.0F);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
  EXPECT_THROW(save_image(at::ones({1, 3, 16, 16}), "/proc/stylize-out.png"), OutputError);
}

TEST(image_io_test, stale_temporaries_of_a_killed_writer_are_removed) {
  TempDir dir;
  // A process that is gone: started and reaped.
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  char host_buffer[256] = {};
  ASSERT_EQ(::gethostname(host_buffer, sizeof host_buffer - 1), 0);
  const std::string host(host_buffer);
  const auto stale = dir.file(".out.png.tmp-" + host + "-" + std::to_string(child) + "-123");
  const auto young = dir.file(".b.png.tmp-" + host + "-" + std::to_string(child) + "-124");
  const auto elsewhere = dir.file(".c.png.tmp-other.host-" + std::to_string(child) + "-125");
  const auto live = dir.file(".out.png.tmp-" + host + "-" + std::to_string(::getpid()) + "-456");
  const auto other = dir.file(".notes.txt");
  for (const auto& path : {stale, young, elsewhere, live, other}) std::ofstream(path) << "partial";
  const auto hour_ago = fs::file_time_type::clock::now() - std::chrono::hours(1);
  for (const auto& path : {stale, elsewhere, live, other}) fs::last_write_time(path, hour_ago);
  check_output_writable(dir.file("out.png"));
  EXPECT_FALSE(fs::exists(stale)) << "its writer is gone";
  EXPECT_TRUE(fs::exists(young)) << "too recent to tell from a writer in another PID namespace";
  EXPECT_TRUE(fs::exists(elsewhere)) << "another host's writer cannot be asked";
  EXPECT_TRUE(fs::exists(live)) << "its writer (this process) still runs";
  EXPECT_TRUE(fs::exists(other)) << "not a temporary of stylize's";
  // save_image leaves none of its own.
  save_image(at::rand({1, 3, 8, 8}), dir.file("out.png"));
  std::size_t temporaries = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    temporaries += entry.path().filename().string().find(".tmp-") != std::string::npos ? 1 : 0;
  }
  EXPECT_EQ(temporaries, 3U) << "the young one's, the other host's, the live writer's";
}

TEST(image_io_test, decoder_warnings_are_kept_off_stderr) {
  TempDir dir;
  test::write_test_image(dir.file("photo.jpg"), 40, 30, 5);
  auto bytes = read_file_bytes(dir.file("photo.jpg"));
  // Stray bytes before the end-of-image marker: libjpeg warns and decodes anyway.
  ASSERT_GE(bytes.size(), 2U);
  bytes.insert(bytes.end() - 2, {0x00, 0x11, 0x22});
  // stderr into a pipe while decoding
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(pipe_fds[1], STDERR_FILENO);
  const Image image = decode_image(bytes, "damaged.jpg", 0);
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(pipe_fds[1]);
  char buffer[256];
  const auto printed = ::read(pipe_fds[0], buffer, sizeof buffer);
  ::close(pipe_fds[0]);
  EXPECT_EQ(printed, 0) << std::string(buffer, static_cast<std::size_t>(std::max<ssize_t>(printed, 0)));
  EXPECT_EQ(image.rgb01.size(3), 40);
  ASSERT_EQ(image.decoder_messages.size(), 1U);
  EXPECT_EQ(image.decoder_messages[0].rfind("Corrupt JPEG data: 3 extraneous bytes", 0), 0U)
      << image.decoder_messages[0];
}

TEST(image_io_test, metadata_round_trips_through_png_and_jpeg) {
  TempDir dir;
  const auto profile = test::test_icc_profile(70000);  // two JPEG APP2 segments
  for (const auto* name : {"a.png", "a.jpg"}) {
    save_image(at::rand({1, 3, 20, 24}), dir.file(name), {}, {"{\"seed\":1}", profile});
    const auto bytes = read_file_bytes(dir.file(name));
    const auto metadata = read_image_metadata(bytes);
    EXPECT_EQ(metadata.settings, "{\"seed\":1}") << name;
    EXPECT_EQ(metadata.icc_profile, profile) << name;
    EXPECT_EQ(decode_image(bytes, name, 0).icc_profile, profile) << name;
    const auto messages = decode_image(bytes, name, 0).decoder_messages;
    EXPECT_TRUE(messages.empty()) << name << ": " << (messages.empty() ? "" : messages[0]);
  }
  // A JPEG whose ICC parts disagree on their count (as a damaged or hostile file may): no
  // profile rather than a corrupt one.
  auto bytes = read_file_bytes(dir.file("a.jpg"));
  const std::string tag("ICC_PROFILE", 12);  // with its NUL
  const auto at = std::search(bytes.begin(), bytes.end(), tag.begin(), tag.end());
  ASSERT_NE(at, bytes.end());
  *(at + 13) = 3;  // the first part claims three parts; the second says two
  EXPECT_TRUE(read_image_metadata(bytes).icc_profile.empty());
  save_image(at::rand({1, 3, 10, 12}), dir.file("plain.png"));
  EXPECT_TRUE(read_image_metadata(read_file_bytes(dir.file("plain.png"))).settings.empty());
}

}  // namespace
}  // namespace stylize
