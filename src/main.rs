//! Entry point: parse the command line, set up logging, run the command, map errors to exit codes.

use clap::Parser;

// jemalloc keeps the untouched parts of the edge's per-connection buffers out of memory and hands
// memory back after a load peak (bench/edge-bench.sh: 17.5 vs 20.1 KiB per idle TLS connection,
// 19 vs 54 MiB after the run, compared with glibc's malloc).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    // ring is the only provider compiled in; installing it explicitly keeps any dependency that
    // asks for "the default provider" from panicking if another one is ever enabled.
    rustls::crypto::ring::default_provider()
        .install_default()
        .expect("no other rustls crypto provider is installed before main");
    let cli = matrixbox::cli::Cli::parse();
    if let Some(lang) = cli.lang {
        matrixbox::i18n::Lang::choose(lang);
    }
    matrixbox::logging::init(cli.verbose);
    let daemon = matches!(cli.command, matrixbox::cli::Command::Run(_));
    let runtime = runtime(daemon).expect("cannot start the async runtime");
    if let Err(err) = runtime.block_on(matrixbox::commands::execute(cli)) {
        eprint!("{}", matrixbox::report::render(&err));
        std::process::exit(matrixbox::report::exit_code(&err));
    }
}

/// The daemon (`run`) runs on its current thread: it waits on Docker, files and the network,
/// and the unprivileged edge process serves the clients. Every other command, the edge included,
/// gets a worker per CPU; one worker (a 1-CPU VPS, or TOKIO_WORKER_THREADS=1) runs on the current
/// thread too: the multi-threaded scheduler's cross-thread bookkeeping buys nothing there, and each
/// idle worker holds its own stack and allocator cache.
fn runtime(daemon: bool) -> std::io::Result<tokio::runtime::Runtime> {
    let workers = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from));
    if daemon || workers == Some(1) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Runtime::new()
    }
}
