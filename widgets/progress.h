// A job's progress: bar, status text and a Stop button. ImGui only; UI thread.
#pragma once

namespace preimage::widgets {

// fraction in [0,1]; returns true when Stop was clicked.
bool jobProgress(float fraction, const char* status, bool running);

}  // namespace preimage::widgets
