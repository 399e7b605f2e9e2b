#!/usr/bin/env bash
# Adds every public symbol the build reports as undeclared (RS0016) to its project's PublicAPI.Unshipped.txt, sorted.
# Run it after a deliberate change to a public surface; review the diff it makes: that diff is the API change.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
dotnet build Stackscope.sln -c Release --nologo -p:TreatWarningsAsErrors=false >"$log" 2>&1 || true
python3 - "$log" <<'PY'
import re, sys, collections
per = collections.defaultdict(set)
for m in re.finditer(r"RS0016: Symbol '(.*?)' is not part of the declared public API.*?\[(/[^\]]+\.csproj)\]", open(sys.argv[1]).read()):
    per[m.group(2).rsplit('/', 1)[0]].add(m.group(1))
for folder, symbols in per.items():
    path = folder + '/PublicAPI.Unshipped.txt'
    lines = open(path).read().split('\n')
    body = set(l for l in lines[1:] if l) | symbols
    open(path, 'w').write(lines[0] + '\n' + ''.join(s + '\n' for s in sorted(body, key=str.lower)))
    print(f"{path}: {len(symbols)} symbol(s) added")
PY
rm -f "$log"
