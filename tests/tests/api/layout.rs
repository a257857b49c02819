//! The house's rules, read from the code itself (no server needed):
//! - no two files of a crate import each other, directly or through others;
//! - no module of `shared/` imports one on a floor above its own (the floors
//!   are written in the crate docs of `shared/src/lib.rs`);
//! - no function outside test code is longer than 60 lines.
//!
//! Imports are every `crate::`, `super::` and `self::` path in the code
//! (`use` statements and paths in expressions alike), resolved to the file
//! that holds the module they name. A parent's `mod.rs` (or `lib.rs`)
//! naming its own children is how a folder declares and re-exports its
//! rooms, not a dependence, so those arrows are not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ltisync_tests::repo_root;
use syn::spanned::Spanned;
use syn::visit::Visit;

/// The crates whose production code the rules cover (tests/ is test code).
const CRATES: [&str; 6] = [
    "shared",
    "functions/launch",
    "functions/sync",
    "cli",
    "simulator",
    "tools",
];

/// The longest a function may be, from its `fn` line to its closing brace.
const MAX_FUNCTION_LINES: usize = 60;

/// `shared/`'s floors, as the crate docs draw them: a module may use its
/// own floor and those below.
const SHARED_FLOORS: [(&str, u8); 16] = [
    ("status", 5),
    ("launch", 4),
    ("reconcile", 4),
    ("bootstrap", 4),
    ("sync", 3),
    ("ltiaas", 2),
    ("store", 2),
    ("activity", 1),
    ("outcome", 0),
    ("grade", 0),
    ("config", 0),
    ("secrets", 0),
    ("parse", 0),
    ("excerpt", 0),
    ("telemetry", 0),
    ("lib", 6),
];

/// One file of a crate's module tree: where it is, its module path
/// (`["sync", "posting"]`) under its root, and its syntax.
struct SourceFile {
    /// Relative to the repository.
    path: String,
    module: Vec<String>,
    /// A crate root or a `mod.rs`: the file that declares a folder's modules.
    declares_folder: bool,
    syntax: syn::File,
}

/// One crate root (`lib.rs`, a `main.rs`, a file in `bin/`) and every
/// file its `mod` declarations reach.
type Tree = Vec<SourceFile>;

#[test]
fn no_file_imports_one_that_imports_it_back() {
    let mut circles = Vec::new();
    for krate in CRATES {
        let mut arrows = BTreeMap::new();
        for tree in read_crate(krate) {
            arrows.extend(tree_arrows(&tree));
        }
        circles.extend(find_circles(&arrows).into_iter().map(|c| c.join(" -> ")));
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn no_module_of_shared_imports_one_above_it() {
    let files = library_of("shared");
    let floor = |file: &str| {
        let top = module_of(&files, file)
            .first()
            .cloned()
            .unwrap_or("lib".into());
        SHARED_FLOORS
            .iter()
            .find(|(name, _)| *name == top)
            .map(|(_, floor)| *floor)
            .unwrap_or_else(|| panic!("{file}: module {top} has no floor in SHARED_FLOORS"))
    };
    let upward: Vec<String> = tree_arrows(&files)
        .iter()
        .flat_map(|(from, to)| to.iter().map(move |to| (from, to)))
        .filter(|(from, to)| floor(to) > floor(from))
        .map(|(from, to)| {
            format!(
                "{from} (floor {}) -> {to} (floor {})",
                floor(from),
                floor(to)
            )
        })
        .collect();
    assert!(upward.is_empty(), "upward imports:\n{}", upward.join("\n"));
}

#[test]
fn no_production_function_is_longer_than_sixty_lines() {
    let mut long = Vec::new();
    for krate in CRATES {
        for file in read_crate(krate).into_iter().flatten() {
            let mut lengths = FunctionLengths::default();
            lengths.visit_file(&file.syntax);
            long.extend(
                lengths
                    .0
                    .into_iter()
                    .filter(|(_, lines)| *lines > MAX_FUNCTION_LINES)
                    .map(|(name, lines)| format!("{}: {name}: {lines} lines", file.path)),
            );
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines:\n{}",
        long.join("\n")
    );
}

/// The checks would pass on nothing at all: show they see what they judge.
#[test]
fn the_checks_see_the_code_they_judge() {
    let files = library_of("shared");
    assert!(files.len() > 40, "{} files in shared/", files.len());
    let arrows = tree_arrows(&files);
    let tools = read_crate("tools");
    assert_eq!(tools.len(), 5, "the tools' library and four binaries");
    let run = arrows
        .get("shared/src/sync/run.rs")
        .expect("run.rs imports");
    assert!(run.contains("shared/src/sync/record.rs"), "{run:?}");
    assert!(run.contains("shared/src/outcome.rs"), "{run:?}");
    let circle = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["c".to_owned()])),
        ("c".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]);
    assert_eq!(find_circles(&circle).len(), 1);
    let body = "    x();\n".repeat(70);
    let source = format!(
        "fn short() {{}}\nfn long() {{\n{body}}}\n#[cfg(test)]\nmod tests {{\n    fn long_test() {{\n{body}}}\n}}\n"
    );
    let mut lengths = FunctionLengths::default();
    lengths.visit_file(&syn::parse_file(&source).unwrap());
    assert_eq!(lengths.0, vec![("short".into(), 1), ("long".into(), 72)]);
}

/// Every module tree of a crate: one per root under its `src/`.
fn read_crate(krate: &str) -> Vec<Tree> {
    let src = repo_root().join(krate).join("src");
    let mut roots = Vec::new();
    find_roots(&src, &mut roots);
    roots.sort();
    assert!(!roots.is_empty(), "{krate} has no crate root");
    roots
        .into_iter()
        .map(|root| {
            let mut tree = Vec::new();
            read_module(&root, Vec::new(), true, &mut tree);
            tree
        })
        .collect()
}

/// The library's tree of a crate.
fn library_of(krate: &str) -> Tree {
    read_crate(krate)
        .into_iter()
        .find(|tree| tree[0].path.ends_with("src/lib.rs"))
        .expect("a library")
}

fn find_roots(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let in_bin = dir.file_name().is_some_and(|d| d == "bin");
        if path.is_dir() {
            find_roots(&path, out);
        } else if name == "lib.rs" || name == "main.rs" || (in_bin && name.ends_with(".rs")) {
            out.push(path);
        }
    }
}

/// Reads `file` as `module`, then every module its `mod` items declare.
fn read_module(file: &Path, module: Vec<String>, declares_folder: bool, tree: &mut Tree) {
    let text = std::fs::read_to_string(file).expect("readable source");
    let syntax = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    // Where its children live: beside a root or mod.rs, else in a folder
    // named after the file.
    let dir = match declares_folder {
        true => file.parent().expect("a folder").to_path_buf(),
        false => file.with_extension(""),
    };
    for item in &syntax.items {
        let syn::Item::Mod(m) = item else { continue };
        if m.content.is_some() || is_test_only(&m.attrs) {
            continue;
        }
        let name = m.ident.to_string();
        let mut child = module.clone();
        child.push(name.clone());
        let flat = dir.join(format!("{name}.rs"));
        match flat.exists() {
            true => read_module(&flat, child, false, tree),
            false => read_module(&dir.join(&name).join("mod.rs"), child, true, tree),
        }
    }
    let path = file.strip_prefix(repo_root()).expect("in the repo");
    tree.push(SourceFile {
        path: path.to_string_lossy().into_owned(),
        module,
        declares_folder,
        syntax,
    });
    // The root first: callers find a tree by its root.
    tree.rotate_right(1);
}

fn module_of<'a>(files: &'a [SourceFile], file: &str) -> &'a [String] {
    files
        .iter()
        .find(|f| f.path == file)
        .map(|f| f.module.as_slice())
        .unwrap_or_default()
}

/// Which files each file of a tree imports from.
fn tree_arrows(tree: &[SourceFile]) -> BTreeMap<String, BTreeSet<String>> {
    let mut arrows = BTreeMap::new();
    for file in tree {
        let mut paths = ImportPaths::default();
        paths.visit_file(&file.syntax);
        let targets: BTreeSet<String> = paths
            .paths
            .iter()
            .filter_map(|path| absolute(&file.module, path))
            .filter_map(|module| resolve(tree, &module))
            .filter(|target| *target != file.path)
            .filter(|target| !(file.declares_folder && is_descendant(tree, file, target)))
            .collect();
        arrows.insert(file.path.clone(), targets);
    }
    arrows
}

/// `path` (as written in `module`'s file) from the crate root, if it is a
/// path into the crate: `super` is the module's parent, `self` itself.
fn absolute(module: &[String], path: &[String]) -> Option<Vec<String>> {
    let mut base: Vec<String> = module.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().is_some_and(|p| p == "super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The file holding the longest prefix of `module` that is a file module.
fn resolve(tree: &[SourceFile], module: &[String]) -> Option<String> {
    (0..=module.len()).rev().find_map(|n| {
        tree.iter()
            .find(|f| f.module == module[..n])
            .map(|f| f.path.clone())
    })
}

fn is_descendant(tree: &[SourceFile], parent: &SourceFile, target: &str) -> bool {
    tree.iter().any(|f| {
        f.path == target
            && f.module.len() > parent.module.len()
            && f.module.starts_with(&parent.module)
    })
}

/// Every circle (a strongly connected group of two or more files), sorted.
fn find_circles(arrows: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reaches = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(next) = todo.pop() {
            for to in arrows.get(&next).into_iter().flatten() {
                if seen.insert(to.clone()) {
                    todo.push(to.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&String, BTreeSet<String>> =
        arrows.keys().map(|f| (f, reaches(f))).collect();
    let mut circles: BTreeSet<Vec<String>> = BTreeSet::new();
    for (file, reached) in &reach {
        if !reached.contains(*file) {
            continue;
        }
        let circle: Vec<String> = reached
            .iter()
            .filter(|other| reach.get(other).is_some_and(|r| r.contains(*file)))
            .cloned()
            .collect();
        circles.insert(circle);
    }
    circles.into_iter().filter(|c| c.len() > 1).collect()
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

/// Every path in the code outside test-only items, as its segments, each
/// from the file's own module (inline modules' names prefixed).
#[derive(Default)]
struct ImportPaths {
    paths: Vec<Vec<String>>,
    /// The inline modules (`mod name { … }`) the visitor is inside.
    inline: Vec<String>,
}

impl ImportPaths {
    /// `path` as written in the file's own module: `super` inside an inline
    /// module first climbs out of it.
    fn add(&mut self, mut path: Vec<String>) {
        let mut inline = self.inline.clone();
        while path.first().is_some_and(|p| p == "super") && !inline.is_empty() {
            inline.pop();
            path.remove(0);
        }
        self.paths.push(path);
    }
}

impl<'ast> Visit<'ast> for ImportPaths {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Use(u) => &u.attrs,
            _ => return syn::visit::visit_item(self, item),
        };
        if is_test_only(attrs) {
            return;
        }
        match item {
            syn::Item::Mod(m) if m.content.is_some() => {
                self.inline.push(m.ident.to_string());
                syn::visit::visit_item(self, item);
                self.inline.pop();
            }
            _ => syn::visit::visit_item(self, item),
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let mut paths = Vec::new();
        flatten_use(&item.tree, Vec::new(), &mut paths);
        paths.into_iter().for_each(|path| self.add(path));
    }

    // `pub(crate)` and `pub(super)` say who may see an item, not what it uses.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.add(path.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, path);
    }
}

fn flatten_use(tree: &syn::UseTree, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let with = |name: &syn::Ident| {
        let mut path = prefix.clone();
        path.push(name.to_string());
        path
    };
    match tree {
        syn::UseTree::Path(p) => flatten_use(&p.tree, with(&p.ident), out),
        syn::UseTree::Name(n) if n.ident == "self" => out.push(prefix),
        syn::UseTree::Name(n) => out.push(with(&n.ident)),
        syn::UseTree::Rename(r) => out.push(with(&r.ident)),
        syn::UseTree::Glob(_) => out.push(prefix),
        syn::UseTree::Group(g) => g
            .items
            .iter()
            .for_each(|item| flatten_use(item, prefix.clone(), out)),
    }
}

/// Each function's name and length in lines, outside test-only items.
#[derive(Default)]
struct FunctionLengths(Vec<(String, usize)>);

impl FunctionLengths {
    fn add(&mut self, name: &syn::Ident, whole: proc_macro2::Span) {
        let lines = whole.end().line - whole.start().line + 1;
        self.0.push((name.to_string(), lines));
    }
}

impl<'ast> Visit<'ast> for FunctionLengths {
    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        if !is_test_only(&item.attrs) {
            syn::visit::visit_item_mod(self, item);
        }
    }

    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        if !is_test_only(&item.attrs) {
            syn::visit::visit_item_impl(self, item);
        }
    }

    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        if !is_test_only(&item.attrs) {
            self.add(&item.sig.ident, fn_span(&item.sig, &item.block));
            syn::visit::visit_item_fn(self, item);
        }
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        if !is_test_only(&item.attrs) {
            self.add(&item.sig.ident, fn_span(&item.sig, &item.block));
            syn::visit::visit_impl_item_fn(self, item);
        }
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        if let Some(block) = &item.default {
            self.add(&item.sig.ident, fn_span(&item.sig, block));
        }
        syn::visit::visit_trait_item_fn(self, item);
    }
}

/// From the `fn` line (attributes and doc comments left out) to the brace.
fn fn_span(sig: &syn::Signature, block: &syn::Block) -> proc_macro2::Span {
    sig.span()
        .join(block.span())
        .unwrap_or_else(|| block.span())
}
