#!/usr/bin/env python3
"""Prints the package folders (relative to the repo) that the given packages need at run time:
their dependencies and optional dependencies, resolved the way Node does (nested node_modules
first, then the parents'). Used to copy only what the guest needs into the initramfs."""
import json, os, sys

root = os.path.abspath(sys.argv[1])
seen, todo = set(), [(root, name) for name in sys.argv[2:]]
while todo:
    frm, name = todo.pop()
    d = frm
    while True:
        cand = os.path.join(d, 'node_modules', name)
        if os.path.isfile(os.path.join(cand, 'package.json')):
            break
        if d == root or d == os.path.dirname(d):
            cand = None
            break
        d = os.path.dirname(d)
        if os.path.basename(d) == 'node_modules':
            d = os.path.dirname(d)
    if cand is None:
        continue  # an optional dependency that is not installed for this platform
    if cand in seen:
        continue
    seen.add(cand)
    pkg = json.load(open(os.path.join(cand, 'package.json')))
    for dep in list(pkg.get('dependencies', {})) + list(pkg.get('optionalDependencies', {})):
        todo.append((cand, dep))
for p in sorted(seen):
    print(os.path.relpath(p, root))
