// Helpers of the command-line tests: runCli in process, and an output stream that raises a signal.
#pragma once

#include "app/cli.h"

#include <csignal>
#include <sstream>
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

}  // namespace testutil
