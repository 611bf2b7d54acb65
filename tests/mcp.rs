//! `leann mcp` with a real MCP client (issue 17 §3): the PyPI `mcp`
//! package's stdio client (tests/py/mcp_client.py) lists the tools and calls
//! each. The client's Python is `LEANN_MCP_PYTHON` (a virtual environment
//! .ci/run makes); without it the test says so and passes, unless
//! `LEANN_REQUIRE_MCP` is set (as .ci/run sets it).

mod common;

use std::fs;
use std::path::Path;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

#[test]
fn mcp_client_lists_and_calls_every_tool() {
    let Some(python) = std::env::var_os("LEANN_MCP_PYTHON") else {
        assert!(
            std::env::var_os("LEANN_REQUIRE_MCP").is_none(),
            "LEANN_REQUIRE_MCP is set but LEANN_MCP_PYTHON (a Python with the `mcp` package) is not"
        );
        eprintln!("LEANN_MCP_PYTHON not set: skipped");
        return;
    };
    let d = common::tempdir();
    let t = d.path().join("tree");
    write(
        &t,
        "src/auth/jwt.rs",
        "/// Check the signature and expiry of a bearer token.\npub fn verify_token(token: &str) -> bool {\n    !token.is_empty() && token.split('.').count() == 3\n}\n",
    );
    write(
        &t,
        "scripts/retry.py",
        "import time\n\n\ndef with_backoff(fn, attempts=5):\n    \"\"\"Call fn again after failures, sleeping longer each time.\"\"\"\n    for i in range(attempts):\n        try:\n            return fn()\n        except OSError:\n            time.sleep(0.1 * 2 ** i)\n",
    );
    write(
        &t,
        "web/format.js",
        "// Format a price in euros with two decimals.\nexport function formatPrice(cents) {\n  return (cents / 100).toFixed(2) + ' EUR';\n}\n",
    );
    let idx = d.path().join("idx");
    common::create_index(&t, &idx, None);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/mcp_client.py");
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_leann"))
        .arg(&idx)
        .arg(&t)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["server"], "leann");
    assert_eq!(
        v["tools"],
        serde_json::json!(["search", "status", "update"])
    );
    for f in ["query", "top_k", "languages", "paths", "mode"] {
        assert!(
            v["search_schema"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == f),
            "{f} not in the search tool's schema: {}",
            v["search_schema"]
        );
    }
    let s = &v["search"];
    assert_eq!(s["is_error"], false, "{s}");
    let items = s["content"]["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["item"]["path"], "src/auth/jwt.rs");
    assert_eq!(items[0]["item"]["startLine"], 1);
    assert!(items[0]["text"]
        .as_str()
        .unwrap()
        .contains("fn verify_token"));
    let f = &v["filtered"]["content"]["items"];
    assert!(!f.as_array().unwrap().is_empty(), "{}", v["filtered"]);
    assert!(f
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["item"]["language"] == "python"));
    assert_eq!(v["bad"]["is_error"], true);
    assert!(
        v["bad"]["text"].as_str().unwrap().contains("top_k"),
        "{}",
        v["bad"]
    );
    let st = &v["status"]["content"];
    assert_eq!(v["status"]["is_error"], false);
    assert!(st["stats"]["mainIndexSize"].as_u64().unwrap() > 0, "{st}");
    assert_eq!(st["watch"]["enabled"], false);
    let u = &v["update"];
    assert_eq!(u["is_error"], false, "{u}");
    assert_eq!(u["content"]["filesAdded"], 1, "{u}");
    let a = &v["after_update"]["content"]["items"];
    assert_eq!(a[0]["item"]["path"], "src/zoo.rs", "{}", v["after_update"]);
    // The update went through the index: a fresh process sees it too.
    let q = common::ok_json(&common::leann(&[
        "query",
        "--index",
        idx.to_str().unwrap(),
        "--query",
        "feed the okapi",
        "--top-k",
        "1",
        "--format",
        "json",
    ]));
    assert_eq!(common::items(&q)[0]["path"], "src/zoo.rs");
}
