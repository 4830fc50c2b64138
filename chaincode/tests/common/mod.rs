//! What the doc-vector tests share: a generated section of a markdown document (between
//! two marker lines) that the test checks against the code, and rewrites when
//! `UPDATE_VECTORS` is set, and the fenced blocks the vectors are written in.

/// A generated section of a document.
pub struct GeneratedDoc {
    /// The document.
    pub path: &'static str,
    /// The marker line the section starts after.
    pub begin: &'static str,
    /// The marker line it ends before.
    pub end: &'static str,
    /// Suffix of the temporary file a rewrite goes through (distinct per test binary, so
    /// two binaries rewriting the same document do not share it).
    pub tmp_suffix: &'static str,
}

impl GeneratedDoc {
    /// The document, after rewriting its generated section with `render()` if
    /// `UPDATE_VECTORS` is set (once per test run).
    pub fn read(&self, render: fn() -> String, done: &'static std::sync::OnceLock<()>) -> String {
        if update_requested() {
            done.get_or_init(|| self.rewrite(render()));
        }
        self.read_file()
    }

    /// The generated section of `doc`.
    pub fn section<'d>(&self, doc: &'d str) -> &'d str {
        let start = doc
            .find(self.begin)
            .unwrap_or_else(|| panic!("{} lacks the marker line\n{}", self.path, self.begin));
        let body_start = start + self.begin.len();
        let len = doc[body_start..]
            .find(self.end)
            .unwrap_or_else(|| panic!("{} lacks the marker line\n{}", self.path, self.end));
        &doc[body_start..body_start + len]
    }

    fn read_file(&self) -> String {
        std::fs::read_to_string(self.path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", self.path))
            .replace("\r\n", "\n")
    }

    fn rewrite(&self, generated: String) {
        let doc = self.read_file();
        let old = self.section(&doc);
        if old == generated {
            return;
        }
        let start = doc.find(self.begin).unwrap() + self.begin.len();
        let new_doc = format!(
            "{}{}{}",
            &doc[..start],
            generated,
            &doc[start + old.len()..]
        );
        // Write then rename, so that no reader sees a half-written file.
        let tmp = format!("{}{}", self.path, self.tmp_suffix);
        std::fs::write(&tmp, new_doc).unwrap();
        std::fs::rename(&tmp, self.path).unwrap();
        eprintln!(
            "rewrote the generated section of {} after {}",
            self.path, self.begin
        );
    }
}

fn update_requested() -> bool {
    std::env::var_os("UPDATE_VECTORS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The fenced blocks of `text` (from `path`, for the message): (info string, lines).
pub fn fenced_blocks(text: &str, path: &str) -> Vec<(String, Vec<String>)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        match current.as_mut() {
            None => {
                if let Some(info) = line.trim_start().strip_prefix("```") {
                    current = Some((info.trim().to_string(), Vec::new()));
                }
            }
            Some((_, lines)) => {
                if line.trim() == "```" {
                    blocks.extend(current.take());
                } else {
                    lines.push(line.to_string());
                }
            }
        }
    }
    assert!(current.is_none(), "unterminated fenced block in {path}");
    blocks
}
