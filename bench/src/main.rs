//! `dotrpc-bench`: dotrpc side by side with a raw msgpack-rpc baseline and
//! other Rust RPC frameworks, each system's server and client in separate
//! processes on 127.0.0.1 (pinned to different CPUs where `taskset` exists).
//!
//! ```text
//! cargo run --release -p dotrpc-bench                 # the full run, a few minutes
//! cargo run --release -p dotrpc-bench -- --quick      # one short repetition
//! cargo run --release -p dotrpc-bench -- --help
//! cargo run --release -p dotrpc-bench -- nats         # over NATS: the hop, and scaling out
//! cargo run --release -p dotrpc-bench -- build        # code size and compile time per method
//! ```
//!
//! The same binary plays all three parts: `run` (the default) orchestrates,
//! `serve SYSTEM` is a server, `client SYSTEM WORKLOAD PORT` a client that
//! prints one JSON line of measurements.

mod alloc;
mod codesize;
mod nats;
mod orchestrate;
mod raw_wire;
mod systems;
mod workload;

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

const USAGE: &str = "\
usage: dotrpc-bench [run] [--quick] [--reps N] [--systems a,b] [--workloads a,b] [--json FILE]
       dotrpc-bench serve SYSTEM
       dotrpc-bench client SYSTEM WORKLOAD PORT
       dotrpc-bench nats [--quick] [--json FILE]
       dotrpc-bench nats-serve NATS_URL
       dotrpc-bench build [--methods 10,100,400] [--systems dotrpc,tarpc] [--json FILE]

Runs each system's server and client as separate processes on 127.0.0.1 and
prints a table, then one JSON line per measurement.

  --quick          one repetition of shorter workloads (a smoke test)
  --reps N         repetitions of every workload (default 5; medians are reported)
  --systems        dotrpc,raw,tarpc,jsonrpsee,msgpack-rpc (default: all)
  --workloads      lat,pipe,conns,bulk,bulk_vec,notify,notify_await,stream,slow,idle,nested (default: all)
  --json FILE      also write the JSON lines to FILE

`nats` measures serving over NATS on a real nats-server: the broker hop
against direct TCP, and throughput with 1, 2 and 4 instances.

`build` measures code size and compile time per method: for each system and
method count it builds a crate serving and calling an API of that many
methods over ten namespaces, and reports the stripped release binary's
growth per method.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("serve") => systems::serve_main(&args[1..]),
        Some("client") => workload::client_main(&args[1..]),
        Some("nats") => nats::main(&args[1..]),
        Some("nats-serve") => nats::serve_main(&args[1..]),
        Some("build") => codesize::main(&args[1..]),
        Some("--help" | "-h" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some("run") => orchestrate::main(&args[1..]),
        _ => orchestrate::main(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dotrpc-bench: {message}");
            ExitCode::FAILURE
        }
    }
}
