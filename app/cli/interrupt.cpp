#include "app/cli/interrupt.h"

#include <csignal>
#include <cstring>

namespace preimage::app {
namespace {
std::atomic<bool> g_flag{false};
std::atomic<int> g_signal{0};
struct sigaction g_oldInt, g_oldTerm;

extern "C" void onSignal(int sig) {
    g_signal.store(sig);
    g_flag.store(true);
}
}  // namespace

Interrupt::Interrupt() {
    g_flag = false;
    g_signal = 0;
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = onSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;  // a second signal takes the default action
    sigaction(SIGINT, &sa, &g_oldInt);
    sigaction(SIGTERM, &sa, &g_oldTerm);
}

Interrupt::~Interrupt() {
    sigaction(SIGINT, &g_oldInt, nullptr);
    sigaction(SIGTERM, &g_oldTerm, nullptr);
}

const std::atomic<bool>* Interrupt::flag() const { return &g_flag; }

int Interrupt::signal() const { return g_signal.load(); }

std::string Interrupt::name() const {
    const int s = g_signal.load();
    return s == SIGINT ? "SIGINT" : s == SIGTERM ? "SIGTERM" : "signal " + std::to_string(s);
}

}  // namespace preimage::app
