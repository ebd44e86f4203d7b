#!/usr/bin/env python3
"""The module graph of a Rust crate's source folder, from `use` trees and `crate::`, `super::`,
`self::` and child-module paths (comments, strings and #[cfg(test)] modules ignored). Prints the
edges with -v and every import cycle; exits 1 when there is one. With --top, modules are
collapsed to their top-level folder first (src/deploy/plan.rs counts as `deploy`), which is how
`make lint` checks that no two top-level folders of src/ import each other.

    python3 tests/layout/modgraph.py src --top
    python3 tests/layout/modgraph.py proxy/src"""
import os, re, sys

root = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith('-') else 'src'
verbose = '-v' in sys.argv
top = '--top' in sys.argv
# A crate with lib.rs: main.rs is its own crate (uses the lib by name). Without lib.rs, main.rs
# is the crate root.
skip = {'main'} if os.path.exists(os.path.join(root, 'lib.rs')) else set()

mods = {}  # module path (tuple) -> file
for dp, _, fs in os.walk(root):
    for f in fs:
        if not f.endswith('.rs'):
            continue
        rel = os.path.relpath(os.path.join(dp, f), root)[:-3].split(os.sep)
        if rel[-1] == 'mod':
            rel = rel[:-1]
        if rel in (['lib'], ['main']):
            rel = []
        if rel and rel[0] in skip:
            continue
        mods[tuple(rel)] = os.path.join(dp, f)

def strip(src):
    # comments, strings and char literals in one pass (a `//` inside a string is no comment)
    tok = re.compile(r'//[^\n]*|/\*.*?\*/|r#*".*?"#*|b?"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])\'', re.S)
    src = tok.sub(lambda m: '""' if m.group(0).endswith('"') or m.group(0).endswith('#') else ' ', src)
    # drop #[cfg(test)] mod tests { ... } (test-only references are not the module's imports)
    m = re.search(r'#\[cfg\(test\)\]\s*mod\s+\w+\s*\{', src)
    if m:
        src = src[:m.start()]
    return src

def expand_use(text):
    """Flatten `a::{b, c::{d, e}}` into ['a::b', 'a::c::d', 'a::c::e']."""
    text = text.strip()
    i = text.find('{')
    if i < 0:
        return [text]
    prefix, body = text[:i], text[i + 1:text.rfind('}')]
    parts, depth, cur = [], 0, ''
    for ch in body:
        if ch == ',' and depth == 0:
            parts.append(cur); cur = ''
            continue
        depth += ch == '{'
        depth -= ch == '}'
        cur += ch
    parts.append(cur)
    out = []
    for p in parts:
        if p.strip():
            out += expand_use(prefix + p.strip())
    return out

def resolve(me, path):
    segs = [s.strip() for s in path.split('::') if s.strip()]
    segs = [re.sub(r'\s+as\s+\w+$', '', s) for s in segs]
    if not segs:
        return None
    if segs[0] == 'crate':
        base, segs = (), segs[1:]
    elif segs[0] in ('super', 'self'):
        base = me
        while segs and segs[0] in ('super', 'self'):
            if segs[0] == 'super':
                base = base[:-1]
            segs = segs[1:]
    else:
        # a child module of `me` named directly
        if me + (segs[0],) in mods:
            base = me
        else:
            return None
    best = base
    for i in range(len(segs)):
        cand = base + tuple(segs[:i + 1])
        if cand in mods:
            best = cand
        else:
            break
    return best

edges = {m: set() for m in mods}
for me, f in mods.items():
    src = strip(open(f).read())
    paths = []
    for u in re.finditer(r'\buse\s+([^;]+);', src):
        paths += expand_use(u.group(1))
    paths += re.findall(r'\b((?:crate|super|self)(?:::\w+)+)', src)
    children = [m[-1] for m in mods if len(m) == len(me) + 1 and m[:len(me)] == me]
    for c in children:
        paths += re.findall(r'(?<![\w:])(' + c + r'(?:::\w+)+)', src)
    for p in paths:
        t = resolve(me, p)
        if t is not None and t != me:
            edges[me].add(t)

if top:
    collapsed = {}
    for m, ts in edges.items():
        k = m[:1]
        collapsed.setdefault(k, set())
        for t in ts:
            if t[:1] != k and t[:1]:
                collapsed[k].add(t[:1])
            elif not t[:1]:
                pass  # the crate root (main.rs / lib.rs) declares modules; not an import
    edges = collapsed
    edges.setdefault((), set())
    for v in list(edges.values()):
        for t in v:
            edges.setdefault(t, set())
name = lambda m: '::'.join(m) or 'crate root'
if verbose:
    for m in sorted(edges):
        print(f'{name(m)} -> {", ".join(sorted(name(t) for t in edges[m])) or "-"}')

# Tarjan's strongly connected components
index, low, stack, on, sccs, n = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        sccs.append(comp)
sys.setrecursionlimit(10000)
for v in edges:
    if v not in index:
        visit(v)
cycles = [c for c in sccs if len(c) > 1]
print(f'{len(mods)} modules, {sum(len(e) for e in edges.values())} edges, {len(cycles)} cycle(s)')
for c in cycles:
    print('  cycle:', ', '.join(sorted(name(m) for m in c)))
sys.exit(1 if cycles else 0)
