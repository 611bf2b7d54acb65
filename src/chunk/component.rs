//! Single-file components (`.svelte`, `.vue`, `.astro`): where their code is.
//! The code of such a file is in its `<script>` elements (and, in Astro, the
//! `---` frontmatter at the top); `split` parses those ranges with the
//! JavaScript or TypeScript grammar and cuts the markup between them as gaps,
//! so line numbers stay those of the file.

use std::ops::Range;

/// File name endings of single-file components.
pub const COMPONENT_EXTENSIONS: [&str; 3] = [".svelte", ".vue", ".astro"];

/// Whether `path` names a single-file component.
pub fn is_component(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    COMPONENT_EXTENSIONS.iter().any(|e| lower.ends_with(e))
}

/// For a component file, the byte ranges of its scripts' contents in file
/// order (each inside the text, not overlapping) and whether any is
/// TypeScript (`lang="ts"`, or Astro's frontmatter, which is TypeScript);
/// None for any other file. A `<script>` left open runs to the end of the
/// file; `<script src=...>` elements with no content give no range.
pub fn scripts(path: &str, text: &str) -> Option<(Vec<Range<usize>>, bool)> {
    if !is_component(path) {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut typescript = false;
    let mut at = 0;
    if path.to_ascii_lowercase().ends_with(".astro") {
        if let Some(body) = frontmatter(text) {
            at = body.end;
            out.push(body);
            typescript = true;
        }
    }
    while let Some(i) = lower[at..].find("<script") {
        let open = at + i;
        let after = open + "<script".len();
        // `<scripts>` or `<script-x>` is another tag.
        if !lower[after..].starts_with(|c: char| c == '>' || c.is_ascii_whitespace()) {
            at = after;
            continue;
        }
        let Some(gt) = lower[after..].find('>') else {
            break;
        };
        let attrs = &lower[after..after + gt];
        let start = after + gt + 1;
        let end = lower[start..]
            .find("</script")
            .map_or(text.len(), |e| start + e);
        if attrs.contains("lang=\"ts\"")
            || attrs.contains("lang='ts'")
            || attrs.contains("lang=\"typescript\"")
            || attrs.contains("lang='typescript'")
            || attrs.contains("lang=ts")
        {
            typescript = true;
        }
        if !attrs.ends_with('/') && end > start && !text[start..end].trim().is_empty() {
            out.push(start..end);
        }
        at = end;
    }
    Some((out, typescript))
}

/// The body of a `---` frontmatter fence that opens the file.
fn frontmatter(text: &str) -> Option<Range<usize>> {
    let first = text.lines().next()?;
    if first.trim_end() != "---" {
        return None;
    }
    let start = first.len() + 1;
    let mut pos = start;
    for line in text.get(start..)?.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return Some(start..pos);
        }
        pos += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_of_each_kind_are_found() {
        let svelte = "<script lang=\"ts\">\n  let n: number = 1;\n</script>\n<h1>{n}</h1>\n";
        let (r, ts) = scripts("App.svelte", svelte).unwrap();
        assert!(ts);
        assert_eq!(&svelte[r[0].clone()], "\n  let n: number = 1;\n");
        let vue = "<template><p/></template>\n<script>\nexport default {}\n</script>\n<script setup>\nconst a = 1\n</script>";
        let (r, ts) = scripts("c/X.vue", vue).unwrap();
        assert!(!ts);
        assert_eq!(r.len(), 2);
        assert_eq!(&vue[r[1].clone()], "\nconst a = 1\n");
        let astro =
            "---\nconst title = 'x';\n---\n<h1>{title}</h1>\n<script>\nconsole.log(1)\n</script>\n";
        let (r, ts) = scripts("p.astro", astro).unwrap();
        assert!(ts);
        assert_eq!(&astro[r[0].clone()], "const title = 'x';\n");
        assert_eq!(&astro[r[1].clone()], "\nconsole.log(1)\n");
        assert!(scripts("a.js", svelte).is_none());
    }

    #[test]
    fn odd_markup_gives_sane_ranges() {
        for t in [
            "<script",
            "<script>",
            "<script src=\"x.js\"></script>",
            "<scripts>x</scripts>",
            "<SCRIPT>let a</SCRIPT>",
            "---\nno end",
            "<script>é</script><script/>",
        ] {
            let (r, _) = scripts("a.svelte", t).unwrap();
            let mut last = 0;
            for x in r {
                assert!(
                    x.start >= last && x.start <= x.end && x.end <= t.len(),
                    "{t:?}"
                );
                assert!(t.is_char_boundary(x.start) && t.is_char_boundary(x.end));
                last = x.end;
            }
        }
    }

    /// A component's functions become chunks with their names and the
    /// file's line numbers; the markup is kept as text.
    #[test]
    fn component_functions_are_chunks_with_file_lines() {
        let mut t = String::from("<script lang=\"ts\">\n");
        for i in 0..3 {
            t.push_str(&format!(
                "export function handler{i}(e: Event): number {{\n{}  return {i};\n}}\n",
                "  const x = 1;\n".repeat(30)
            ));
        }
        t.push_str("</script>\n<main>\n  <button on:click={handler0}>go</button>\n</main>\n");
        let chunks =
            crate::chunk::chunk_text("src/App.svelte", crate::lang::Language::JavaScript, &t);
        let h1 = chunks
            .iter()
            .find(|c| c.symbol.as_deref() == Some("handler1"))
            .expect("handler1 is a chunk");
        let first = t
            .lines()
            .position(|l| l.contains("function handler1"))
            .unwrap() as u32
            + 1;
        assert_eq!(h1.start_line, first);
        assert!(h1.text.starts_with("export function handler1"));
        assert!(
            chunks.iter().any(|c| c.text.contains("<button")),
            "markup kept"
        );
        let mut prev = 0;
        for c in &chunks {
            assert!(c.start_line > prev, "chunks in order, not overlapping");
            prev = c.end_line;
        }
    }
}
