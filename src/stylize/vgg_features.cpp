#include <stylize/errors.hpp>
#include <stylize/vgg_features.hpp>

#include <torch/script.h>

#include <algorithm>
#include <filesystem>
#include <unordered_map>

namespace stylize {
namespace {

constexpr int64_t kSupportedFormatVersion = 1;
const char* const kExportHint = "make one with scripts/export_vgg19.py";

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

}  // namespace

struct VggFeatures::Impl {
  torch::jit::Module module;
  std::vector<torch::jit::Module> layers;
  std::vector<std::string> names;
  std::unordered_map<std::string, int> index_by_name;
  std::string convention;
  std::string path;
  bool random_init = false;
  bool average_pooling = false;
};

VggFeatures::VggFeatures(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VggFeatures::VggFeatures(VggFeatures&&) noexcept = default;
VggFeatures& VggFeatures::operator=(VggFeatures&&) noexcept = default;
VggFeatures::~VggFeatures() = default;

VggFeatures VggFeatures::load(const std::string& path, const c10::Device& device) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    throw ModelError("cannot load model '" + path + "': no such file (" + kExportHint + ")");
  }
  if (std::filesystem::is_directory(path, ec)) {
    throw ModelError("cannot load model '" + path + "': it is a directory");
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  try {
    impl->module = torch::jit::load(path, device);
  } catch (const c10::Error& e) {
    throw ModelError("cannot load model '" + path + "': not a TorchScript model file (" +
                     first_line(e.what_without_backtrace()) + ")");
  } catch (const std::exception& e) {
    throw ModelError("cannot load model '" + path + "': " + first_line(e.what()));
  }
  auto& module = impl->module;
  const char* required[] = {"layer_names", "convention", "random_init", "format_version",
                            "features"};
  for (const char* name : required) {
    if (!module.hasattr(name)) {
      throw ModelError("cannot load model '" + path + "': not a stylize VGG model (no '" + name +
                       "'; " + kExportHint + ")");
    }
  }
  if (!module.find_method("preprocess")) {
    throw ModelError("cannot load model '" + path +
                     "': not a stylize VGG model (no 'preprocess' method; " + kExportHint + ")");
  }
  const auto version = module.attr("format_version").toInt();
  if (version != kSupportedFormatVersion) {
    throw ModelError("cannot load model '" + path + "': format version " +
                     std::to_string(version) + " is not supported (expected " +
                     std::to_string(kSupportedFormatVersion) + "; re-export it)");
  }
  for (const auto& name : module.attr("layer_names").toListRef()) {
    impl->names.push_back(name.toStringRef());
  }
  for (const auto& child : module.attr("features").toModule().children()) {
    impl->layers.push_back(child);
  }
  if (impl->names.empty() || impl->names.size() != impl->layers.size()) {
    throw ModelError("cannot load model '" + path + "': it names " +
                     std::to_string(impl->names.size()) + " layers but has " +
                     std::to_string(impl->layers.size()));
  }
  for (std::size_t i = 0; i < impl->names.size(); ++i) {
    impl->index_by_name.emplace(impl->names[i], static_cast<int>(i));
  }
  impl->convention = module.attr("convention").toStringRef();
  impl->random_init = module.attr("random_init").toBool();
  module.eval();
  for (const auto& parameter : module.parameters()) parameter.requires_grad_(false);
  return VggFeatures(std::move(impl));
}

const std::vector<std::string>& VggFeatures::layer_names() const { return impl_->names; }

std::optional<int> VggFeatures::index_of(const std::string& layer) const {
  const auto found = impl_->index_by_name.find(layer);
  if (found == impl_->index_by_name.end()) return std::nullopt;
  return found->second;
}

const std::string& VggFeatures::convention() const { return impl_->convention; }
bool VggFeatures::random_init() const { return impl_->random_init; }
const std::string& VggFeatures::path() const { return impl_->path; }

int VggFeatures::pools_before(int index) const {
  const auto end = impl_->names.begin() + std::min<std::ptrdiff_t>(index, impl_->names.size());
  return static_cast<int>(std::count_if(impl_->names.begin(), end, [](const std::string& name) {
    return name.rfind("pool", 0) == 0;
  }));
}

void VggFeatures::set_average_pooling(bool avg) { impl_->average_pooling = avg; }

std::vector<at::Tensor> VggFeatures::extract(const at::Tensor& image_rgb01,
                                             const std::vector<int>& layer_indices) {
  if (layer_indices.empty()) return {};
  const int last = *std::max_element(layer_indices.begin(), layer_indices.end());
  std::vector<at::Tensor> outputs(layer_indices.size());
  auto x = impl_->module.run_method("preprocess", image_rgb01).toTensor();
  // The network is evaluated only up to the deepest requested layer.
  for (int i = 0; i <= last; ++i) {
    const bool is_pool = impl_->names[static_cast<std::size_t>(i)].rfind("pool", 0) == 0;
    if (is_pool && impl_->average_pooling) {
      x = at::avg_pool2d(x, {2, 2}, {2, 2});
    } else {
      x = impl_->layers[static_cast<std::size_t>(i)].forward({x}).toTensor();
    }
    for (std::size_t k = 0; k < layer_indices.size(); ++k) {
      if (layer_indices[k] == i) outputs[k] = x;
    }
  }
  return outputs;
}

}  // namespace stylize
