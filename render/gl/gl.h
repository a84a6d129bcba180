// The OpenGL headers and a checked-call helper. GL calls are made on the UI thread only, with the
// window's context current.
#pragma once

#define GL_GLEXT_PROTOTYPES 1
#include <GL/gl.h>
#include <GL/glext.h>

namespace preimage::render {

// Drains glGetError; on an error, reports `what` once per call site to stderr and returns false.
bool glCheck(const char* what);

}  // namespace preimage::render
