//! Project-held-out evaluation sets (issue 15): from whole projects never
//! trained on, laid out as `FROM/LANGUAGE/PROJECT/...`, write
//! `TO/LANGUAGE/PROJECT/...` with every documented function's docstring or
//! doc comment blanked to its newlines, and `TO/LANGUAGE/relevance.jsonl`:
//! the first sentence of each removed doc as the question, the function's
//! file and lines as the answer (the format of dev-relevance, scored by
//! `leann eval` or `score_relevance.py`). An index of `TO/LANGUAGE` then
//! answers the questions from code whose docs it never saw.

use super::pairs::{blank_docs, file_pairs, PAIR_LANGUAGES};
use crate::ann::rng::Rng;
use crate::chunk::{read_source, walk, Language, WalkOptions};
use crate::error::{Error, Result};
use crate::io::Storage;
use rayon::prelude::*;
use std::path::Path;

/// One language's set.
#[derive(Clone, Debug, serde::Serialize)]
pub struct HeldoutSet {
    pub language: String,
    pub projects: Vec<String>,
    pub files: usize,
    /// Documented functions found (before sampling).
    pub pairs: usize,
    /// Questions written (at most `max_questions`).
    pub questions: usize,
}

struct Found {
    project: String,
    path: String,
    question: String,
    lines: (u32, u32),
}

/// Build the held-out sets of every language directory under `from`.
pub fn make_heldout(
    storage: &dyn Storage,
    from: &Path,
    to: &Path,
    max_questions: usize,
    seed: u64,
) -> Result<Vec<HeldoutSet>> {
    let mut out = Vec::new();
    for language in sorted_dirs(storage, from)? {
        let mut found = Vec::new();
        let mut files = 0;
        let projects = sorted_dirs(storage, &from.join(&language))?;
        for project in &projects {
            let root = from.join(&language).join(project);
            let opts = WalkOptions {
                languages: PAIR_LANGUAGES.to_vec(),
                ..WalkOptions::default()
            };
            let (entries, _) = walk(&root, &opts)?;
            files += entries.len();
            let dest = to.join(&language).join(project);
            let asked = languages_of(&language);
            let per_file: Vec<Result<Vec<Found>>> = entries
                .par_iter()
                .map(|e| {
                    let text = read_source(storage, &e.abs).unwrap_or_default();
                    let pairs = file_pairs(&e.rel, e.language, &text);
                    let out = dest.join(&e.rel);
                    if let Some(parent) = out.parent() {
                        storage.create_dir_all(parent)?;
                    }
                    storage.write_atomic(&out, blank_docs(&text, &pairs).as_bytes())?;
                    // Questions come from the set's own language and from
                    // product code (the other files stay in the tree).
                    let ask =
                        asked.as_ref().is_none_or(|a| a.contains(&e.language)) && !is_test(&e.rel);
                    Ok(pairs
                        .into_iter()
                        .filter(|p| ask && is_prose(&p.question))
                        .map(|p| Found {
                            project: project.clone(),
                            path: e.rel.clone(),
                            question: p.question,
                            lines: p.lines,
                        })
                        .collect())
                })
                .collect();
            for f in per_file {
                found.extend(f?);
            }
        }
        let pairs = found.len();
        // Questions asked twice (overloads, copies) have no one answer.
        found.sort_by(|a, b| {
            (&a.question, &a.project, &a.path).cmp(&(&b.question, &b.project, &b.path))
        });
        let mut kept = Vec::with_capacity(found.len());
        let mut it = found.into_iter().peekable();
        while let Some(f) = it.next() {
            let mut twice = false;
            while it.next_if(|g| g.question == f.question).is_some() {
                twice = true;
            }
            if !twice {
                kept.push(f);
            }
        }
        Rng::new(seed).shuffle(&mut kept);
        kept.truncate(max_questions);
        let mut jsonl = String::new();
        for (i, f) in kept.iter().enumerate() {
            let line = serde_json::json!({
                "id": format!("{language}-{i}"),
                "query": f.question,
                "repo": f.project,
                "path": f.path,
                "start_line": f.lines.0,
                "end_line": f.lines.1,
            });
            jsonl.push_str(&line.to_string());
            jsonl.push('\n');
        }
        storage.write_atomic(
            &to.join(&language).join("relevance.jsonl"),
            jsonl.as_bytes(),
        )?;
        // The questions are text: kept out of the index of the set (a
        // question would find itself).
        storage.write_atomic(
            &to.join(&language).join(".leannignore"),
            b"/relevance.jsonl\n",
        )?;
        out.push(HeldoutSet {
            language,
            projects,
            files,
            pairs,
            questions: kept.len(),
        });
    }
    if out.is_empty() {
        return Err(Error::input(
            from,
            format!(
                "{}: no language directories (expected FROM/LANGUAGE/PROJECT/...)",
                from.display()
            ),
        ));
    }
    Ok(out)
}

/// The languages a set named `dir` (a language's filter name) asks about,
/// with the ones its files are also taken for: C headers in C++ projects,
/// TSX beside TypeScript. `None` (any) for other names.
fn languages_of(dir: &str) -> Option<Vec<Language>> {
    let l = Language::from_name(dir)?;
    let mut v = vec![l];
    match l {
        Language::Cpp => v.push(Language::C),
        Language::TypeScript => v.push(Language::Tsx),
        _ => {}
    }
    Some(v)
}

/// Test code: people ask where the product does something, not its tests.
pub fn is_test(rel: &str) -> bool {
    let lower = rel.to_ascii_lowercase();
    let mut parts = lower.split('/');
    let file = parts.next_back().unwrap_or("");
    if parts.any(|d| {
        matches!(
            d,
            "test" | "tests" | "testing" | "__tests__" | "spec" | "specs" | "testdata" | "benches"
        )
    }) {
        return true;
    }
    let stem = file.split('.').next().unwrap_or("");
    stem.starts_with("test_")
        || stem.ends_with("_test")
        || stem.ends_with("_tests")
        || stem.ends_with("test") && rel.ends_with(".java")
        || file.contains(".test.")
        || file.contains(".spec.")
}

/// A sentence of words, not a shell line or a code fragment: more than half
/// of its non-space characters are letters.
pub fn is_prose(q: &str) -> bool {
    let (mut letters, mut other) = (0usize, 0usize);
    for c in q.chars().filter(|c| !c.is_whitespace()) {
        if c.is_alphabetic() {
            letters += 1;
        } else {
            other += 1;
        }
    }
    letters > other && !q.starts_with('$')
}

fn sorted_dirs(storage: &dyn Storage, dir: &Path) -> Result<Vec<String>> {
    let mut names: Vec<String> = storage
        .list_dir(dir)?
        .into_iter()
        .filter(|n| dir.join(n).is_dir())
        .collect();
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_are_blanked_and_questions_point_at_their_functions() {
        let d = tempfile::tempdir().unwrap();
        let from = d.path().join("from");
        let to = d.path().join("to");
        let py = from.join("python/proj/pkg");
        std::fs::create_dir_all(&py).unwrap();
        let src = "import os\n\n\ndef load(path):\n    \"\"\"Read the settings file from disk.\"\"\"\n    with open(path) as f:\n        return f.read()\n";
        std::fs::write(py.join("cfg.py"), src).unwrap();
        let go = from.join("go/tool");
        std::fs::create_dir_all(&go).unwrap();
        let gsrc = "package tool\n\n// Retry calls f until it succeeds.\nfunc Retry(f func() error) error {\n\tvar err error\n\treturn err\n}\n";
        std::fs::write(go.join("retry.go"), gsrc).unwrap();
        let st = crate::io::open_storage(crate::io::Backend::Pread).unwrap();
        let sets = make_heldout(st.as_ref(), &from, &to, 10, 1).unwrap();
        let langs: Vec<&str> = sets.iter().map(|s| s.language.as_str()).collect();
        assert_eq!(langs, ["go", "python"]);
        assert!(sets.iter().all(|s| s.questions == 1 && s.pairs == 1));

        let blanked = std::fs::read_to_string(to.join("python/proj/pkg/cfg.py")).unwrap();
        assert!(!blanked.contains("settings"), "{blanked}");
        assert_eq!(blanked.lines().count(), src.lines().count());
        let q: serde_json::Value = serde_json::from_str(
            std::fs::read_to_string(to.join("python/relevance.jsonl"))
                .unwrap()
                .trim(),
        )
        .unwrap();
        assert_eq!(q["query"], "Read the settings file from disk.");
        assert_eq!(q["repo"], "proj");
        assert_eq!(q["path"], "pkg/cfg.py");
        assert_eq!(
            (q["start_line"].as_u64(), q["end_line"].as_u64()),
            (Some(4), Some(7))
        );

        // The set indexes its projects, not its questions.
        let (files, _) =
            crate::chunk::walk(&to.join("python"), &crate::chunk::WalkOptions::default()).unwrap();
        let rels: Vec<&str> = files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["proj/pkg/cfg.py"]);

        let g = std::fs::read_to_string(to.join("go/tool/retry.go")).unwrap();
        assert!(!g.contains("succeeds") && g.contains("func Retry"), "{g}");
        assert_eq!(g.lines().count(), gsrc.lines().count());
        let q: serde_json::Value = serde_json::from_str(
            std::fs::read_to_string(to.join("go/relevance.jsonl"))
                .unwrap()
                .trim(),
        )
        .unwrap();
        assert_eq!(
            (q["start_line"].as_u64(), q["end_line"].as_u64()),
            (Some(4), Some(7))
        );
    }
}
