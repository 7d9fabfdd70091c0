//! The README's quickstart is `examples/quickstart.rs`, verbatim, so the two
//! cannot drift (the README's code also runs as a doctest of the `dotrpc` crate).

#[test]
fn the_readme_quickstart_is_the_quickstart_example() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let example = std::fs::read_to_string(format!("{root}/examples/quickstart.rs")).unwrap();
    let start = readme
        .find("```rust\n")
        .expect("a rust block in the README")
        + "```rust\n".len();
    let end = start + readme[start..].find("```\n").expect("the block ends");
    assert_eq!(
        &readme[start..end],
        example,
        "update the README's quickstart from examples/quickstart.rs"
    );
    assert!(readme.contains("cargo run --example quickstart"));
    assert!(readme.contains("cargo test --workspace"));
}
