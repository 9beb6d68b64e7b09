//! The layering of `core`, `sync-server` and `ffi` (issue 17), read off the source files.
//!
//! Each crate has ranks of modules, lowest first ([`CORE`], [`SERVER`], [`FFI`]; the crate
//! READMEs show the same tables). A module may use its own rank or lower, never a higher one,
//! and no two units may use each other, directly or round a longer circle. Besides:
//! `rusqlite` only where the table allows it (SQL lives in the storage layer), and in `core`
//! only `store/` and `sync/apply.rs` write `impl Store`.
//!
//! How it reads: every `.rs` file under the crate's `src/` (binaries under `src/bin/` and
//! `main.rs` are their own crates and use the library by name, so they are skipped), with
//! comments, string and character literals and `#[cfg(test)]` items blanked out; every
//! `crate::…` and `super::…` path, in `use` lines and inline, grouped imports expanded; each
//! path mapped to the longest entry of the crate's table that is a prefix of it; a name that is
//! no module is looked up in the crate root's `pub use` lines.
//!
//! Std only: no tool to install. Run it alone with
//! `cargo test -p gridbook-tests --test layering -- --nocapture`. There is no allow-list: the
//! 78 violations it found when it was written (issue 17) were removed before it was made strict.
//!
//! What a failure looks like: with one upward use added to `core/src/rules.rs` (rank 3), after
//! its imports, `use crate::store::Store;` (rank 6), it printed
//!
//! ```text
//! layering: 2 violation(s)
//! core/src/cases.rs:13: circle: cases → rules → store → cases
//! core/src/rules.rs:30: upward: rules (rank 3) uses store (rank 6) via `crate::store::Store`
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// One crate's ranks: module path (segments joined by `::`) → rank. A file belongs to the
/// longest entry that is a prefix of its module path.
struct Layers {
    /// Folder of the crate, from the workspace root.
    dir: &'static str,
    /// The table.
    ranks: &'static [(&'static str, u8)],
    /// Units that may name `rusqlite` (none else may).
    rusqlite: &'static [&'static str],
    /// Where `impl Store` may be written, as file path prefixes under `src/` (`None`: not
    /// checked in this crate).
    impl_store: Option<&'static [&'static str]>,
}

/// `gridbook-core`, lowest first.
const CORE: Layers = Layers {
    dir: "core",
    ranks: &[
        ("error", 0),
        ("domain", 1),
        ("doc", 1),
        ("at_rest", 1),
        ("workflow", 2),
        ("review", 2),
        ("sensitive", 2),
        ("shred", 2),
        ("rules", 3),
        ("cases", 4),
        ("db", 4),
        ("materialize", 5),
        ("store", 6),
        ("sync", 7),
        ("demo", 7),
    ],
    rusqlite: &["db", "at_rest", "store", "sync", "demo"],
    impl_store: Some(&["store.rs", "store/", "sync/apply.rs"]),
};

/// `gridbook-sync-server`, lowest first.
const SERVER: Layers = Layers {
    dir: "sync-server",
    ranks: &[
        ("model", 0),
        ("error", 1),
        ("server_db", 1),
        ("config", 1),
        ("throttle", 1),
        ("storage", 2),
        ("auth", 3),
        ("scope", 3),
        ("audit", 3),
        ("password", 3),
        ("sync::validate", 3),
        ("erasure", 3),
        ("admin", 3),
        ("demo", 3),
        ("http", 4),
        // The router mounts `http`, `sync` and `review`, which use `http` (the handlers' state):
        // its own unit, so that no circle runs through it. Only `cli` (and the root) use it.
        ("http::server", 4),
        ("sync", 4),
        ("review", 4),
        ("cli", 5),
    ],
    rusqlite: &["server_db", "storage"],
    impl_store: None,
};

/// `gridbook-ffi`, lowest first.
const FFI: Layers = Layers {
    dir: "ffi",
    ranks: &[("error", 0), ("logging", 0), ("types", 1), ("store", 2), ("sync", 2)],
    rusqlite: &[],
    impl_store: None,
};

#[test]
fn the_crates_keep_their_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    let mut found = Vec::new();
    for layers in [&CORE, &SERVER, &FFI] {
        found.extend(check_crate(&root, layers));
    }
    report(found);
}

fn report(found: Vec<Violation>) {
    println!("layering: {} violation(s)", found.len());
    if !found.is_empty() {
        for v in &found {
            eprintln!("{v}");
        }
        panic!("layering: {} violation(s), listed above", found.len());
    }
}

/// One thing a file does that the layering forbids.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    file: String,
    line: usize,
    what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.what)
    }
}

/// A source file of a crate, read and blanked.
struct Source {
    /// Path from the workspace root, `/`-separated.
    file: String,
    /// Path under `src/`.
    rel: String,
    /// Module path segments (`[]` for the crate root).
    module: Vec<String>,
    /// The code with comments, literals and test items blanked (same length and lines).
    code: String,
}

fn check_crate(root: &Path, layers: &Layers) -> Vec<Violation> {
    let src = root.join(layers.dir).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    files.sort();
    let sources: Vec<Source> = files
        .iter()
        .filter_map(|path| {
            let rel = path
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            if rel == "main.rs" || rel.starts_with("bin/") {
                return None;
            }
            let text = fs::read_to_string(path).expect("read source");
            Some(Source {
                file: format!("{}/src/{rel}", layers.dir),
                module: module_of(&rel),
                code: blank_tests(&blank(&text)),
                rel,
            })
        })
        .collect();
    let root_exports = sources
        .iter()
        .find(|s| s.module.is_empty())
        .map(|s| root_uses(&s.code))
        .unwrap_or_default();

    let mut out = Vec::new();
    // unit → unit → first (file, line) of such a use, for the circles.
    let mut edges: BTreeMap<String, BTreeMap<String, (String, usize)>> = BTreeMap::new();
    for s in &sources {
        if s.module.is_empty() {
            continue; // the crate root declares and re-exports; it is above every rank
        }
        let Some((unit, rank)) = unit_of(layers, &s.module) else {
            out.push(Violation {
                file: s.file.clone(),
                line: 1,
                what: format!(
                    "module `{}` has no rank: add it to the table first",
                    s.module.join("::")
                ),
            });
            continue;
        };
        for (offset, path) in paths(&s.code, &s.module) {
            let line = line_of(&s.code, offset);
            let target = resolve(&path, &root_exports);
            match unit_of(layers, &target) {
                Some((to, to_rank)) => {
                    if to_rank > rank {
                        out.push(Violation {
                            file: s.file.clone(),
                            line,
                            what: format!(
                                "upward: {unit} (rank {rank}) uses {to} (rank {to_rank}) via `crate::{}`",
                                path.join("::")
                            ),
                        });
                    }
                    if to != unit {
                        edges
                            .entry(unit.to_string())
                            .or_default()
                            .entry(to.to_string())
                            .or_insert((s.file.clone(), line));
                    }
                }
                None => out.push(Violation {
                    file: s.file.clone(),
                    line,
                    what: format!(
                        "{unit} uses the crate root's own item `crate::{}`: move it into a ranked module",
                        path.join("::")
                    ),
                }),
            }
        }
        if !layers.rusqlite.contains(&unit)
            && let Some(offset) = find_word(&s.code, "rusqlite")
        {
            out.push(Violation {
                file: s.file.clone(),
                line: line_of(&s.code, offset),
                what: format!("rusqlite in {unit}: SQL lives in the storage layer"),
            });
        }
        if let Some(allowed) = layers.impl_store
            && !allowed.iter().any(|p| s.rel.starts_with(p))
            && let Some(offset) = find_impl_store(&s.code)
        {
            out.push(Violation {
                file: s.file.clone(),
                line: line_of(&s.code, offset),
                what: "impl Store outside store/ and sync/apply.rs".to_string(),
            });
        }
    }
    for circle in circles(&edges) {
        let (file, line) = edges[&circle[0]][&circle[1 % circle.len()]].clone();
        let mut names = circle.clone();
        names.push(circle[0].clone());
        out.push(Violation {
            file,
            line,
            what: format!("circle: {}", names.join(" → ")),
        });
    }
    out.sort();
    out
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src folder") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `store/outbox.rs` → `[store, outbox]`; `lib.rs` → `[]`; `a/mod.rs` → `[a]`.
fn module_of(rel: &str) -> Vec<String> {
    let stem = rel.trim_end_matches(".rs");
    let mut parts: Vec<String> = stem.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The longest table entry that is a prefix of `path`, with its rank.
fn unit_of(layers: &Layers, path: &[String]) -> Option<(&'static str, u8)> {
    layers
        .ranks
        .iter()
        .filter(|(unit, _)| {
            let segs: Vec<&str> = unit.split("::").collect();
            segs.len() <= path.len() && segs.iter().zip(path).all(|(a, b)| a == b)
        })
        .max_by_key(|(unit, _)| unit.split("::").count())
        .map(|(u, r)| (*u, *r))
}

/// Follow the crate root's `pub use` for a path whose first segment is no module.
fn resolve(path: &[String], root_exports: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    match path.first().and_then(|first| root_exports.get(first)) {
        Some(target) => target.iter().cloned().chain(path[1..].iter().cloned()).collect(),
        None => path.to_vec(),
    }
}

/// The crate root's `use` lines: name (or alias) → full path.
fn root_uses(code: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut rest = code;
    while let Some(i) = find_word(rest, "use") {
        let after = &rest[i + 3..];
        let end = after.find(';').unwrap_or(after.len());
        let tree = after[..end].trim();
        let tree = tree.strip_prefix("crate::").unwrap_or(tree);
        for p in expand(tree) {
            if let Some(last) = p.last() {
                let (path, name) = match p.iter().position(|s| s == "as") {
                    Some(k) if k + 1 < p.len() => (p[..k].to_vec(), p[k + 1].clone()),
                    _ => (p.clone(), last.clone()),
                };
                out.insert(name, path);
            }
        }
        rest = &after[end..];
    }
    out
}

/// Every `crate::…` and `super::…` path in the code with its offset, resolved to a path from
/// the crate root.
fn paths(code: &str, module: &[String]) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let inline = inline_modules(code);
    for (start, word) in [("crate::", "crate"), ("super::", "super")]
        .iter()
        .flat_map(|(pat, w)| code.match_indices(pat).map(move |(i, _)| (i, *w)))
    {
        if start > 0 && (is_ident(bytes[start - 1] as char) || bytes[start - 1] == b'$' || bytes[start - 1] == b':') {
            continue; // `$crate::`, `foo_crate::`, `super::super::` (read from its first `super`)
        }
        let mut base: Vec<String> = Vec::new();
        let mut i = start;
        if word == "super" {
            // `super` of the module the path stands in: the file's, or an inline `mod` in it.
            base = module.to_vec();
            base.extend(
                inline
                    .iter()
                    .filter(|(_, from, to)| (*from..*to).contains(&start))
                    .map(|(name, _, _)| name.clone()),
            );
            while code[i..].starts_with("super::") {
                base.pop();
                i += "super::".len();
            }
        } else {
            i += "crate::".len();
        }
        let tree = use_tree(&code[i..]);
        for p in expand(tree) {
            let full: Vec<String> = base
                .iter()
                .cloned()
                .chain(p.into_iter().take_while(|s| s != "as"))
                .collect();
            if !full.is_empty() {
                out.push((start, full));
            }
        }
    }
    out.sort();
    out
}

/// Inline `mod name { … }` blocks: name, offset of the `mod`, offset after the closing brace,
/// outermost first.
fn inline_modules(code: &str) -> Vec<(String, usize, usize)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = find_word(&code[from..], "mod") {
        let at = from + i;
        from = at + 3;
        let rest = &code[at + 3..];
        let name: String = rest.trim_start().chars().take_while(|c| is_ident(*c)).collect();
        let after_name = rest.trim_start()[name.len()..].trim_start();
        if name.is_empty() || !after_name.starts_with('{') {
            continue; // `mod name;`: a file module, read from its own file
        }
        let open = code.len() - after_name.len();
        let mut depth = 0usize;
        let mut end = b.len();
        for (j, c) in b.iter().enumerate().skip(open) {
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = j + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push((name, at, end));
    }
    out
}

/// The text of a path or use tree starting at `s`: identifiers, `::`, and one balanced `{…}`.
fn use_tree(s: &str) -> &str {
    let b = s.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    while i < b.len() {
        let c = b[i] as char;
        if c == '{' {
            depth += 1;
        } else if c == '}' {
            if depth == 0 {
                break;
            }
            depth -= 1;
            if depth == 0 {
                i += 1;
                break;
            }
        } else if depth == 0 && !(is_ident(c) || c == ':' || c == '*') {
            break;
        }
        i += 1;
    }
    &s[..i]
}

/// `a::{b, c::{d, e as f}}` → `[a,b]`, `[a,c,d]`, `[a,c,e,as,f]`; `self` in a group means the
/// group's own path.
fn expand(tree: &str) -> Vec<Vec<String>> {
    let tree = tree.trim();
    if tree.is_empty() {
        return Vec::new();
    }
    match tree.find('{') {
        None => {
            let words: Vec<String> = tree
                .split(|c: char| c == ':' || c.is_whitespace())
                .filter(|w| !w.is_empty() && *w != "self")
                .map(str::to_string)
                .collect();
            vec![words]
        }
        Some(open) => {
            let prefix: Vec<String> = tree[..open]
                .split("::")
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect();
            let close = tree.rfind('}').unwrap_or(tree.len());
            let inner = &tree[open + 1..close];
            let mut out = Vec::new();
            for item in split_top(inner) {
                let sub = expand(item);
                if sub.is_empty() && item.trim() == "self" {
                    out.push(prefix.clone());
                }
                for s in sub {
                    out.push(prefix.iter().cloned().chain(s).collect());
                }
            }
            out
        }
    }
}

/// Split at commas outside braces.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut from) = (0usize, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&s[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[from..]);
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// First offset of `word` standing alone (not part of a longer identifier).
fn find_word(code: &str, word: &str) -> Option<usize> {
    code.match_indices(word).map(|(i, _)| i).find(|&i| {
        let before = code[..i].chars().next_back().is_none_or(|c| !is_ident(c));
        let after = code[i + word.len()..].chars().next().is_none_or(|c| !is_ident(c));
        before && after
    })
}

/// `impl Store` or `impl … for Store` (an `impl` block whose type is the core's store).
fn find_impl_store(code: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = find_word(&code[from..], "impl") {
        let at = from + i;
        let header_end = code[at..].find('{').map_or(code.len(), |e| at + e);
        let header = &code[at..header_end];
        let words: Vec<&str> = header.split(|c: char| !is_ident(c)).filter(|w| !w.is_empty()).collect();
        let target = match words.iter().position(|w| *w == "for") {
            Some(k) => words.get(k + 1),
            None => words.get(1),
        };
        if target == Some(&"Store") {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

fn line_of(code: &str, offset: usize) -> usize {
    code[..offset].bytes().filter(|b| *b == b'\n').count() + 1
}

/// The source with comments, string, byte-string and character literals replaced by spaces
/// (newlines kept, so offsets and lines stay those of the file).
fn blank(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let wipe = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            let end = b[i..].iter().position(|c| *c == b'\n').map_or(b.len(), |e| i + e);
            wipe(&mut out, i, end);
            i = end;
        } else if b[i..].starts_with(b"/*") {
            let (mut depth, mut j) = (1, i + 2);
            while j < b.len() && depth > 0 {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            wipe(&mut out, i, j);
            i = j;
        } else if (b[i] == b'r' || (b[i] == b'b' && b.get(i + 1) == Some(&b'r')))
            && (i == 0 || !is_ident(b[i - 1] as char))
            && raw_string_start(&b[i..]).is_some()
        {
            let (hashes, open) = raw_string_start(&b[i..]).expect("checked");
            let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
            let body = i + open;
            let end = b[body..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(b.len(), |e| body + e + close.len());
            wipe(&mut out, i, end);
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(b.len());
            wipe(&mut out, i, end);
            i = end;
        } else if b[i] == b'\'' {
            // A character literal ('a', '\n', '\u{1F600}', '"'), not a lifetime ('a).
            let len = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..].iter().position(|c| *c == b'\'').map(|e| e + 3)
            } else {
                let ch_len = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                (b.get(i + 1 + ch_len) == Some(&b'\'')).then_some(ch_len + 2)
            };
            match len {
                Some(n) => {
                    wipe(&mut out, i, i + n);
                    i += n;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `r"`, `r#"`, `br##"` …: the number of `#` and the length of the opening.
fn raw_string_start(b: &[u8]) -> Option<(usize, usize)> {
    let mut i = if b.starts_with(b"br") {
        2
    } else if b.starts_with(b"r") {
        1
    } else {
        return None;
    };
    let hashes = b[i..].iter().take_while(|c| **c == b'#').count();
    i += hashes;
    (b.get(i) == Some(&b'"')).then_some((hashes, i + 1))
}

/// Blank every item under `#[cfg(test)]`: up to its matching `}` or its `;`.
fn blank_tests(code: &str) -> String {
    let mut out = code.as_bytes().to_vec();
    let b = code.as_bytes();
    for (at, _) in code.match_indices("#[cfg(test)]") {
        let mut j = at;
        let mut depth = 0usize;
        while j < b.len() {
            match b[j] {
                b'{' => depth += 1,
                b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        j += 1;
                        break;
                    }
                }
                b';' if depth == 0 => {
                    j += 1;
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        for c in &mut out[at..j.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    }
    String::from_utf8(out).expect("blanking keeps UTF-8")
}

/// Circles in the unit graph: one per strongly connected component of more than one unit,
/// given as a path round it.
fn circles(edges: &BTreeMap<String, BTreeMap<String, (String, usize)>>) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&String> = edges.keys().chain(edges.values().flat_map(|m| m.keys())).collect();
    let reach = |from: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.clone()];
        while let Some(n) = stack.pop() {
            for next in edges.get(&n).into_iter().flat_map(|m| m.keys()) {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&String, BTreeSet<String>> = nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for n in &nodes {
        if done.contains(*n) || !reachable[n].contains(*n) {
            continue;
        }
        let component: BTreeSet<String> = nodes
            .iter()
            .filter(|m| reachable[n].contains(**m) && reachable[*m].contains(*n))
            .map(|m| (*m).clone())
            .collect();
        done.extend(component.iter().cloned());
        // Walk a shortest path back to `n` through the component.
        out.push(shortest_circle(n, &component, edges));
    }
    out
}

fn shortest_circle(
    start: &String,
    component: &BTreeSet<String>,
    edges: &BTreeMap<String, BTreeMap<String, (String, usize)>>,
) -> Vec<String> {
    let mut prev: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start.clone()]);
    while let Some(n) = queue.pop_front() {
        for next in edges.get(&n).into_iter().flat_map(|m| m.keys()) {
            if !component.contains(next) {
                continue;
            }
            if next == start {
                let mut path = vec![n.clone()];
                while let Some(p) = prev.get(path.last().expect("non-empty")) {
                    path.push(p.clone());
                }
                path.reverse();
                return path;
            }
            if !prev.contains_key(next) && next != start {
                prev.insert(next.clone(), n.clone());
                queue.push_back(next.clone());
            }
        }
    }
    vec![start.clone()]
}

/// The check itself catches what it must: an upward use (in a grouped import and inline), a
/// circle, `super::` out of an inline module, rusqlite where it may not be, `impl Store` out of
/// place and an item of the crate root; comments, strings and `#[cfg(test)]` items are not read.
#[test]
fn the_check_catches_an_upward_use_a_circle_and_sql_out_of_place() {
    const TOY: Layers = Layers {
        dir: "toy",
        ranks: &[("low", 0), ("mid", 1), ("mid::deep", 2), ("high", 3)],
        rusqlite: &["high"],
        impl_store: Some(&["high.rs"]),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("toy/src");
    fs::create_dir_all(src.join("mid")).expect("folders");
    let write = |name: &str, text: &str| fs::write(src.join(name), text).expect("write");
    write(
        "lib.rs",
        "pub mod low;\npub mod mid;\npub mod high;\npub use high::Top;\npub fn root_fn() {}\n",
    );
    write(
        "low.rs",
        "//! crate::high::in_a_comment is no use\n\
         use crate::{mid::{self, M}, low::L};\n\
         fn f() { let s = \"crate::high::in_a_string\"; crate::Top::new(); crate::root_fn(); }\n\
         struct Store;\n\
         impl Store {}\n",
    );
    write(
        "mid.rs",
        "pub mod deep;\nuse crate::low::L;\nmod inner { fn g() { super::super::high::H; } }\n\
         #[cfg(test)]\nmod tests { use crate::high::H; }\n",
    );
    write("mid/deep.rs", "use rusqlite::Connection;\nuse super::M;\n");
    write("high.rs", "use crate::mid::deep::D;\nuse rusqlite::Connection;\n");
    let found: Vec<String> = check_crate(dir.path(), &TOY).iter().map(ToString::to_string).collect();
    let expected = [
        // One circle per knot of units (here all four), the shortest round its first unit.
        "toy/src/high.rs:1: circle: high → mid::deep → mid → high",
        "toy/src/low.rs:2: upward: low (rank 0) uses mid (rank 1) via `crate::mid::M`",
        "toy/src/low.rs:2: upward: low (rank 0) uses mid (rank 1) via `crate::mid`",
        "toy/src/low.rs:3: low uses the crate root's own item `crate::root_fn`: move it into a ranked module",
        "toy/src/low.rs:3: upward: low (rank 0) uses high (rank 3) via `crate::Top::new`",
        "toy/src/low.rs:5: impl Store outside store/ and sync/apply.rs",
        "toy/src/mid.rs:3: upward: mid (rank 1) uses high (rank 3) via `crate::high::H`",
        "toy/src/mid/deep.rs:1: rusqlite in mid::deep: SQL lives in the storage layer",
    ];
    assert_eq!(found, expected, "what the check printed");
}
