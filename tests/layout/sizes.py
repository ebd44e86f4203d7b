#!/usr/bin/env python3
"""File and function sizes of Rust sources: prints every file over MAX_FILE lines that does not
say why at its top (a `//! Long because:` line in its first 15 lines) and every function over
MAX_FN lines (from its `fn` line to its closing brace; comments and strings are skipped when
counting braces). Exits 1 when it printed anything. Test modules count like any other code.

    python3 tests/layout/sizes.py src proxy/src proxy-api/src"""
import os, re, sys

MAX_FILE, MAX_FN = 450, 120
tok = re.compile(r'//[^\n]*|/\*.*?\*/|r#*".*?"#*|b?"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])\'', re.S)

def blank(m):
    # keep newlines so line numbers stay right; drop everything else
    return re.sub(r'[^\n]', ' ', m.group(0)) if m.group(0).startswith(('/', 'r', '"', 'b')) else '   '

problems = []
for root in sys.argv[1:]:
    for dp, _, fs in os.walk(root):
        for f in sorted(fs):
            if not f.endswith('.rs'):
                continue
            path = os.path.join(dp, f)
            text = open(path).read()
            lines = text.count('\n')
            head = text.split('\n')[:15]
            if lines > MAX_FILE and not any('Long because:' in l for l in head):
                problems.append(f'{path}: {lines} lines (over {MAX_FILE}, no "Long because:" at its top)')
            code = tok.sub(blank, text)
            for m in re.finditer(r'\bfn\s+(\w+)[^;{]*\{', code):
                depth, i = 1, m.end()
                while i < len(code) and depth:
                    depth += {'{': 1, '}': -1}.get(code[i], 0)
                    i += 1
                start = code.count('\n', 0, m.start()) + 1
                end = code.count('\n', 0, i) + 1
                if end - start + 1 > MAX_FN:
                    problems.append(f'{path}:{start}: fn {m.group(1)} is {end - start + 1} lines (over {MAX_FN})')
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
