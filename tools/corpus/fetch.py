#!/usr/bin/env python3
"""The training and evaluation corpus of the built-in model (issue 15).

    fetch.py pin   [--list packages.tsv] [--lock packages.lock.tsv]
    fetch.py fetch [--lock packages.lock.tsv] --to DIR [--role train|heldout]

`pin` resolves every `*` version of the list (PyPI: newest release with an
sdist; npm: the `latest` tag; Debian: bookworm's source package; crates:
given) to an archive address and its sha256, written to the lock file.
`fetch` downloads what the lock names, checks each sha256, and unpacks the
archive into DIR/train/NAME or DIR/heldout/LANGUAGE/NAME. It never unpacks a
reserved project (RESERVED: the evaluation sets of issue 15), and drops any
directory inside a package whose name is a reserved project or a held-out
one (vendored copies), and bundled or minified files, so that neither
reaches training. Standard library only; archives are cached in DIR/cache.
"""

import argparse
import gzip
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import sys
import tarfile
import urllib.request
import zipfile

# Projects reserved for evaluation (issue 15): never in any training corpus,
# vocabulary statistic or tuning step.
RESERVED = [
    "sqlalchemy", "django", "flask", "click", "werkzeug", "jinja2", "requests",
    "numpy", "pandas", "fastapi", "vue", "react", "svelte", "express",
    "lodash", "axios", "redis", "nginx", "curl", "sqlite", "postgres",
    "kubernetes", "gin", "hugo", "spring-framework", "guava",
]

# Extra package names that are reserved projects under another name.
RESERVED_PACKAGES = {
    "debian": {"sqlite3", "postgresql-15", "libspring-java", "guava-libraries",
               "golang-github-gin-gonic-gin", "golang-github-gohugoio-hugo",
               "python-django", "flask", "python-click", "python-werkzeug",
               "jinja2", "requests", "numpy", "pandas", "fastapi",
               "sqlalchemy", "redis", "nginx", "curl", "node-lodash",
               "node-axios", "node-express", "vue.js"},
}

SOURCE_EXT = {".py", ".rs", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts",
              ".cts", ".tsx", ".go", ".java", ".c", ".h", ".cc", ".cpp",
              ".cxx", ".hpp", ".hh", ".hxx"}

DEBIAN = "http://deb.debian.org/debian"
UA = {"User-Agent": "leann-corpus/1"}


def get(url, binary=True):
    req = urllib.request.Request(url, headers=UA)
    with urllib.request.urlopen(req, timeout=120) as r:
        data = r.read()
    return data if binary else data.decode()


def reserved_name(name):
    """True when a package or directory name is a reserved project's."""
    n = name.lower().lstrip("@")
    if n.startswith("vue/") or n.startswith("vue-") or n.startswith("vuejs"):
        return True
    tokens = re.split(r"[^a-z0-9]+", n)
    for r in RESERVED:
        if r in tokens or n == r or n.startswith(r + "-") or n.startswith(r + "."):
            return True
        # python-flask, node-express, golang-...-gin, libsqlite3, postgresql
        if r in ("sqlite", "postgres") and r in n:
            return True
    return False


def debian_sources():
    cache = os.path.join(os.environ.get("TMPDIR", "/tmp"), "leann-debian-Sources")
    if not os.path.exists(cache):
        data = lzma.decompress(get(f"{DEBIAN}/dists/bookworm/main/source/Sources.xz"))
        with open(cache, "wb") as f:
            f.write(data)
    out = {}
    for block in open(cache, encoding="utf-8", errors="replace").read().split("\n\n"):
        m = re.search(r"^Package: (.+)$", block, re.M)
        if not m:
            continue
        version = re.search(r"^Version: (.+)$", block, re.M).group(1)
        directory = re.search(r"^Directory: (.+)$", block, re.M).group(1)
        sums = re.search(r"^Checksums-Sha256:\n((?: .+\n?)+)", block, re.M)
        files = []
        for line in sums.group(1).splitlines():
            sha, size, name = line.split()
            files.append((name, sha, int(size)))
        out[m.group(1)] = (version, directory, files)
    return out


def pin_one(eco, name, version, debian):
    if eco == "pypi":
        meta = json.loads(get(f"https://pypi.org/pypi/{name}/json", False))
        if version == "*":
            versions = [v for v, fs in meta["releases"].items()
                        if any(f["packagetype"] == "sdist" and not f["yanked"] for f in fs)
                        and not re.search(r"[a-z]", v.split("+")[0].replace("post", ""))]
            if not versions:
                raise SystemExit(f"pypi {name}: no release with an sdist")
            versions.sort(key=lambda v: [int(x) if x.isdigit() else -1
                                         for x in re.split(r"[.+]", v)])
            version = versions[-1]
        files = [f for f in meta["releases"][version] if f["packagetype"] == "sdist"]
        f = files[0]
        # Some mirrors of the JSON API give addresses relative to it.
        url = re.sub(r"^(\.\./)+packages/packages/", "https://files.pythonhosted.org/packages/",
                     f["url"])
        return version, url, f["digests"]["sha256"]
    if eco == "npm":
        spec = version if version != "*" else "latest"
        path = name.replace("/", "%2F")
        meta = json.loads(get(f"https://registry.npmjs.org/{path}/{spec}", False))
        url = meta["dist"]["tarball"]
        sha = hashlib.sha256(get(url)).hexdigest()
        return meta["version"], url, sha
    if eco == "crate":
        # The sparse index: one JSON line per release, with its sha256.
        n = name.lower()
        prefix = {1: "1", 2: "2", 3: f"3/{n[0]}"}.get(len(n), f"{n[:2]}/{n[2:4]}")
        releases = [json.loads(line) for line in
                    get(f"https://index.crates.io/{prefix}/{n}", False).splitlines()]
        releases = [r for r in releases if not r["yanked"]]
        if version == "*":
            stable = [r for r in releases if "-" not in r["vers"]]
            pick = stable[-1]
        else:
            pick = next(r for r in releases if r["vers"] == version)
        version = pick["vers"]
        url = f"https://static.crates.io/crates/{name}/{name}-{version}.crate"
        return version, url, pick["cksum"]
    if eco == "debian":
        if name not in debian:
            raise SystemExit(f"debian {name}: not a bookworm source package")
        v, directory, files = debian[name]
        orig = [f for f in files if re.search(r"\.orig\.tar\.", f[0])]
        if not orig:
            # A native package: its one tarball.
            orig = [f for f in files if re.search(r"\.tar\.(gz|xz|bz2)$", f[0])]
        # The main upstream tarball, not a component one (name.orig-COMP.tar).
        main = [f for f in orig if ".orig-" not in f[0]] or orig
        fname, sha, _ = main[0]
        return v, f"{DEBIAN}/{directory}/{fname}", sha
    raise SystemExit(f"unknown ecosystem {eco}")


def read_table(path):
    rows = []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        rows.append(line.split("\t"))
    return rows


def pin(args):
    rows = read_table(args.list)
    debian = debian_sources() if any(r[0] == "debian" for r in rows) else {}
    out = ["# Pinned by `tools/corpus/fetch.py pin` from packages.tsv:",
           "# ecosystem\tname\tversion\trole\turl\tsha256"]
    failed = []
    for eco, name, version, role in rows:
        if reserved_name(name) or name in RESERVED_PACKAGES.get(eco, ()):
            raise SystemExit(f"{eco} {name}: a reserved project (issue 15); remove it from the list")
        try:
            v, url, sha = pin_one(eco, name, version, debian)
        except (SystemExit, OSError, KeyError, IndexError, ValueError, StopIteration) as e:
            failed.append(f"{eco} {name}: {e}")
            continue
        out.append("\t".join([eco, name, v, role, url, sha]))
        print(f"{eco} {name} {v}", file=sys.stderr)
    if failed:
        raise SystemExit("not pinned (fix the list):\n  " + "\n  ".join(failed))
    with open(args.lock, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


def members(data, url):
    """(path, bytes) of every regular file of an archive."""
    if url.endswith(".zip") or url.endswith(".whl"):
        z = zipfile.ZipFile(io.BytesIO(data))
        for i in z.infolist():
            if not i.is_dir():
                yield i.filename, lambda i=i: z.read(i)
        return
    t = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
    for m in t:
        if m.isfile():
            yield m.name, lambda m=m: t.extractfile(m).read()


def keep(path, heldout_names):
    parts = path.split("/")
    ext = os.path.splitext(parts[-1])[1].lower()
    if ext not in SOURCE_EXT:
        return False
    low = parts[-1].lower()
    if ".min." in low or low.endswith(".bundle.js") or low.endswith(".d.ts"):
        return False
    for d in parts[1:-1]:
        dl = d.lower()
        if dl in ("node_modules", "vendor", "_vendor", "third_party", "thirdparty",
                  "3rdparty", "dist", "build"):
            return False
        if reserved_name(dl) or dl in heldout_names:
            return False
    if reserved_name(os.path.splitext(low)[0]):
        return False
    return True


def fetch(args):
    rows = read_table(args.lock)
    cache = os.path.join(args.to, "cache")
    os.makedirs(cache, exist_ok=True)
    heldout_names = {r[1].lower().split("/")[-1] for r in rows if r[3].startswith("heldout")}
    # Directory names a held-out project vendors under (e.g. `tokio`).
    heldout_names |= {n.replace("golang-github-", "").split("-")[-1] for n in heldout_names
                      if n.startswith("golang-")}
    heldout_names |= {n[len("node-"):] for n in heldout_names if n.startswith("node-")}
    total = 0
    missing = []
    for eco, name, version, role, url, sha in rows:
        if args.role and not role.startswith(args.role):
            continue
        if reserved_name(name) or name in RESERVED_PACKAGES.get(eco, ()):
            raise SystemExit(f"{eco} {name}: a reserved project (issue 15)")
        fname = os.path.join(cache, hashlib.sha256(url.encode()).hexdigest()[:16] + "-"
                             + url.rsplit("/", 1)[-1])
        if os.path.exists(fname):
            data = open(fname, "rb").read()
        else:
            try:
                data = get(url)
            except OSError as e:
                missing.append(f"{eco} {name} {version}: {url}: {e}")
                print(f"MISSING {eco} {name}: {e}", file=sys.stderr)
                continue
            with open(fname + ".part", "wb") as f:
                f.write(data)
            os.replace(fname + ".part", fname)
        got = hashlib.sha256(data).hexdigest()
        if got != sha:
            raise SystemExit(f"{url}: sha256 {got}, the lock says {sha}")
        safe = name.replace("/", "__").lstrip("@")
        if role == "train":
            dest = os.path.join(args.to, "train", f"{eco}-{safe}")
        else:
            dest = os.path.join(args.to, "heldout", role.split(":", 1)[1], f"{eco}-{safe}")
        if os.path.exists(dest):
            shutil.rmtree(dest)
        n = 0
        for path, read in members(data, url):
            path = path.lstrip("/")
            if ".." in path.split("/") or not keep(path, heldout_names if role == "train" else set()):
                continue
            # One directory per package: the archive's own top directory is
            # dropped (npm's `package/`, `name-version/`).
            rel = "/".join(path.split("/")[1:]) or path
            out = os.path.join(dest, rel)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "wb") as f:
                f.write(read())
            n += 1
        total += n
        print(f"{role}\t{eco}\t{name}\t{version}\t{n} files", file=sys.stderr)
    print(f"{total} source files under {args.to}", file=sys.stderr)
    if missing:
        raise SystemExit(f"{len(missing)} archives could not be downloaded:\n  "
                         + "\n  ".join(missing))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pin")
    p.add_argument("--list", default=os.path.join(here, "packages.tsv"))
    p.add_argument("--lock", default=os.path.join(here, "packages.lock.tsv"))
    f = sub.add_parser("fetch")
    f.add_argument("--lock", default=os.path.join(here, "packages.lock.tsv"))
    f.add_argument("--to", required=True)
    f.add_argument("--role", choices=["train", "heldout"])
    a = ap.parse_args()
    pin(a) if a.cmd == "pin" else fetch(a)


if __name__ == "__main__":
    main()
