//! Shared test support: a real server on an ephemeral port, a real client,
//! and fixtures written for these tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use chaff::config::EngineConfig;
use chaff::proto::v1 as pb;
use chaff::proto::v1::chaff_client::ChaffClient;
use chaff::server::{serve, Admission, ServeOptions};
use chaff::Engine;
use prost_types::Timestamp;
use tokio::sync::oneshot;
use tonic::transport::Channel;

pub mod fixtures;

pub struct TestServer {
    pub addr: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    /// Starts the real gRPC server, in memory, on 127.0.0.1:0.
    pub async fn start() -> TestServer {
        Self::start_with(EngineConfig::default(), 4 << 20).await
    }

    pub async fn start_with(config: EngineConfig, max_message_bytes: usize) -> TestServer {
        Self::start_admitting(config, max_message_bytes, Admission::default()).await
    }

    /// With the given admission of unary calls (shared with the caller).
    pub async fn start_admitting(
        config: EngineConfig,
        max_message_bytes: usize,
        admission: Admission,
    ) -> TestServer {
        let engine = Arc::new(Engine::ephemeral(config).expect("engine"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let opts = ServeOptions {
            max_message_bytes,
            drain_timeout: Duration::from_secs(5),
            admission,
            snapshot_interval: None,
        };
        let handle = tokio::spawn(serve(engine, listener, opts, async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn channel(&self) -> Channel {
        tonic::transport::Endpoint::from_shared(self.url())
            .unwrap()
            .connect()
            .await
            .expect("connect")
    }

    pub async fn client(&self) -> ChaffClient<Channel> {
        ChaffClient::new(self.channel().await)
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.handle
            .take()
            .unwrap()
            .await
            .expect("join")
            .expect("server ended cleanly");
    }
}

pub fn ts(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos: 0 })
}

pub fn doc(id: &str, source: &str, published: i64, paragraphs: &[String]) -> pb::Document {
    pb::Document {
        id: id.into(),
        source: source.into(),
        url: format!("https://{source}/{id}"),
        published_at: ts(published),
        body: Some(pb::document::Body::Text(paragraphs.join("\n\n"))),
        markup: String::new(),
    }
}

/// Article `i` of an outlet whose pages end in a donation appeal (three
/// variants in turn), a minute apart: the restart tests' documents.
pub fn outlet_doc(i: usize) -> pb::Document {
    let mut p = fixtures::article(i as u64, 3);
    p.extend(fixtures::appeal(i % 3));
    doc(
        &format!("a{i}"),
        "dailyledger.example",
        1_735_000_000 + i as i64 * 60,
        &p,
    )
}

pub async fn connect(url: &str) -> ChaffClient<Channel> {
    ChaffClient::connect(url.to_string())
        .await
        .expect("connect")
}

pub async fn ingest(c: &mut ChaffClient<Channel>, d: pb::Document) -> pb::DocumentLabels {
    c.analyze(pb::AnalyzeRequest {
        document: Some(d),
        mode: pb::Mode::Ingest as i32,
    })
    .await
    .expect("analyze")
    .into_inner()
    .labels
    .expect("labels")
}

pub async fn get(c: &mut ChaffClient<Channel>, id: &str) -> pb::DocumentLabels {
    c.get_document(pb::GetDocumentRequest {
        id: id.into(),
        include_text: false,
    })
    .await
    .expect("get document")
    .into_inner()
    .labels
    .expect("labels")
}

pub fn labels(l: &pb::DocumentLabels) -> Vec<pb::Label> {
    l.segments.iter().map(|s| s.label()).collect()
}

/// A `chaff serve` child process, killed when dropped.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub addr: String,
}

impl ServerProcess {
    /// Starts `chaff serve --listen 127.0.0.1:0 ARGS` and waits for its
    /// "listening on ADDR" line.
    pub fn spawn(args: &[&str]) -> ServerProcess {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chaff"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn chaff serve");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read stdout");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        ServerProcess { child, addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL: no shutdown path runs.
    pub fn kill_9(&mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
