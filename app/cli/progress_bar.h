// A one-line progress bar on stderr, drawn only when stderr is a terminal (or when forced), redrawn at
// most every 50 ms. Main thread only.
#pragma once

#include <chrono>
#include <string>

namespace preimage::app {

class ProgressBar {
public:
    explicit ProgressBar(std::string label, bool force = false);
    ~ProgressBar();
    // done of total, with a short status text (loss, it/s...).
    void update(long done, long total, const std::string& status = "");
    void finish(const std::string& status = "");  // final state, then a newline
    static bool enabledByDefault();

private:
    void draw(long done, long total, const std::string& status);
    std::string m_label;
    bool m_enabled;
    bool m_open = false;
    std::chrono::steady_clock::time_point m_start, m_last;
    long m_done = 0, m_total = 0;
};

}  // namespace preimage::app
