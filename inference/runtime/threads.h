// The intra-op thread policy: a fixed count (--threads N) or, by default, a count chosen by measured
// speed while the work runs.
//
// Why measured: on a quiet two-core machine a 28x28 CNN iteration is fastest on one thread and AlexNet at
// 227 px on two; with one core busy in another process every OpenMP barrier waits for a thread that
// shares its core, and two threads fall to a fraction of one thread's speed (the default model: 64 vs
// 1,089 it/s here). No static rule gets both right, so iterative loops (inversion, preferred inputs) time
// their steps at each candidate count now and then and keep the fastest. Torch-free header.
#pragma once

#include <cstddef>
#include <vector>

namespace preimage {

// 0 = automatic (the default); N > 0 = exactly N threads, never changed (bitwise reproducible runs: the
// count changes the last digits of some reductions); N < 0 = automatic on at most all usable cores but -N (the
// app's worker leaves one to the UI thread: on two cores it then runs on one, as a 28x28 CNN wants anyway).
void setThreads(int threads);
// The policy in force, as setThreads takes it (a scope that changes the policy restores it with this).
int threadPolicy();
// The most threads the automatic policy uses.
int autoMaxThreads();
// The count in use now on this thread.
int threads();
// Whether the automatic policy is on.
bool autoThreads();
// Cores this process may run on (its CPU affinity mask, not the machine's core count).
int usableCores();

// A fixed count for a scope (the automatic policy off inside it), e.g. a dataset sweep that decided a count
// per layer once, so that every image's numbers are the same on a resumed run. Restores the policy after.
class ScopedThreads {
public:
    explicit ScopedThreads(int threads);
    ~ScopedThreads();
    ScopedThreads(const ScopedThreads&) = delete;
    ScopedThreads& operator=(const ScopedThreads&) = delete;

private:
    bool m_auto;
    int m_count;
};

// The decision logic, apart from clocks and torch so that it can be tested with given timings. It
// probes each candidate count for a few steps (the first step after a switch is discarded as warm-up;
// a candidate already 3x slower than the best so far is cut short), keeps the one with the smallest
// median step time, and probes again after `holdSeconds` of work (or 20x the probe's cost, if longer).
class ThreadChooser {
public:
    explicit ThreadChooser(std::vector<int> candidates, double holdSeconds = 2.0, int probeSteps = 4);
    int threads() const { return m_current; }  // the count for the next step
    void record(double stepSeconds);           // the step just run took this long at threads()
    bool probing() const { return m_probing; }
    int best() const { return m_best; }
    int probes() const { return m_probes; }  // completed probe rounds

private:
    void startProbe();
    void nextCandidate();

    std::vector<int> m_candidates;
    double m_hold;
    int m_probeSteps;
    bool m_probing = true;
    std::size_t m_index = 0;          // candidate being probed
    bool m_warm = false;          // the warm-up step of this candidate is done
    std::vector<double> m_samples;
    std::vector<double> m_median;  // per candidate, this round
    double m_probeCost = 0, m_held = 0;
    int m_current = 1, m_best = 1, m_probes = 0;
};

// Applies the policy around a loop: call step() once per iteration on the thread doing the work. With
// a fixed count it does nothing. Restores the thread's count when it goes.
class ThreadTuner {
public:
    ThreadTuner();
    ~ThreadTuner();
    ThreadTuner(const ThreadTuner&) = delete;
    ThreadTuner& operator=(const ThreadTuner&) = delete;
    void step();
    // The count used for the most steps so far (for reports).
    int mostUsed() const;

private:
    bool m_active;
    int m_restore;
    ThreadChooser m_chooser;
    double m_last;
    std::vector<long> m_stepsAt;  // steps run per count (index = count)
};

}  // namespace preimage
