//! `--mode rerank` with models that need no download (issue 5, item 4): a
//! cross-encoder and a transformer made of tiny random BERTs. The scores of
//! all-MiniLM-L6-v2 itself are checked in tests/transformer.rs.

mod common;

use candle_core::{DType, Device, IndexOp, Tensor};
use leann::embed::bert::BertEmbedder;
use leann::embed::cross::CrossEncoder;
use leann::search::rerank::{rank_fusion, Reranker};
use std::path::Path;

fn storage() -> std::sync::Arc<dyn leann::io::Storage> {
    leann::io::open_storage(leann::io::Backend::Pread).unwrap()
}

/// The classifier's logit for one (question, text) pair, worked out here:
/// candle's BERT for the hidden states, then the [CLS] position through the
/// pooler (tanh) and the classifier from the raw tensors.
fn reference_logit(
    dir: &Path,
    t: &std::collections::HashMap<String, (Vec<usize>, Vec<f32>)>,
    q: &str,
    text: &str,
) -> f32 {
    let mut tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    tok.with_padding(None);
    tok.with_truncation(Some(tokenizers::TruncationParams {
        max_length: 16,
        ..Default::default()
    }))
    .unwrap();
    let e = tok.encode((q, text), true).unwrap();
    let n = e.get_ids().len();
    let dev = Device::Cpu;
    let ids = Tensor::from_vec(e.get_ids().to_vec(), (1, n), &dev).unwrap();
    let types = Tensor::from_vec(e.get_type_ids().to_vec(), (1, n), &dev).unwrap();
    let config: candle_transformers::models::bert::Config =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let vb = candle_nn::VarBuilder::from_buffered_safetensors(bytes, DType::F32, &dev).unwrap();
    let m = candle_transformers::models::bert::BertModel::load(vb, &config).unwrap();
    let hidden = m.forward(&ids, &types, None).unwrap();
    let cls: Vec<f32> = hidden.i((0, 0)).unwrap().to_vec1().unwrap();
    let (pw, pb) = (
        &t["bert.pooler.dense.weight"].1,
        &t["bert.pooler.dense.bias"].1,
    );
    let h = cls.len();
    let pooled: Vec<f32> = (0..h)
        .map(|o| (pb[o] + (0..h).map(|i| pw[o * h + i] * cls[i]).sum::<f32>()).tanh())
        .collect();
    let (cw, cb) = (&t["classifier.weight"].1, &t["classifier.bias"].1);
    cb[0] + (0..h).map(|i| cw[i] * pooled[i]).sum::<f32>()
}

#[test]
fn cross_encoder_scores_pairs_with_its_classifier_head() {
    let d = common::tempdir();
    let dir = d.path().join("cross");
    let t = common::tiny_bert(&dir, "bert.", Some(1), 7);
    let st = storage();
    let c = CrossEncoder::load(st.as_ref(), &dir).unwrap();
    assert!(
        c.model_id().starts_with("cross-encoder:cross:"),
        "{}",
        c.model_id()
    );
    assert_eq!(c.max_tokens(), 16);
    let q = "open the database connection";
    let texts = [
        "def connect(url): return Engine(url)",
        "x",
        "a much longer text that the tokenizer cuts at sixteen tokens, the question kept whole",
        "fn send(&self, req: Request) -> Response",
    ];
    // In one batch (sorted by length and padded) as one by one.
    let all = c.score(q, &texts).unwrap();
    assert_eq!(all.len(), texts.len());
    for (i, text) in texts.iter().enumerate() {
        let one = c.score(q, &[text]).unwrap()[0];
        assert!((one - all[i]).abs() < 1e-5, "{i}: {one} vs {}", all[i]);
        let want = reference_logit(&dir, &t, q, text);
        assert!(
            (want - all[i]).abs() < 1e-4,
            "{i}: {} vs reference {want}",
            all[i]
        );
    }
    // The texts are told apart (a head that ignored them would tie).
    assert!(
        all.windows(2).any(|w| (w[0] - w[1]).abs() > 1e-4),
        "{all:?}"
    );
}

#[test]
fn cross_encoder_refuses_a_model_without_a_one_label_head() {
    let d = common::tempdir();
    let st = storage();
    // A sentence-transformers directory: no pooler, no classifier.
    let plain = d.path().join("plain");
    common::tiny_bert(&plain, "", None, 1);
    let e = CrossEncoder::load(st.as_ref(), &plain).err().unwrap();
    let msg = e.to_string();
    assert!(
        msg.contains("model.safetensors") && msg.contains("classifier"),
        "{msg}"
    );
    // Two labels: not a relevance score.
    let two = d.path().join("two");
    common::tiny_bert(&two, "bert.", Some(2), 1);
    let msg = CrossEncoder::load(st.as_ref(), &two)
        .err()
        .unwrap()
        .to_string();
    assert!(
        msg.contains("classifier.weight") && msg.contains("one label"),
        "{msg}"
    );
}

#[test]
fn reranker_fuses_the_first_order_with_each_model() {
    let d = common::tempdir();
    let st = storage();
    let (bi, cross) = (d.path().join("bi"), d.path().join("cross"));
    common::tiny_bert(&bi, "", None, 11);
    common::tiny_bert(&cross, "bert.", Some(1), 12);
    let r = Reranker::load(st.as_ref(), &bi, Some(&cross)).unwrap();
    let q = "parse the config file";
    let texts = [
        "def parse(path): ...",
        "class Config:",
        "README",
        "fn main() {}",
        "x = 1",
    ];
    let scores = r.scores(q, &texts).unwrap();
    assert_eq!(scores.len(), 2, "the transformer's and the cross-encoder's");
    // The transformer's scores are its cosines.
    let m = BertEmbedder::load(st.as_ref(), &bi).unwrap();
    use leann::embed::Embedder;
    let qv = m.embed(&[q]).unwrap();
    let tv = m.embed(&texts).unwrap();
    for (i, s) in scores[0].iter().enumerate() {
        let c = leann::ann::distance::dot(&qv, &tv[i * 8..(i + 1) * 8]);
        assert!((c - s).abs() < 1e-5, "{i}: {s} vs {c}");
    }
    let c = CrossEncoder::load(st.as_ref(), &cross).unwrap();
    assert_eq!(scores[1], c.score(q, &texts).unwrap());
    assert_eq!(
        r.rerank(q, &texts).unwrap(),
        rank_fusion(texts.len(), &scores)
    );
}

/// The models come from the index's config when no flag names them; a
/// config naming a directory that is not a model is refused at create.
#[test]
fn rerank_models_come_from_the_config() {
    let d = common::tempdir();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/relevance_repo");
    let models = d.path().join("models");
    common::tiny_bert(&models.join("bi"), "", None, 21);
    common::tiny_bert(&models.join("cross"), "bert.", Some(1), 22);
    let cfg = models.join("leann.json");
    // Relative to the config file's directory.
    std::fs::write(
        &cfg,
        r#"{"search": {"rerankModel": "bi", "crossEncoder": "cross"}}"#,
    )
    .unwrap();
    let idx = d.path().join("idx");
    common::create_index(&repo, &idx, Some(&cfg));
    let idx_s = idx.to_str().unwrap();
    let q = "the sequence where each term adds the previous two";
    let query = |extra: &[&str]| {
        let mut a = vec!["query", "--index", idx_s, "--query", q, "--format", "json"];
        a.extend_from_slice(extra);
        common::leann(&a)
    };
    let span = |r: &serde_json::Value| (r["path"].to_string(), r["start_line"].as_u64().unwrap());
    let first: Vec<_> = common::items(&common::ok_json(&query(&["--top-k", "8"])))
        .iter()
        .map(span)
        .collect();
    let v = common::ok_json(&query(&[
        "--mode",
        "rerank",
        "--rerank-candidates",
        "8",
        "--top-k",
        "5",
    ]));
    let res = &common::items(&v);
    assert_eq!(res.len(), 5);
    let scores: Vec<f64> = res.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    // The first stage's best 8, reordered.
    for r in res {
        assert!(first.contains(&span(r)), "{r} not in the first stage's 8");
    }
    // Fused over three orders (first stage, transformer, cross-encoder):
    // every score lies between 3 / (K + 8) and 3 / (K + 1).
    let k = leann::search::rerank::RERANK_RRF_K as f64;
    for s in &scores {
        assert!(
            *s <= 3.0 / (k + 1.0) + 1e-6 && *s >= 3.0 / (k + 8.0) - 1e-6,
            "{s}"
        );
    }
    // The flag overrides the config: a directory that is not a model fails
    // and the error names it.
    let bad = d.path().join("nothing-here");
    let out = query(&["--mode", "rerank", "--rerank-model", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing-here"));

    // A config naming a missing model is refused at create, naming the field.
    std::fs::write(&cfg, r#"{"search": {"crossEncoder": "missing"}}"#).unwrap();
    let idx2 = d.path().join("idx2");
    let (repo_s, idx2_s, cfg_s) = (
        repo.to_str().unwrap(),
        idx2.to_str().unwrap(),
        cfg.to_str().unwrap(),
    );
    let out = common::leann(&[
        "index", "create", "--input", repo_s, "--output", idx2_s, "--config", cfg_s,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("search.crossEncoder") && err.contains("missing"),
        "{err}"
    );

    // An index without rerank models: rerank mode says where to set one.
    let idx3 = d.path().join("idx3");
    common::create_index(&repo, &idx3, None);
    let out = common::leann(&[
        "query",
        "--index",
        idx3.to_str().unwrap(),
        "--query",
        q,
        "--mode",
        "rerank",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--rerank-model") && err.contains("search.rerankModel"),
        "{err}"
    );
}
