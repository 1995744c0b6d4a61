#pragma once

#include <atomic>

namespace stylize::cli {

/// While alive, SIGINT and SIGTERM do not kill the process: the first one raises flag() so the
/// engine stops at the next iteration boundary and the best image so far is saved; a second one
/// exits at once with 128 + the signal number (outputs are written by rename, so even then no
/// partial output exists). The previous handlers are restored on destruction.
class InterruptGuard {
 public:
  InterruptGuard();
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  /// Raised by the first signal.
  [[nodiscard]] const std::atomic<bool>& flag() const;
  /// The signal received (SIGINT, SIGTERM), or 0.
  [[nodiscard]] int signal_number() const;
};

}  // namespace stylize::cli
