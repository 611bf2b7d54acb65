//! The lexical side of hybrid retrieval: Okapi BM25 over code-aware tokens
//! (`tokens`).

pub mod packed;
pub mod segment;
pub mod tokens;

use std::collections::HashMap;

/// BM25 parameters (the usual defaults).
pub const BM25_K1: f32 = 1.2;
pub const BM25_B: f32 = 0.75;

/// An in-memory inverted index: per term, (document, term frequency).
#[derive(Debug, Default)]
pub struct Bm25 {
    terms: HashMap<String, u32>,
    postings: Vec<Vec<(u32, u32)>>,
    doc_len: Vec<u32>,
    total_len: u64,
}

impl Bm25 {
    /// Add the next document (its id is the number of documents before it).
    pub fn add(&mut self, toks: &[String]) -> u32 {
        let doc = self.doc_len.len() as u32;
        let mut tf: HashMap<&str, u32> = HashMap::new();
        for t in toks {
            *tf.entry(t.as_str()).or_default() += 1;
        }
        for (t, n) in tf {
            let id = match self.terms.get(t) {
                Some(&id) => id,
                None => {
                    let id = self.postings.len() as u32;
                    self.terms.insert(t.to_string(), id);
                    self.postings.push(Vec::new());
                    id
                }
            };
            self.postings[id as usize].push((doc, n));
        }
        self.doc_len.push(toks.len() as u32);
        self.total_len += toks.len() as u64;
        doc
    }

    pub fn len(&self) -> usize {
        self.doc_len.len()
    }

    pub fn is_empty(&self) -> bool {
        self.doc_len.is_empty()
    }

    /// The best `k` documents `allow` accepts for the query tokens: (score,
    /// document), best first (ties by document).
    pub fn search(
        &self,
        query: &[String],
        k: usize,
        allow: &dyn Fn(u32) -> bool,
    ) -> Vec<(f32, u32)> {
        let n = self.doc_len.len() as f32;
        if n == 0.0 {
            return Vec::new();
        }
        let avgdl = self.total_len as f32 / n;
        let mut seen = std::collections::HashSet::new();
        let mut acc: HashMap<u32, f32> = HashMap::new();
        for t in query {
            if !seen.insert(t.as_str()) {
                continue;
            }
            let Some(&id) = self.terms.get(t.as_str()) else {
                continue;
            };
            let p = &self.postings[id as usize];
            let df = p.len() as f32;
            let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
            for &(doc, tf) in p {
                let tf = tf as f32;
                let dl = self.doc_len[doc as usize] as f32;
                let s = idf * tf * (BM25_K1 + 1.0)
                    / (tf + BM25_K1 * (1.0 - BM25_B + BM25_B * dl / avgdl));
                *acc.entry(doc).or_default() += s;
            }
        }
        let mut all: Vec<(f32, u32)> = acc
            .into_iter()
            .filter(|(d, _)| allow(*d))
            .map(|(d, s)| (s, d))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        all.truncate(k);
        all
    }
}
