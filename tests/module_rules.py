#!/usr/bin/python3
"""The module rules (README "Architecture"), checked on every project #include:
  render/     (the CPU image library) includes only render/ outside render/gl/
  render/gl/  includes render/
  widgets/    includes only widgets/ (and Dear ImGui)
  inference/  includes inference/ and render/'s CPU half, never render/gl/, widgets/ or app/
  app/cli/    never includes app/gui/ (the command line builds without a GUI)
Torch headers only in inference/ (and the torch tests)."""
import os, re, sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
allowed = [  # (folder prefix, allowed include prefixes)
    ("render/gl/", ("render/",)),
    ("render/", ("render/",)),
    ("widgets/", ("widgets/",)),
    ("inference/", ("inference/", "render/")),
    ("app/cli/", ("app/cli/", "inference/", "render/")),
    ("app/", ("app/", "inference/", "render/", "widgets/")),
]
project = re.compile(r'#include\s+"((?:app|inference|render|widgets)/[^"]+)"')
torch = re.compile(r'#include\s+<(torch|ATen|c10)/')
bad, files = [], 0
for top in ("app", "inference", "render", "widgets"):
    for dirpath, _, names in os.walk(os.path.join(root, top)):
        for name in names:
            if not name.endswith((".h", ".cpp", ".cu")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            files += 1
            rule = next(a for prefix, a in allowed if rel.startswith(prefix))
            for n, line in enumerate(open(path, encoding="utf-8"), 1):
                m = project.search(line)
                if m:
                    inc = m.group(1)
                    if not inc.startswith(rule) or (rel.startswith("inference/") and inc.startswith("render/gl/")) or \
                            (rel.startswith("render/") and not rel.startswith("render/gl/") and inc.startswith("render/gl/")):
                        bad.append(f"{rel}:{n}: includes {inc}")
                    if not os.path.exists(os.path.join(root, inc)):
                        bad.append(f"{rel}:{n}: includes {inc}, which does not exist")
                if torch.search(line) and not rel.startswith("inference/"):
                    bad.append(f"{rel}:{n}: a torch header outside inference/")
for b in bad:
    print(b)
print(f"{files} files, {len(bad)} broken rules")
sys.exit(1 if bad or files < 50 else 0)
