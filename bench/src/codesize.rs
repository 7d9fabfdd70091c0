//! `dotrpc-bench build`: what each method of an API costs in a release
//! binary, and in compile time, for dotrpc and tarpc side by side.
//!
//! For each system and each method count N, it writes a crate that serves an
//! API of N methods spread over ten namespaces and calls every one of them
//! through the typed client (so both the server's glue and the client's stub
//! are in the binary), builds it, and runs it (a binary that answers the
//! wrong sum is not measured). The figure of interest is the slope: the
//! stripped release binary's growth from the smallest N to the largest,
//! divided by the methods added. Compile time is the crate's own, with its
//! dependencies already built: a release build and a debug build after the
//! crate's source changed, the median of three.
//!
//! The crates live under `target/dotrpc-bench-build`, share one target
//! folder, and take the workspace's `Cargo.lock`, so every system is built
//! against the versions the rest of the benchmark uses.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How the API's methods are spread: over this many namespaces.
const NAMESPACES: usize = 10;

const SYSTEMS: [&str; 2] = ["dotrpc", "tarpc"];

#[derive(Debug)]
struct Options {
    methods: Vec<usize>,
    systems: Vec<String>,
    json: Option<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        methods: vec![10, 100, 400],
        systems: SYSTEMS.iter().map(|s| s.to_string()).collect(),
        json: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--methods" => {
                let counts: Result<Vec<usize>, _> = value()?.split(',').map(str::parse).collect();
                options.methods = counts
                    .ok()
                    .filter(|c| c.len() >= 2 && c.iter().all(|n| *n >= NAMESPACES))
                    .ok_or(format!(
                        "--methods needs two or more counts of at least {NAMESPACES}"
                    ))?;
                options.methods.sort_unstable();
                options.methods.dedup();
            }
            "--systems" => {
                options.systems = value()?.split(',').map(str::to_owned).collect();
                if let Some(unknown) = options
                    .systems
                    .iter()
                    .find(|s| !SYSTEMS.contains(&s.as_str()))
                {
                    return Err(format!("unknown system {unknown:?}; known: dotrpc,tarpc"));
                }
            }
            "--json" => options.json = Some(value()?.clone()),
            other => return Err(format!("unknown argument {other:?}\n{}", crate::USAGE)),
        }
    }
    Ok(options)
}

/// One built crate: its system, method count, stripped release size and
/// the crate's own compile times.
#[derive(Debug)]
struct Built {
    system: String,
    methods: usize,
    bytes: u64,
    release: Duration,
    debug: Duration,
}

pub(crate) fn main(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("the bench crate has no parent folder")?
        .to_path_buf();
    let root = workspace.join("target").join("dotrpc-bench-build");
    let mut built = Vec::new();
    for system in &options.systems {
        for &methods in &options.methods {
            eprintln!("building {system} with {methods} methods");
            built.push(build(&workspace, &root, system, methods)?);
        }
    }
    report(&options, &built)
}

fn build(workspace: &Path, root: &Path, system: &str, methods: usize) -> Result<Built, String> {
    let name = format!("size-{system}-{methods}");
    let dir = root.join(&name);
    std::fs::create_dir_all(dir.join("src")).map_err(|e| e.to_string())?;
    let source = match system {
        "dotrpc" => dotrpc_source(methods),
        _ => tarpc_source(methods),
    };
    let write = |path: PathBuf, text: &str| std::fs::write(path, text).map_err(|e| e.to_string());
    write(dir.join("Cargo.toml"), &manifest(workspace, &name, system))?;
    write(dir.join("src/main.rs"), &source)?;
    std::fs::copy(workspace.join("Cargo.lock"), dir.join("Cargo.lock"))
        .map_err(|e| format!("copying Cargo.lock: {e}"))?;
    let target = root.join("target");
    // Dependencies first, so the timed builds are the crate's own.
    cargo(&dir, &target, &["build", "--release"])?;
    cargo(&dir, &target, &["build"])?;
    let release = median_build(&dir, &target, &source, &["build", "--release"])?;
    let debug = median_build(&dir, &target, &source, &["build"])?;
    let exe = target.join("release").join(&name);
    let output = Command::new(&exe)
        .output()
        .map_err(|e| format!("running {}: {e}", exe.display()))?;
    let expected = expected_sum(methods).to_string();
    let said = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || said.trim() != expected {
        return Err(format!(
            "{name} answered {:?} (expected {expected}): {}",
            said.trim(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let bytes = std::fs::metadata(&exe).map_err(|e| e.to_string())?.len();
    Ok(Built {
        system: system.to_owned(),
        methods,
        bytes,
        release,
        debug,
    })
}

/// How many times each timed build runs: the median is reported, as one
/// build on a shared machine can take twice as long as the next.
const BUILDS: usize = 3;

/// The median time of [`BUILDS`] rebuilds, each after changing the source
/// (a comment with the time).
fn median_build(
    dir: &Path,
    target: &Path,
    source: &str,
    args: &[&str],
) -> Result<Duration, String> {
    let mut times = Vec::with_capacity(BUILDS);
    for _ in 0..BUILDS {
        let stamp = format!("{source}// {:?}\n", Instant::now());
        std::fs::write(dir.join("src/main.rs"), stamp).map_err(|e| e.to_string())?;
        let start = Instant::now();
        cargo(dir, target, args)?;
        times.push(start.elapsed());
    }
    times.sort_unstable();
    Ok(times[BUILDS / 2])
}

fn cargo(dir: &Path, target: &Path, args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(args)
        .arg("--quiet")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .map_err(|e| format!("running cargo: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "cargo {} in {} failed:\n{}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn manifest(workspace: &Path, name: &str, system: &str) -> String {
    let dependency = match system {
        "dotrpc" => format!(
            "dotrpc = {{ path = {:?} }}",
            workspace.join("rpc").display().to_string()
        ),
        _ => "tarpc = { version = \"0.38\", features = [\"tokio1\", \"serde-transport\", \
              \"serde-transport-bincode\", \"tcp\"] }\nfutures = \"0.3.31\""
            .to_owned(),
    };
    format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\n{dependency}\n\
         tokio = {{ version = \"1.54\", features = [\"rt\", \"macros\", \"net\"] }}\n\n\
         [profile.release]\nstrip = true\n\n[workspace]\n"
    )
}

/// The methods of namespace `ns`: a contiguous run of the global indices.
fn namespace_methods(methods: usize, ns: usize) -> std::ops::Range<usize> {
    let per = methods / NAMESPACES;
    let start = ns * per;
    let end = if ns + 1 == NAMESPACES {
        methods
    } else {
        start + per
    };
    start..end
}

/// What calling every method `m{i}(i, 1)` adds up to: each answers `a + b`.
fn expected_sum(methods: usize) -> usize {
    (0..methods).map(|i| i + 1).sum()
}

/// Each namespace's trait, under `attr`, its methods `m{i}` taking
/// `declared`, and its implementation for `Impl`, whose methods take
/// `implemented` and answer `a + b`.
fn namespaces(out: &mut String, methods: usize, attr: &str, declared: &str, implemented: &str) {
    for ns in 0..NAMESPACES {
        let _ = writeln!(out, "\n{attr}\npub trait Ns{ns} {{");
        for i in namespace_methods(methods, ns) {
            let _ = writeln!(out, "    async fn m{i}({declared}) -> i64;");
        }
        let _ = writeln!(out, "}}\n\nimpl Ns{ns} for Impl {{");
        for i in namespace_methods(methods, ns) {
            let _ = writeln!(out, "    async fn m{i}({implemented}) -> i64 {{ a + b }}");
        }
        out.push_str("}\n");
    }
}

fn dotrpc_source(methods: usize) -> String {
    let mut out =
        String::from("use dotrpc::{Peer, Server, rpc_api};\n\n#[rpc_api]\npub trait Root {\n");
    for ns in 0..NAMESPACES {
        let _ = writeln!(
            out,
            "    #[rpc(nested)]\n    fn ns{ns}(&self) -> &impl Ns{ns};"
        );
    }
    out.push_str("}\n\nstruct Impl;\n\nimpl Root for Impl {\n");
    for ns in 0..NAMESPACES {
        let _ = writeln!(
            out,
            "    type Ns{ns} = Impl;\n    fn ns{ns}(&self) -> &Impl {{ self }}"
        );
    }
    out.push_str("}\n");
    let params = "&self, a: i64, b: i64";
    namespaces(&mut out, methods, "#[rpc_api]", params, params);
    out.push_str(
        "\n#[tokio::main(flavor = \"current_thread\")]\nasync fn main() {\n    \
         let server = Server::builder(Peer::builder().serve(RootService(Impl)))\n        \
         .bind(\"127.0.0.1:0\")\n        .await\n        .expect(\"bind\");\n    \
         let peer = dotrpc::connect(server.local_addr()).await.expect(\"connect\");\n    \
         let root: RootClient = peer.client();\n    let mut sum = 0i64;\n",
    );
    for ns in 0..NAMESPACES {
        for i in namespace_methods(methods, ns) {
            let _ = writeln!(
                out,
                "    sum += root.ns{ns}.m{i}({i}, 1).await.expect(\"m{i}\");"
            );
        }
    }
    out.push_str("    println!(\"{sum}\");\n}\n");
    out
}

fn tarpc_source(methods: usize) -> String {
    let mut out = String::from(
        "use futures::StreamExt as _;\nuse tarpc::server::Channel as _;\n\
         use tarpc::tokio_serde::formats::Bincode;\nuse tarpc::{client, context, server};\n",
    );
    let (declared, implemented) = (
        "a: i64, b: i64",
        "self, _: context::Context, a: i64, b: i64",
    );
    namespaces(
        &mut out,
        methods,
        "#[tarpc::service]",
        declared,
        implemented,
    );
    out.push_str(
        "\n#[derive(Clone)]\nstruct Impl;\n\n\
         #[tokio::main(flavor = \"current_thread\")]\nasync fn main() {\n    let mut sum = 0i64;\n",
    );
    for ns in 0..NAMESPACES {
        let _ = writeln!(
            out,
            "    {{\n        let mut listener = tarpc::serde_transport::tcp::listen(\"127.0.0.1:0\", \
             Bincode::default).await.expect(\"listen\");\n        \
             let port = listener.local_addr().port();\n        \
             tokio::spawn(async move {{\n            \
             let transport = listener.next().await.expect(\"accept\").expect(\"accept\");\n            \
             server::BaseChannel::with_defaults(transport)\n                \
             .execute(Ns{ns}::serve(Impl))\n                \
             .for_each(|response| async move {{ tokio::spawn(response); }})\n                \
             .await;\n        }});\n        \
             let transport = tarpc::serde_transport::tcp::connect((\"127.0.0.1\", port), \
             Bincode::default).await.expect(\"connect\");\n        \
             let client = Ns{ns}Client::new(client::Config::default(), transport).spawn();"
        );
        for i in namespace_methods(methods, ns) {
            let _ = writeln!(
                out,
                "        sum += client.m{i}(context::current(), {i}, 1).await.expect(\"m{i}\");"
            );
        }
        out.push_str("    }\n");
    }
    out.push_str("    println!(\"{sum}\");\n}\n");
    out
}

fn report(options: &Options, built: &[Built]) -> Result<(), String> {
    println!(
        "{:<8} {:>8} {:>12} {:>10} {:>10}",
        "system", "methods", "bytes", "release", "debug"
    );
    let mut json = String::new();
    for b in built {
        println!(
            "{:<8} {:>8} {:>12} {:>9.1}s {:>9.1}s",
            b.system,
            b.methods,
            b.bytes,
            b.release.as_secs_f64(),
            b.debug.as_secs_f64()
        );
        let _ = writeln!(
            json,
            "{{\"kind\":\"build\",\"system\":\"{}\",\"methods\":{},\"bytes\":{},\
             \"release_s\":{:.2},\"debug_s\":{:.2}}}",
            b.system,
            b.methods,
            b.bytes,
            b.release.as_secs_f64(),
            b.debug.as_secs_f64()
        );
    }
    println!();
    for system in &options.systems {
        let mine: Vec<&Built> = built.iter().filter(|b| &b.system == system).collect();
        if let (Some(first), Some(last)) = (mine.first(), mine.last()) {
            let per =
                (last.bytes as f64 - first.bytes as f64) / (last.methods - first.methods) as f64;
            println!(
                "{system}: {:.2} KB per method ({} → {} methods)",
                per / 1000.0,
                first.methods,
                last.methods
            );
            let _ = writeln!(
                json,
                "{{\"kind\":\"build-slope\",\"system\":\"{system}\",\"bytes_per_method\":{per:.0}}}"
            );
        }
    }
    print!("{json}");
    if let Some(path) = &options.json {
        std::fs::write(path, json).map_err(|e| format!("writing {path}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_is_in_one_namespace() {
        for methods in [10, 11, 19, 400] {
            let spread: Vec<usize> = (0..NAMESPACES)
                .flat_map(|ns| namespace_methods(methods, ns))
                .collect();
            assert_eq!(spread, (0..methods).collect::<Vec<_>>());
        }
    }

    #[test]
    fn the_sources_call_every_method() {
        for source in [dotrpc_source(20), tarpc_source(20)] {
            for i in 0..20 {
                assert!(source.contains(&format!("fn m{i}(")), "m{i} is declared");
                assert!(source.contains(&format!(".m{i}(")), "m{i} is called");
            }
        }
    }
}
