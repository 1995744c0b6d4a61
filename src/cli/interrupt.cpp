#include "interrupt.hpp"

#include <csignal>
#include <unistd.h>

namespace stylize::cli {
namespace {

// A signal handler can only reach static storage: this is the program's one piece of global
// mutable state, confined to this file and to the lifetime of an InterruptGuard.
std::atomic<bool> g_interrupted{false};
std::atomic<int> g_signal{0};
/// stderr as it was when the guard was made: image decoding points fd 2 elsewhere for a moment.
std::atomic<int> g_stderr{STDERR_FILENO};
struct sigaction g_previous_int {};
struct sigaction g_previous_term {};

extern "C" void on_signal(int signal_number) {
  if (g_interrupted.exchange(true)) {  // second signal: leave now, saying so (write() is safe)
    static const char kMessage[] =
        "stylize: interrupted twice: exiting at once, nothing more written\n";
    const auto ignored = ::write(g_stderr.load(), kMessage, sizeof kMessage - 1);
    static_cast<void>(ignored);
    _exit(128 + signal_number);
  }
  g_signal.store(signal_number);
}

}  // namespace

InterruptGuard::InterruptGuard() {
  g_interrupted = false;
  g_signal = 0;
  const int saved = ::dup(STDERR_FILENO);
  g_stderr = saved >= 0 ? saved : STDERR_FILENO;
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &g_previous_int);
  sigaction(SIGTERM, &action, &g_previous_term);
}

InterruptGuard::~InterruptGuard() {
  sigaction(SIGINT, &g_previous_int, nullptr);
  sigaction(SIGTERM, &g_previous_term, nullptr);
  const int saved = g_stderr.exchange(STDERR_FILENO);
  if (saved != STDERR_FILENO) ::close(saved);
}

const std::atomic<bool>& InterruptGuard::flag() const { return g_interrupted; }

int InterruptGuard::signal_number() const { return g_signal.load(); }

}  // namespace stylize::cli
