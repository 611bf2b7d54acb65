#!/usr/bin/env bash
# Seeds each fuzz target's corpus (fuzz/corpus/TARGET) with real files from
# the golden fixtures (format/v1.*), so the fuzzer starts from valid bytes.
set -euo pipefail
cd "$(dirname "$0")"
F=../format
c() { mkdir -p "corpus/$1"; }
for t in manifest graph pq codes idmap chunks stamps lex wal zmq_request zmq_reply; do c "$t"; done
for v in v1.0 v1.1 v1.2 v1.3 v1.4 v1.5; do
    d=$F/$v/index
    [ -d "$d" ] || continue
    [ -f "$d/MANIFEST" ] && cp "$d/MANIFEST" "corpus/manifest/$v"
    [ -f "$d/FILES" ] && cp "$d/FILES" "corpus/stamps/$v"
    for ext in graph pq codes ids chunks lex; do
        for f in "$d"/seg-*."$ext"; do
            [ -f "$f" ] || continue
            t=$ext; [ "$ext" = ids ] && t=idmap
            cp "$f" "corpus/$t/$v-$(basename "$f")"
        done
    done
done
for v in v1.1 v1.3; do
    for f in "$F/$v"/wal/wal-*.log; do cp "$f" "corpus/wal/$v-$(basename "$f")"; done
done
printf '{"op":"info"}' > corpus/zmq_request/info
printf '{"op":"embed","texts":["fn main() {}","lru cache eviction"]}' > corpus/zmq_request/embed
printf '{"op":"embed","texts":[]}' > corpus/zmq_request/empty
# zmq_reply: byte 0 = texts asked for, then the JSON head, NUL, the matrix.
python3 - <<'PY'
import json, struct
head = json.dumps({"ok": True, "model": "m", "dim": 4, "count": 2}).encode()
m = struct.pack("<8f", 1, 0, 0, 0, 0, 0.6, 0.8, 0)
open("corpus/zmq_reply/two", "wb").write(bytes([2]) + head + b"\0" + m)
err = json.dumps({"ok": False, "error": "no"}).encode()
open("corpus/zmq_reply/error", "wb").write(bytes([1]) + err + b"\0")
PY
for t in corpus/*; do echo "$t: $(ls "$t" | wc -l) seeds"; done
