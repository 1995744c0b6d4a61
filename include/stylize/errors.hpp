#pragma once

#include <stdexcept>
#include <string>

namespace stylize {

/// What went wrong, coarsely; the CLI maps each kind to a documented exit code.
enum class ErrorKind {
  kConfig,  ///< an option value is invalid or contradicts another
  kInput,   ///< an input image is missing, unreadable, corrupt or unusable
  kModel,   ///< the model file is missing, unreadable or not a stylize VGG model
  kOutput,  ///< an output path cannot be written
  kDevice,  ///< the requested compute device is not available
  kMemory,  ///< the run would not fit (or did not fit) in the available memory
};

/// Base of every error the library throws. Messages are one lower-case line that names the
/// offending file or value and what is wrong with it.
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  [[nodiscard]] ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& message) : Error(ErrorKind::kConfig, message) {}
};

class InputError : public Error {
 public:
  explicit InputError(const std::string& message) : Error(ErrorKind::kInput, message) {}
};

class ModelError : public Error {
 public:
  explicit ModelError(const std::string& message) : Error(ErrorKind::kModel, message) {}
};

class OutputError : public Error {
 public:
  explicit OutputError(const std::string& message) : Error(ErrorKind::kOutput, message) {}
};

class DeviceError : public Error {
 public:
  explicit DeviceError(const std::string& message) : Error(ErrorKind::kDevice, message) {}
};

class MemoryError : public Error {
 public:
  explicit MemoryError(const std::string& message) : Error(ErrorKind::kMemory, message) {}
};

}  // namespace stylize
