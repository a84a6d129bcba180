#include "app/cli/progress_bar.h"

#include <cstdio>

#include <unistd.h>

namespace preimage::app {

bool ProgressBar::enabledByDefault() { return ::isatty(STDERR_FILENO) == 1; }

ProgressBar::ProgressBar(std::string label, bool force)
    : m_label(std::move(label)), m_enabled(force || enabledByDefault()), m_start(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() {
    if (m_open) std::fputc('\n', stderr);
}

void ProgressBar::update(long done, long total, const std::string& status) {
    m_done = done;
    m_total = total;
    if (!m_enabled) return;
    auto now = std::chrono::steady_clock::now();
    if (m_open && done < total && now - m_last < std::chrono::milliseconds(50)) return;
    m_last = now;
    draw(done, total, status);
}

void ProgressBar::finish(const std::string& status) {
    if (!m_enabled) return;
    draw(m_total, m_total, status);
    std::fputc('\n', stderr);
    m_open = false;
}

void ProgressBar::draw(long done, long total, const std::string& status) {
    const int width = 28;
    const double f = total > 0 ? double(done) / double(total) : 0.0;
    const int filled = int(f * width + 0.5);
    std::string bar(size_t(filled), '=');
    if (filled < width) bar += '>' + std::string(size_t(width - filled - 1), ' ');
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
    const double eta = done > 0 && done < total ? elapsed * double(total - done) / double(done) : 0.0;
    char tail[64];
    std::snprintf(tail, sizeof tail, "%ld/%ld %5.1fs", done, total, done < total ? eta : elapsed);
    std::fprintf(stderr, "\r\033[K%-10s [%s] %s%s%s", m_label.c_str(), bar.c_str(), tail, done < total ? " eta" : "",
                 status.empty() ? "" : ("  " + status).c_str());
    std::fflush(stderr);
    m_open = true;
}

}  // namespace preimage::app
