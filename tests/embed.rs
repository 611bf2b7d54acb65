//! The built-in static embedder and `leann model distill` (issue 3, item 3a).

mod common;

use leann::embed::static_model::{StaticModel, BUILTIN_ID};
use leann::embed::Embedder;
use std::collections::HashMap;

#[test]
fn builtin_model_embeds_unit_vectors_deterministically() {
    let m = StaticModel::builtin().unwrap();
    assert_eq!(m.model_id(), BUILTIN_ID);
    assert_eq!(m.dim(), 256);
    let texts = [
        "fn parse_config(path: &Path) -> Config",
        "def connect(host, port):",
        "",
    ];
    let a = m.embed(&texts).unwrap();
    let b = m.embed(&texts).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 3 * 256);
    for row in a.chunks(256).take(2) {
        let n: f32 = row.iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-4, "norm {n}");
    }
    // No tokens: the zero vector, not NaN.
    assert!(a[512..].iter().all(|&x| x == 0.0));
}

/// Descriptions in words that do not occur in the code still rank the right
/// snippet among the first three of these eight, for every description.
#[test]
fn builtin_model_matches_descriptions_to_code() {
    let m = StaticModel::builtin().unwrap();
    let code = [
        "fn read_settings(p: &Path) -> Settings { let s = std::fs::read_to_string(p)?; toml::from_str(&s) }",
        "async fn fetch(url: &str) -> Response { reqwest::get(url).await?.json().await }",
        "def sha256_hex(data: bytes) -> str:\n    return hashlib.sha256(data).hexdigest()",
        "def open_db(dsn):\n    pool = psycopg2.pool.SimpleConnectionPool(1, 10, dsn)\n    return pool",
        "function debounce(fn, ms) { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; }",
        "func verifyJWT(tokenString string, key []byte) (*jwt.Token, error) { return jwt.Parse(tokenString, keyFunc) }",
        "void quicksort(int *a, int lo, int hi) { if (lo < hi) { int p = partition(a, lo, hi); quicksort(a, lo, p - 1); quicksort(a, p + 1, hi); } }",
        "public void sendEmail(String to, String subject, String body) { Transport.send(message); }",
    ];
    let queries = [
        (0, "load configuration from a file"),
        (1, "download json over the network"),
        (2, "compute a cryptographic digest"),
        (3, "database connection pooling"),
        (5, "authentication token validation"),
        (6, "sorting an array in place"),
        (7, "mail a message to a user"),
    ];
    let cv = m.embed(&code).unwrap();
    let qtexts: Vec<&str> = queries.iter().map(|q| q.1).collect();
    let qv = m.embed(&qtexts).unwrap();
    let mut misses = Vec::new();
    for (qi, (want, q)) in queries.iter().enumerate() {
        let qrow = &qv[qi * 256..(qi + 1) * 256];
        let mut scored: Vec<(f32, usize)> = (0..code.len())
            .map(|c| {
                (
                    leann::ann::distance::dot(qrow, &cv[c * 256..(c + 1) * 256]),
                    c,
                )
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let rank = scored.iter().position(|s| s.1 == *want).unwrap();
        if rank >= 3 {
            misses.push((q, rank));
        }
    }
    assert!(
        misses.is_empty(),
        "descriptions ranked their code below 3rd: {misses:?}"
    );
}

/// Distillation end to end on a tiny random BERT (hidden 8, one layer) with
/// the shipped tokenizer: the output loads as a static model of the asked size.
#[test]
fn distill_makes_a_loadable_static_model() {
    let d = common::tempdir();
    let src = d.path().join("tiny-bert");
    let (vocab, h) = (30522usize, 8usize);
    common::tiny_bert(&src, "", None, 3);

    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let out = d.path().join("static");
    let rep =
        leann::embed::train::distill::distill(st.as_ref(), &src, &out, 4, 1e-4, &|_| {}).unwrap();
    assert_eq!((rep.vocab, rep.dim_in, rep.dims), (vocab, h, 4));
    assert!(rep.variance_kept > 0.0 && rep.variance_kept <= 1.0 + 1e-9);
    let m = StaticModel::load_dir(st.as_ref(), &out).unwrap();
    assert_eq!(m.dim(), 4);
    let v = m.embed(&["hello world"]).unwrap();
    assert!((v.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4);

    // A directory without the weights is an error naming the file.
    std::fs::remove_file(src.join("model.safetensors")).unwrap();
    let e = leann::embed::train::distill::distill(st.as_ref(), &src, &out, 4, 1e-4, &|_| {})
        .unwrap_err();
    assert!(e.to_string().contains("model.safetensors"), "{e}");
}

/// The ASCII fast path gives exactly the tokenizers crate's ids: on every
/// file of this repository (cut into chunks) and on edge cases.
#[test]
fn fast_wordpiece_matches_the_tokenizers_crate() {
    let mut m = StaticModel::builtin().unwrap();
    assert!(
        m.has_fast_path(),
        "the built-in tokenizer should take the fast path"
    );
    let mut texts: Vec<String> = vec![
        "HttpClient::send(&req)?.json::<Value>()".into(),
        "snake_case_identifier camelCaseIdentifier ALLCAPS 12345 3.14e-10".into(),
        "tabs\tand\nnewlines\r\nand \x0b vertical \x0c feed \x7f del \x01 ctrl".into(),
        "a".repeat(150),
        "xqzjvk qqqq zzzzzzzz ##hash [notspecial] <tag attr=\"v\"> @decorator #[derive(Debug)]"
            .into(),
        "".into(),
        "   ".into(),
        "non-ascii café and [CLS] go the slow path".into(),
    ];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let (files, _) = leann::chunk::walk(root, &leann::chunk::WalkOptions::default()).unwrap();
    for f in files.iter().filter(|f| !f.rel.starts_with("target/")) {
        if let Ok(t) = std::fs::read_to_string(&f.abs) {
            for c in leann::chunk::chunk_text(&f.rel, f.language, &t) {
                texts.push(c.text);
            }
        }
    }
    assert!(texts.len() > 100, "too few texts: {}", texts.len());
    let mut ids = Vec::new();
    // Both with identifiers split at case changes and without.
    for split in [false, true] {
        m.set_split_identifiers(split);
        for t in &texts {
            m.token_ids(t, &mut ids).unwrap();
            assert_eq!(
                ids,
                m.reference_token_ids(t).unwrap(),
                "split {split}, text: {t:?}"
            );
        }
    }
    // Splitting changes camelCase (and only that) in the sample.
    m.set_split_identifiers(false);
    let mut whole = Vec::new();
    m.token_ids("getUserName", &mut whole).unwrap();
    m.set_split_identifiers(true);
    m.token_ids("getUserName", &mut ids).unwrap();
    let mut words = Vec::new();
    m.token_ids("get user name", &mut words).unwrap();
    assert_eq!(ids, words);
    assert_ne!(whole, words, "WordPiece alone keeps getusername one word");
}

/// A corpus of documented Python functions, `n` files: each docstring names
/// what the function computes in words, the code in other words.
fn documented_corpus(dir: &std::path::Path, n: usize) {
    let things = [
        ("price", "cost"),
        ("user", "account"),
        ("file", "path"),
        ("socket", "conn"),
        ("image", "pixels"),
        ("date", "timestamp"),
        ("color", "rgb"),
        ("matrix", "grid"),
    ];
    let verbs = [
        ("Compute", "calc"),
        ("Load", "read"),
        ("Store", "write"),
        ("Validate", "check"),
        ("Render", "draw"),
    ];
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let (w, c) = things[i % things.len()];
        let (v, cv) = verbs[(i / things.len()) % verbs.len()];
        let src = format!(
            "def {cv}_{c}_{i}(x):\n    \"\"\"{v} the {w} for record number {i}.\n\n    More.\n    \"\"\"\n    y = {cv}({c}(x))\n    return y\n"
        );
        std::fs::write(dir.join(format!("m{i}.py")), src).unwrap();
    }
}

/// `leann model reweight` then `leann model train` on a small corpus: the
/// outputs load, the weights zero punctuation, the training loss falls, and
/// too small a corpus or a bad `weights` tensor is refused by name.
#[test]
fn reweight_and_train_make_loadable_models() {
    let d = common::tempdir();
    let st = leann::io::open_storage(leann::io::Backend::Pread).unwrap();
    let corpus = d.path().join("corpus");
    documented_corpus(&corpus, 80);
    let builtin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/builtin");
    let rw = d.path().join("rw");
    let r = leann::embed::train::reweight::reweight(
        st.as_ref(),
        &builtin,
        &rw,
        std::slice::from_ref(&corpus),
        3e-3,
        false,
        &|_| {},
    )
    .unwrap();
    assert_eq!(r.files, 80);
    assert!(r.tokens > 1000 && r.zeroed > 100, "{r:?}");
    let m = StaticModel::load_dir(st.as_ref(), &rw).unwrap();
    // Punctuation weighs nothing now: a text of it alone is the zero vector.
    let v = m.embed(&["( ) : = ,"]).unwrap();
    assert!(v.iter().all(|&x| x == 0.0));

    let tr = d.path().join("trained");
    let o = leann::embed::train::TrainOptions {
        steps: 40,
        batch: 16,
        held_out: 16,
        ..Default::default()
    };
    let rep = leann::embed::train::train(
        st.as_ref(),
        &rw,
        &tr,
        std::slice::from_ref(&corpus),
        &o,
        &|_| {},
    )
    .unwrap();
    assert_eq!(rep.pairs, 80);
    assert!(rep.loss_last < rep.loss_first, "{rep:?}");
    let t = StaticModel::load_dir(st.as_ref(), &tr).unwrap();
    assert_eq!(t.dim(), 256);
    let v = t.embed(&["load the user"]).unwrap();
    assert!((v.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4);

    // Too few pairs for a batch plus the held-out share.
    let small = d.path().join("small");
    documented_corpus(&small, 5);
    let e = leann::embed::train::train(st.as_ref(), &rw, &tr, &[small], &o, &|_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("5 documented functions"), "{e}");

    // A `weights` tensor of the wrong length is refused, naming the file.
    let bytes = std::fs::read(rw.join("model.safetensors")).unwrap();
    let stt = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let short = [0u8; 8];
    let mut views: Vec<(String, safetensors::tensor::TensorView<'_>)> = stt
        .tensors()
        .into_iter()
        .filter(|(n, _)| n != "weights")
        .collect();
    views.push((
        "weights".into(),
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &short).unwrap(),
    ));
    let bad = d.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::copy(rw.join("tokenizer.json"), bad.join("tokenizer.json")).unwrap();
    std::fs::write(
        bad.join("model.safetensors"),
        safetensors::serialize(views, None::<HashMap<String, String>>).unwrap(),
    )
    .unwrap();
    let e = match StaticModel::load_dir(st.as_ref(), &bad) {
        Ok(_) => panic!("a short weights tensor loaded"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("model.safetensors") && e.contains("weights"),
        "{e}"
    );
}
