//! chaff: labels every paragraph of a document editorial, boilerplate or
//! syndicated, with provenance, from what it has seen of other documents.
//!
//! The pipeline runs one way, one module per step:
//! [`document`] -> [`segment`] -> [`normalize`] -> [`fingerprint`] ->
//! [`index`] -> [`cluster`] -> [`classify`], held together by [`engine`]
//! and made durable by [`store`]. [`server`] (gRPC) and [`cli`] are thin
//! shells over the same [`engine::Engine`].

pub mod alloc;
pub mod bulk;
pub mod calls;
pub mod classify;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod convert;
pub mod doc_ids;
pub mod document;
pub mod engine;
pub mod error;
pub mod eval;
pub mod fingerprint;
pub mod html;
pub mod index;
pub mod labels;
pub mod layout;
pub mod model;
pub mod mojibake;
pub mod normalize;
pub mod pattern;
pub mod segment;
pub mod server;
pub mod snapshot;
pub mod store;
pub mod structure;
pub mod table;
pub mod time;
pub mod trees;

pub use engine::Engine;
pub use error::{Error, Result};

/// Generated protobuf and gRPC code.
pub mod proto {
    /// The public API, package `chaff.v1`.
    #[allow(clippy::large_enum_variant)]
    pub mod v1 {
        tonic::include_proto!("chaff.v1");
    }
    /// The embedded store's record format.
    pub mod store {
        tonic::include_proto!("chaff.store.v1");
    }
    /// Encoded descriptors of every proto, for gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("chaff_descriptor");
}
