#!/usr/bin/python3
"""The CUDA build's own code paths, compiled on a machine without a CUDA LibTorch or a GPU: every translation unit
with `#ifdef PREIMAGE_CUDA` / `PREIMAGE_CUDA_GL` code is compiled (-fsyntax-only: parsed, type-checked, templates
instantiated, nothing linked) with those macros on, against Debian's LibTorch headers (which ship c10/cuda, ATen/cuda
and ProcessGroupNCCL.hpp) and the CUDA toolkit's headers. What stays unverified here is the link against a CUDA
LibTorch and the run on a GPU: tests/gpu/run does both on a GPU machine.

usage: cuda_syntax.py BUILD_DIR CUDA_INCLUDE_DIR"""
import json, os, shlex, subprocess, sys

build, cuda_include = os.path.abspath(sys.argv[1]), sys.argv[2]
# The one header LibTorch's CMake generates for its CUDA half (absent from a CPU package): what it holds in a
# shared-library build.
shim = os.path.join(build, "cuda_syntax_shim")
os.makedirs(os.path.join(shim, "c10", "cuda", "impl"), exist_ok=True)
with open(os.path.join(shim, "c10", "cuda", "impl", "cuda_cmake_macros.h"), "w") as f:
    f.write("#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n")

checked = {  # file suffix -> macros
    "inference/runtime/device_image.cpp": ["-DPREIMAGE_CUDA=1"],
    "inference/runtime/distributed.cpp": ["-DPREIMAGE_CUDA=1", "-DUSE_C10D_NCCL"],
    "inference/runtime/worker.cpp": ["-DPREIMAGE_CUDA=1"],
    "inference/inversion/inversion.cpp": ["-DPREIMAGE_CUDA=1"],
    "app/gui/app.cpp": ["-DPREIMAGE_CUDA_GL=1"],
}
commands = json.load(open(os.path.join(build, "compile_commands.json")))
failed, seen = [], set()
for entry in commands:
    suffix = next((s for s in checked if entry["file"].endswith(s)), None)
    if not suffix or suffix in seen:
        continue
    seen.add(suffix)
    args, out, skip = shlex.split(entry["command"]), [], False
    for a in args:
        if skip:
            skip = False
        elif a == "-o":
            skip = True
        elif a != "-c":
            out.append(a)
    if os.path.basename(out[0]) == "ccache":
        out = out[1:]
    out += ["-fsyntax-only", "-I" + cuda_include, "-I" + shim] + checked[suffix]
    r = subprocess.run(out, cwd=entry["directory"], capture_output=True, text=True)
    print(("ok   " if r.returncode == 0 else "FAIL ") + suffix + " " + " ".join(checked[suffix]))
    if r.returncode != 0:
        print(r.stderr[-4000:])
        failed.append(suffix)
missing = sorted(set(checked) - seen)
for m in missing:
    print("FAIL " + m + ": not in compile_commands.json")
sys.exit(1 if failed or missing else 0)
