//! All configuration: command-line flags with `CHAFF_*` environment
//! fallbacks, and the plain structs the library takes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::classify::{Comments, Policy};

/// Input limits; over them a document is refused with a message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub max_document_bytes: usize,
    pub max_segments: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: DEFAULT_MAX_DOCUMENT_BYTES,
            max_segments: DEFAULT_MAX_SEGMENTS,
        }
    }
}

pub const DEFAULT_MAX_DOCUMENT_BYTES: usize = 4 << 20;
pub const DEFAULT_MAX_SEGMENTS: usize = 20_000;
pub const DEFAULT_NEAR_RADIUS: u32 = 3;
/// Niceness of the threads that analyse stream batches (see `bulk`).
pub const DEFAULT_BULK_NICE: i32 = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    pub policy: Policy,
    pub limits: Limits,
    /// No effect any more (was the Hamming radius of simhash matches).
    pub near_radius: u32,
    /// Niceness steps of the bulk analysis threads below the process
    /// (0: same priority).
    pub bulk_nice: i32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            policy: Policy::default(),
            limits: Limits::default(),
            near_radius: DEFAULT_NEAR_RADIUS,
            bulk_nice: DEFAULT_BULK_NICE,
        }
    }
}

/// `--comments`: see [`Comments`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CommentsArg {
    Keep,
    Boilerplate,
}

/// Classification and limits.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineArgs {
    /// Documents of one source that make a repeated segment boilerplate.
    #[arg(long, env = "CHAFF_BOILERPLATE_MIN_DOCUMENTS", default_value_t = Policy::default().boilerplate_min_documents)]
    pub boilerplate_min_documents: u32,
    /// Tokens a segment needs before it can be labelled syndicated.
    #[arg(long, env = "CHAFF_SYNDICATION_MIN_TOKENS", default_value_t = Policy::default().syndication_min_tokens)]
    pub syndication_min_tokens: u32,
    /// Label by repeats only: ignore what the page's structure (layout,
    /// markup) says, i.e. the fitted segment model.
    #[arg(long, visible_alias = "no-layout", env = "CHAFF_NO_STRUCTURE")]
    pub no_structure: bool,
    /// Model probability above which a segment is boilerplate (0..1):
    /// higher keeps more editorial text, lower catches more boilerplate.
    #[arg(long, env = "CHAFF_BOILERPLATE_PROBABILITY", default_value_t = Policy::default().boilerplate_probability,
          value_parser = probability)]
    pub boilerplate_probability: f32,
    /// What segments in a reader-comment section of the page's markup are
    /// labelled: `keep` labels them like any other text, `boilerplate`
    /// always boilerplate (the article alone is editorial).
    #[arg(long, env = "CHAFF_COMMENTS", value_enum, default_value_t = CommentsArg::Keep)]
    pub comments: CommentsArg,
    /// No effect (near matching uses MinHash sketches now); accepted so that
    /// existing configurations still start.
    #[arg(long, env = "CHAFF_NEAR_RADIUS", default_value_t = DEFAULT_NEAR_RADIUS,
          value_parser = clap::value_parser!(u32).range(0..=7))]
    pub near_radius: u32,
    /// Largest accepted document text, bytes.
    #[arg(long, env = "CHAFF_MAX_DOCUMENT_BYTES", default_value_t = DEFAULT_MAX_DOCUMENT_BYTES)]
    pub max_document_bytes: usize,
    /// Most segments accepted in one document.
    #[arg(long, env = "CHAFF_MAX_SEGMENTS", default_value_t = DEFAULT_MAX_SEGMENTS)]
    pub max_segments: usize,
    /// Niceness steps (0..19) below the process's priority at which the
    /// threads analysing stream batches run, so that unary calls get the
    /// cores first; 0 runs them at the process's priority (Linux only;
    /// elsewhere no effect).
    #[arg(long, env = "CHAFF_BULK_NICE", default_value_t = DEFAULT_BULK_NICE,
          value_parser = clap::value_parser!(i32).range(0..=19))]
    pub bulk_nice: i32,
}

impl EngineArgs {
    pub fn config(&self) -> EngineConfig {
        EngineConfig {
            policy: Policy {
                boilerplate_min_documents: self.boilerplate_min_documents.max(1),
                syndication_min_tokens: self.syndication_min_tokens,
                use_structure: !self.no_structure,
                boilerplate_probability: self.boilerplate_probability,
                comments: match self.comments {
                    CommentsArg::Keep => Comments::Keep,
                    CommentsArg::Boilerplate => Comments::Boilerplate,
                },
            },
            limits: Limits {
                max_document_bytes: self.max_document_bytes,
                max_segments: self.max_segments,
            },
            near_radius: self.near_radius,
            bulk_nice: self.bulk_nice,
        }
    }
}

/// Where the embedded store keeps its data.
#[derive(Debug, Clone, clap::Args)]
pub struct StorageArgs {
    /// Directory of the durable embedded store.
    #[arg(long, env = "CHAFF_DATA_DIR", default_value = "chaff-data")]
    pub data_dir: PathBuf,
    /// Keep everything in memory; nothing survives a restart.
    #[arg(long, env = "CHAFF_EPHEMERAL")]
    pub ephemeral: bool,
    /// Page cache of the durable store, MiB (resident memory that does not
    /// grow with the corpus).
    #[arg(long, env = "CHAFF_STORE_CACHE_MB", default_value_t = crate::store::DEFAULT_CACHE_BYTES >> 20)]
    pub store_cache_mb: usize,
    /// Neither read nor write a snapshot of the state in the data
    /// directory: every start replays the store (slower on a large store,
    /// no extra disk).
    #[arg(long, env = "CHAFF_NO_SNAPSHOT")]
    pub no_snapshot: bool,
    /// Commit without saving the store's allocator state: bulk ingests into
    /// a large store go faster, but the first open after a crash walks the
    /// whole store file to rebuild it (11.5 s for 6.7 GB).
    #[arg(long, env = "CHAFF_NO_QUICK_REPAIR")]
    pub no_quick_repair: bool,
}

impl StorageArgs {
    pub fn dir(&self) -> Option<&std::path::Path> {
        (!self.ephemeral).then_some(self.data_dir.as_path())
    }

    pub fn cache_bytes(&self) -> usize {
        self.store_cache_mb.saturating_mul(1 << 20)
    }

    pub fn open_options(&self) -> crate::engine::OpenOptions {
        crate::engine::OpenOptions {
            cache_bytes: self.cache_bytes(),
            snapshots: !self.no_snapshot,
            quick_repair: !self.no_quick_repair,
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, env = "CHAFF_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Largest gRPC message accepted or sent, bytes.
    #[arg(long, env = "CHAFF_MAX_MESSAGE_BYTES", default_value_t = DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,
    /// On SIGTERM or ctrl-c, how long in-flight calls may take to finish.
    #[arg(long, env = "CHAFF_DRAIN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// Unary calls running at once; more wait (see --queue-timeout). 0: no
    /// limit. Streams are not counted (each runs one batch at a time).
    #[arg(long, env = "CHAFF_MAX_IN_FLIGHT", default_value_t = DEFAULT_MAX_IN_FLIGHT)]
    pub max_in_flight: usize,
    /// How long a unary call over --max-in-flight waits for a place before
    /// it is refused with RESOURCE_EXHAUSTED.
    #[arg(long, env = "CHAFF_QUEUE_TIMEOUT", default_value = "100ms", value_parser = parse_duration)]
    pub queue_timeout: Duration,
    /// How often to write a snapshot of the state while serving, so that a
    /// restart after a crash re-applies only the documents written after
    /// it. 0: only at a graceful stop. Ingests wait while one is written
    /// (reads do not); see the README for its cost.
    #[arg(long, env = "CHAFF_SNAPSHOT_INTERVAL", default_value = "0", value_parser = parse_duration)]
    pub snapshot_interval: Duration,
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 << 20;
/// Default of --max-in-flight: enough for ingests waiting on a commit to
/// keep the cores busy, few enough that a full queue drains in well under
/// a second.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_millis(100);

/// "10s", "500ms", "2m", "1h" or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 10s, 500ms or 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s, m or h)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

fn probability(s: &str) -> Result<f32, String> {
    let p: f32 = s
        .parse()
        .map_err(|e| format!("{s:?} is not a number: {e}"))?;
    if (0.0..1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("{p} is outside 0..1"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("3d").is_err());
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn serve_args(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        use clap::Parser;
        Cli::try_parse_from(std::iter::once("chaff").chain(args.iter().copied())).map(|c| c.serve)
    }

    #[test]
    fn scheduling_flags() {
        let a = serve_args(&[
            "--max-in-flight",
            "8",
            "--queue-timeout",
            "20ms",
            "--bulk-nice",
            "19",
        ])
        .unwrap();
        assert_eq!(a.max_in_flight, 8);
        assert_eq!(a.queue_timeout, Duration::from_millis(20));
        assert_eq!(a.engine.config().bulk_nice, 19);
        let off = serve_args(&["--max-in-flight", "0", "--bulk-nice", "0"]).unwrap();
        assert_eq!((off.max_in_flight, off.engine.bulk_nice), (0, 0));
        assert!(serve_args(&["--bulk-nice", "20"]).is_err());
        assert!(serve_args(&["--bulk-nice", "-1"]).is_err());
        assert!(serve_args(&["--queue-timeout", "soon"]).is_err());
    }

    #[test]
    fn scheduling_defaults_match_the_documented_constants() {
        // Unless the environment of this test run sets them.
        let vars = [
            "CHAFF_MAX_IN_FLIGHT",
            "CHAFF_QUEUE_TIMEOUT",
            "CHAFF_BULK_NICE",
        ];
        if vars.iter().any(|v| std::env::var_os(v).is_some()) {
            return;
        }
        let a = serve_args(&[]).unwrap();
        assert_eq!(a.max_in_flight, DEFAULT_MAX_IN_FLIGHT);
        assert_eq!(a.queue_timeout, DEFAULT_QUEUE_TIMEOUT);
        assert_eq!(a.engine.config().bulk_nice, DEFAULT_BULK_NICE);
        assert_eq!(EngineConfig::default().bulk_nice, DEFAULT_BULK_NICE);
    }
}
