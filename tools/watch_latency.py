#!/usr/bin/env python3
"""Save-to-durable latency of `leann index update --watch` (issue 16 §4).

    tools/watch_latency.py LEANN INDEX FILELIST N

Starts the watch on INDEX, waits for it to be ready, then N times: waits
about 1 s, appends a comment line to a random file of FILELIST (paths, one
per line; files the index covers) and times the save to the watch's update
line (printed when the batch is durable). Prints each save and the median.
The files are edited in place: run it on a generated tree, not your own.
"""
import queue
import random
import statistics
import subprocess
import sys
import threading
import time


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    leann, index, listfile, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    files = [line.strip() for line in open(listfile) if line.strip()]
    random.seed(7)
    t0 = time.time()
    p = subprocess.Popen([leann, "index", "update", "--index", index, "--watch"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    q = queue.Queue()

    def pump(f, tag):
        for line in f:
            q.put((time.time(), tag, line.rstrip()))

    threading.Thread(target=pump, args=(p.stdout, "out"), daemon=True).start()
    threading.Thread(target=pump, args=(p.stderr, "err"), daemon=True).start()
    while True:
        t, tag, line = q.get(timeout=900)
        print(f"[{t - t0:7.2f}] {tag}: {line}", flush=True)
        if line.startswith("watching"):
            break
    ready = time.time() - t0
    lats = []
    for i in range(n):
        f = random.choice(files)
        time.sleep(1.0)
        while not q.empty():
            _, tag, line = q.get()
            print(f"  (late) {tag}: {line}")
        with open(f, "a") as h:
            h.write(f"\n# edit {i} {time.time()}\n")
        ts = time.time()
        while True:
            t, tag, line = q.get(timeout=120)
            if tag == "out" and "changed" in line:
                lats.append(t - ts)
                print(f"  save {i}: {t - ts:.3f} s  {line[:160]}", flush=True)
                break
            print(f"  {tag}: {line}")
    p.terminate()
    p.wait()
    print(f"ready after {ready:.1f} s; save->durable median {statistics.median(lats):.3f} s, "
          f"max {max(lats):.3f} s over {len(lats)}")


if __name__ == "__main__":
    main()
