// SIGINT/SIGTERM as a request to stop: while an Interrupt lives, the first signal sets a flag that long
// loops poll (it is the cancel flag the engine's loops take) instead of killing the process; a second
// one kills it as usual. Restores the previous handlers when it goes. One at a time, main thread.
#pragma once

#include <atomic>
#include <string>

namespace preimage::app {

class Interrupt {
public:
    Interrupt();
    ~Interrupt();
    Interrupt(const Interrupt&) = delete;
    Interrupt& operator=(const Interrupt&) = delete;
    const std::atomic<bool>* flag() const;
    int signal() const;        // 0 while none came
    std::string name() const;  // "SIGINT", "SIGTERM"
};

}  // namespace preimage::app
