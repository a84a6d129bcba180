#include "inference/runtime/threads.h"

#include <ATen/Parallel.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

namespace preimage {

namespace {
std::atomic<bool> g_auto{true};
std::atomic<int> g_reserve{0};  // cores the automatic policy leaves free

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::vector<int> candidateCounts(int cores) {
    std::vector<int> c{1};
    for (int n : {cores / 4, cores / 2, cores})
        if (n >= 2 && std::find(c.begin(), c.end(), n) == c.end()) c.push_back(n);
    return c;
}
}  // namespace

int usableCores() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
    return int(std::max(1u, std::thread::hardware_concurrency()));
}

void setThreads(int n) {
    g_auto = n <= 0;
    g_reserve = n < 0 ? -n : 0;
    at::set_num_threads(n > 0 ? n : autoMaxThreads());
}

int threadPolicy() { return g_auto ? -g_reserve.load() : at::get_num_threads(); }

int autoMaxThreads() { return std::max(1, usableCores() - g_reserve.load()); }

int threads() { return at::get_num_threads(); }

bool autoThreads() { return g_auto; }

ScopedThreads::ScopedThreads(int n) : m_auto(g_auto), m_count(at::get_num_threads()) {
    g_auto = false;
    at::set_num_threads(std::max(1, n));
}

ScopedThreads::~ScopedThreads() {
    g_auto = m_auto;
    at::set_num_threads(m_count);
}

ThreadChooser::ThreadChooser(std::vector<int> candidates, double holdSeconds, int probeSteps)
    : m_candidates(std::move(candidates)), m_hold(holdSeconds), m_probeSteps(std::max(1, probeSteps)) {
    if (m_candidates.empty()) m_candidates = {1};
    m_best = m_candidates[0];
    startProbe();
}

void ThreadChooser::startProbe() {
    m_probing = m_candidates.size() > 1;
    m_index = 0;
    m_warm = false;
    m_samples.clear();
    m_median.assign(m_candidates.size(), std::numeric_limits<double>::infinity());
    m_probeCost = 0;
    m_held = 0;
    m_current = m_probing ? m_candidates[0] : m_best;
}

void ThreadChooser::nextCandidate() {
    if (++m_index < m_candidates.size()) {
        m_current = m_candidates[m_index];
        m_warm = false;
        m_samples.clear();
        return;
    }
    const size_t i = size_t(std::min_element(m_median.begin(), m_median.end()) - m_median.begin());
    m_best = m_current = m_candidates[i];
    m_probing = false;
    m_held = 0;
    m_probes++;
}

void ThreadChooser::record(double s) {
    if (!std::isfinite(s) || s < 0) s = 0;
    if (!m_probing) {
        m_held += s;
        if (m_candidates.size() > 1 && m_held >= std::max(m_hold, 20.0 * m_probeCost)) startProbe();
        return;
    }
    m_probeCost += s;
    const double bestSoFar = *std::min_element(m_median.begin(), m_median.begin() + m_index + 1);
    if (!m_warm) {  // the first step after a switch pays for waking (or making) the pool's threads
        m_warm = true;
        if (s > 10.0 * bestSoFar) {  // even so, far too slow: contended cores
            m_median[m_index] = s;
            nextCandidate();
        }
        return;
    }
    m_samples.push_back(s);
    auto sorted = m_samples;
    std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
    const double median = sorted[sorted.size() / 2];
    if (int(m_samples.size()) >= m_probeSteps || median > 3.0 * bestSoFar) {
        m_median[m_index] = median;
        nextCandidate();
    }
}

ThreadTuner::ThreadTuner()
    : m_active(autoThreads() && autoMaxThreads() > 1),
      m_restore(at::get_num_threads()),
      m_chooser(candidateCounts(autoMaxThreads())),
      m_last(now()) {
    if (m_active) at::set_num_threads(m_chooser.threads());
}

ThreadTuner::~ThreadTuner() {
    if (m_active && at::get_num_threads() != m_restore) at::set_num_threads(m_restore);
}

void ThreadTuner::step() {
    const int used = m_active ? m_chooser.threads() : at::get_num_threads();
    if (size_t(used) >= m_stepsAt.size()) m_stepsAt.resize(size_t(used) + 1, 0);
    m_stepsAt[size_t(used)]++;
    if (!m_active) return;
    const double t = now();
    m_chooser.record(t - m_last);
    if (m_chooser.threads() != used) at::set_num_threads(m_chooser.threads());
    m_last = now();
}

int ThreadTuner::mostUsed() const {
    if (m_stepsAt.empty()) return m_active ? m_chooser.threads() : at::get_num_threads();
    return int(std::max_element(m_stepsAt.begin(), m_stepsAt.end()) - m_stepsAt.begin());
}

}  // namespace preimage
