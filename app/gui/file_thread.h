// The app's one thread for files: decoding an opened image, encoding and writing exports, saving settings, so
// that the UI thread never waits on a disk.
//
// Threading contract. post(), poll() and idle() are called from one thread (the owner's, the UI thread). A job
// runs on the file thread and returns a continuation (or nothing), which poll() runs later on the owner's thread,
// in the order the jobs were posted: only continuations touch the owner's state. A job's exception becomes a
// continuation that hands its message to the error handler. The destructor finishes every job posted (settings
// are saved at exit) and drops the continuations not yet polled.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace preimage::app {

class FileThread {
public:
    using Continuation = std::function<void()>;
    using Job = std::function<Continuation()>;
    explicit FileThread(std::function<void(const std::string&)> onError);
    ~FileThread();
    FileThread(const FileThread&) = delete;
    FileThread& operator=(const FileThread&) = delete;

    void post(Job job);
    void poll();        // runs the continuations of finished jobs
    bool idle() const;  // nothing queued, running or waiting to be polled

private:
    void run();
    std::function<void(const std::string&)> m_onError;
    mutable std::mutex m_mutex;
    std::condition_variable m_wake;
    std::deque<Job> m_jobs;
    std::deque<Continuation> m_done;
    int m_running = 0;
    bool m_quit = false;
    std::thread m_thread;
};

}  // namespace preimage::app
