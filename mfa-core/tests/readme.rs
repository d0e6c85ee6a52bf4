//! The README's usage example is the crate docs' doc test, line for line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

fn rust_block(markdown: &str) -> String {
    let start = markdown.find("```rust\n").expect("a ```rust block") + "```rust\n".len();
    let end = start + markdown[start..].find("```").expect("closed block");
    markdown[start..end]
        .lines()
        .filter(|l| !l.starts_with("# ") && *l != "#")
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_owned()
}

#[test]
fn readme_example_is_the_doc_tested_one() {
    let root = include_str!("../../README.md");
    let crate_docs = include_str!("../README.md");
    assert_eq!(
        rust_block(root),
        rust_block(crate_docs),
        "README.md and mfa-core/README.md examples differ"
    );
}
