//! Shared helpers for integration tests: generated clustered data and brute
//! force ground truth.
#![allow(dead_code)]

use leann::ann::distance::Metric;
use leann::bench::synth::Mixture;
use leann::engine::data::{VecVectors, VectorSource};

/// `n` unit vectors of dimension `dim` from a mixture of `clusters` low-rank
/// Gaussians (leann::bench::synth::Mixture; rank 8, spread 0.6, noise 0.05).
pub fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> VecVectors {
    let m = Mixture::new(dim, clusters, 8, 0.6, 0.05, seed);
    VecVectors {
        data: m.points(1, 0..n as u64),
        dim,
    }
}

/// Queries from the same mixture as `clustered(.., seed)`, a different stream.
pub fn queries(n: usize, dim: usize, clusters: usize, seed: u64) -> VecVectors {
    let m = Mixture::new(dim, clusters, 8, 0.6, 0.05, seed);
    VecVectors {
        data: m.points(2, 0..n as u64),
        dim,
    }
}

/// Mean tie-aware recall@k of `results` (external ids = base positions).
pub fn mean_recall(
    base: &dyn VectorSource,
    qs: &dyn VectorSource,
    results: &[Vec<u64>],
    k: usize,
    metric: Metric,
) -> f64 {
    let gt = leann::bench::harness::brute_force(base, qs, k, metric);
    let mut s = 0.0;
    for i in 0..qs.len() {
        s += leann::bench::harness::recall_at(k, qs.vector(i), &results[i], &gt[i], base, metric);
    }
    s / qs.len() as f64
}

/// A temporary directory under target/ (the project's own file system,
/// not a tmpfs /tmp), for tests that need O_DIRECT.
pub fn disk_tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("leann-test")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir under target/")
}

/// O_DIRECT was refused in `dir`: fail, unless LEANN_ALLOW_NO_O_DIRECT=1
/// says this machine's file system cannot do it.
pub fn no_o_direct(dir: &std::path::Path, e: &dyn std::fmt::Display) {
    assert!(
        std::env::var("LEANN_ALLOW_NO_O_DIRECT").is_ok_and(|v| v == "1"),
        "O_DIRECT refused in {} ({e}); the O_DIRECT tests need a file system that supports it (set LEANN_ALLOW_NO_O_DIRECT=1 to skip them knowingly)",
        dir.display()
    );
    eprintln!(
        "O_DIRECT not supported in {}, skipped (LEANN_ALLOW_NO_O_DIRECT=1): {e}",
        dir.display()
    );
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("leann-test")
        .tempdir()
        .expect("temp dir")
}

/// A tiny random BERT directory (hidden 8, one layer, two heads, the shipped
/// tokenizer) at `dir`: config.json, tokenizer.json, model.safetensors.
/// `prefix` goes before the tensor names (`""` as sentence-transformers
/// writes them, `"bert."` as a sequence classifier does); `labels` adds a
/// pooler and a classifier of that many labels. Returns every tensor by name
/// (shape, values).
pub fn tiny_bert(
    dir: &std::path::Path,
    prefix: &str,
    labels: Option<usize>,
    seed: u64,
) -> std::collections::HashMap<String, (Vec<usize>, Vec<f32>)> {
    std::fs::create_dir_all(dir).unwrap();
    let (vocab, h, inter, pos) = (30522usize, 8usize, 16usize, 16usize);
    let config = serde_json::json!({
        "vocab_size": vocab, "hidden_size": h, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": inter, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
        "max_position_embeddings": pos, "type_vocab_size": 2, "initializer_range": 0.02,
        "layer_norm_eps": 1e-12, "pad_token_id": 0, "position_embedding_type": "absolute",
        "model_type": "bert"
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/models/builtin/tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .unwrap();
    // Inputs longer than the position table are cut by the tokenizer.
    std::fs::write(
        dir.join("sentence_bert_config.json"),
        serde_json::json!({ "max_seq_length": pos }).to_string(),
    )
    .unwrap();
    let mut rng = leann::ann::rng::Rng::new(seed);
    let mut tensors = std::collections::HashMap::new();
    let mut add = |name: String, shape: Vec<usize>, ones: bool| {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n)
            .map(|_| if ones { 1.0 } else { rng.normal() * 0.1 })
            .collect();
        tensors.insert(name, (shape, data));
    };
    let e = format!("{prefix}embeddings");
    add(format!("{e}.word_embeddings.weight"), vec![vocab, h], false);
    add(
        format!("{e}.position_embeddings.weight"),
        vec![pos, h],
        false,
    );
    add(
        format!("{e}.token_type_embeddings.weight"),
        vec![2, h],
        false,
    );
    add(format!("{e}.LayerNorm.weight"), vec![h], true);
    add(format!("{e}.LayerNorm.bias"), vec![h], false);
    let l = format!("{prefix}encoder.layer.0");
    for p in ["query", "key", "value"] {
        add(format!("{l}.attention.self.{p}.weight"), vec![h, h], false);
        add(format!("{l}.attention.self.{p}.bias"), vec![h], false);
    }
    for (name, shape, ones) in [
        ("attention.output.dense.weight", vec![h, h], false),
        ("attention.output.dense.bias", vec![h], false),
        ("attention.output.LayerNorm.weight", vec![h], true),
        ("attention.output.LayerNorm.bias", vec![h], false),
        ("intermediate.dense.weight", vec![inter, h], false),
        ("intermediate.dense.bias", vec![inter], false),
        ("output.dense.weight", vec![h, inter], false),
        ("output.dense.bias", vec![h], false),
        ("output.LayerNorm.weight", vec![h], true),
        ("output.LayerNorm.bias", vec![h], false),
    ] {
        add(format!("{l}.{name}"), shape, ones);
    }
    if let Some(n) = labels {
        add(format!("{prefix}pooler.dense.weight"), vec![h, h], false);
        add(format!("{prefix}pooler.dense.bias"), vec![h], false);
        add("classifier.weight".into(), vec![n, h], false);
        add("classifier.bias".into(), vec![n], false);
    }
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, (s, v))| {
            let b = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            (n.clone(), s.clone(), b)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(n, s, b)| {
            let v = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                .unwrap();
            (n.clone(), v)
        })
        .collect();
    let st =
        safetensors::serialize(views, None::<std::collections::HashMap<String, String>>).unwrap();
    std::fs::write(dir.join("model.safetensors"), st).unwrap();
    tensors
}

/// Run the leann binary with `args`.
pub fn leann(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_leann"))
        .args(args)
        .output()
        .unwrap()
}

/// The JSON a run printed, asserting that it exited 0 (its stderr shown
/// when not).
pub fn ok_json(out: &std::process::Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The results of a `query --format json` object, a `--batch` line or a
/// `/search` answer, in the shared shape (README.md "Results as JSON":
/// `{"items": [{"item": {"path", "startLine", "endLine", "language",
/// "symbol"}, "score", "preview", "stale"}], "latency": ms}`), each checked
/// and flattened to `{path, start_line, end_line, language, symbol, score,
/// preview, stale}` for the assertions.
#[allow(dead_code)]
pub fn items(v: &serde_json::Value) -> Vec<serde_json::Value> {
    assert!(v["latency"].as_f64().is_some(), "no latency in {v}");
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {v}"))
        .iter()
        .map(|r| {
            let it = &r["item"];
            for k in ["path", "language"] {
                assert!(it[k].is_string(), "item.{k} in {r}");
            }
            assert!(it["symbol"].is_string() || it["symbol"].is_null(), "{r}");
            assert!(r["preview"].is_string() && r["stale"].is_boolean(), "{r}");
            serde_json::json!({
                "path": it["path"],
                "start_line": it["startLine"].as_u64().expect("item.startLine"),
                "end_line": it["endLine"].as_u64().expect("item.endLine"),
                "language": it["language"],
                "symbol": it["symbol"],
                "score": r["score"].as_f64().expect("score"),
                "preview": r["preview"],
                "stale": r["stale"],
            })
        })
        .collect()
}

/// The arguments of `leann index create --input input --output output
/// EXTRA...`.
pub fn create_args<'a>(
    input: &'a std::path::Path,
    output: &'a std::path::Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "index",
        "create",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args
}

/// `leann index create --input tree --output index [--config config]`,
/// asserting that it succeeded.
pub fn create_index(
    tree: &std::path::Path,
    index: &std::path::Path,
    config: Option<&std::path::Path>,
) {
    let mut args = create_args(tree, index, &[]);
    if let Some(c) = config {
        args.extend(["--config", c.to_str().unwrap()]);
    }
    let out = leann(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
