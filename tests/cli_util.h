// Helpers of the command-line tests: runCli in process, and an output stream that raises a signal.
#pragma once

#include "app/cli/cli.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

extern char** environ;
#include <string>
#include <vector>

namespace testutil {

struct Run {
    int code;
    std::string out, err;
};

inline Run cli(std::vector<std::string> args) {
    args.insert(args.begin(), "preimage");
    std::ostringstream out, err;
    const int code = preimage::app::runCli(args, out, err);
    return {code, out.str(), err.str()};
}

// A refused command: exit code 2 and one line on stderr that says `needle`.
inline void expectUserError(const Run& r, const std::string& needle) {
    INFO("stderr: " << r.err);
    CHECK(r.code == 2);
    CHECK(r.err.find(needle) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}

// An output stream buffer that raises `sig` in this process when a line starting with `trigger` is written:
// a command's signal handler sees it at a known point of its work.
struct SignalAfterLine : std::stringbuf {
    std::string trigger, line;
    int sig;
    SignalAfterLine(std::string t, int s) : trigger(std::move(t)), sig(s) {}
    int overflow(int c) override {
        if (c == '\n') {
            if (line.rfind(trigger, 0) == 0) std::raise(sig);
            line.clear();
        } else if (c != EOF) {
            line += char(c);
        }
        return std::stringbuf::overflow(c);
    }
    std::streamsize xsputn(const char* s, std::streamsize n) override {
        for (std::streamsize i = 0; i < n; ++i) overflow(s[i]);
        return n;
    }
};

// Runs the preimage binary with `args` (output discarded) and kills it with SIGKILL as soon as `ready()` holds
// (polled every 5 ms, at most `seconds`). Returns whether it was killed (false: it ended or timed out first).
template <class Ready>
bool spawnAndKill(const std::vector<std::string>& args, Ready ready, int seconds = 120) {
    std::vector<std::string> all{PREIMAGE_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const bool spawned = posix_spawn(&pid, PREIMAGE_BINARY, &actions, nullptr, argv.data(), environ) == 0;
    posix_spawn_file_actions_destroy(&actions);
    if (!spawned) return false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    int status = 0;
    while (!ready() && std::chrono::steady_clock::now() < deadline) {
        if (waitpid(pid, &status, WNOHANG) == pid) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

}  // namespace testutil
