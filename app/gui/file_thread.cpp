#include "app/gui/file_thread.h"

#include <exception>

namespace preimage::app {

FileThread::FileThread(std::function<void(const std::string&)> onError)
    : m_onError(std::move(onError)), m_thread([this] { run(); }) {}

FileThread::~FileThread() {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_quit = true;
    }
    m_wake.notify_all();
    m_thread.join();
}

void FileThread::post(Job job) {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_jobs.push_back(std::move(job));
    }
    m_wake.notify_all();
}

void FileThread::poll() {
    std::deque<Continuation> done;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        done.swap(m_done);
    }
    for (auto& c : done)
        if (c) c();
}

bool FileThread::idle() const {
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_jobs.empty() && m_running == 0 && m_done.empty();
}

void FileThread::run() {
    std::unique_lock<std::mutex> lock(m_mutex);
    for (;;) {
        m_wake.wait(lock, [&] { return m_quit || !m_jobs.empty(); });
        if (m_jobs.empty()) return;  // quitting with nothing left to write
        Job job = std::move(m_jobs.front());
        m_jobs.pop_front();
        ++m_running;
        lock.unlock();
        Continuation c;
        try {
            c = job();
        } catch (const std::exception& e) {
            c = [onError = m_onError, what = std::string(e.what())] { onError(what); };
        }
        lock.lock();
        --m_running;
        m_done.push_back(std::move(c));
    }
}

}  // namespace preimage::app
