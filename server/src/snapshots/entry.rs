//! One environment's entry in the cache: everything a request needs, computed once per
//! revision so that serving it costs no serialization, compression or compilation.

use std::io::Write;
use std::sync::Arc;

use actix_web::http::header::HeaderValue;
use actix_web::web::Bytes;
use anyhow::Context;
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use switchboard_core::CompiledSnapshot;

use super::{Answers, OfrepAnswers};
use crate::store::snapshots::Loaded;

/// One environment's snapshot, ready to serve and to evaluate.
#[derive(Debug)]
pub struct EnvironmentSnapshot {
    /// The environment's id: one deleted and created again under the same name is a different
    /// environment, and must not keep the old one's entry.
    pub environment_id: String,
    pub project: String,
    pub environment: String,
    pub revision: u64,
    /// Compiled once per revision; evaluation borrows it.
    pub compiled: Arc<CompiledSnapshot>,
    /// The pre-serialized pieces of `POST /v1/evaluate` answers for `compiled`.
    pub answers: Answers,
    /// The pre-serialized pieces of OFREP answers, and which flags client-side keys may see.
    pub ofrep: OfrepAnswers,
    /// The `application/json` body of `GET /v1/sdk/snapshot`.
    pub body: Bytes,
    /// `body`, gzip-compressed once at the best level (paid once per change, saved per request).
    pub gzip: Bytes,
    /// Strong validator: `"<revision>-<16 hex digits of SHA-256(body)>"`.
    pub etag: HeaderValue,
    /// The environment and every ancestor it inherits config from, nearest first: a token
    /// is served this snapshot only if it reaches all of them (the config in `body` holds
    /// their values).
    pub lineage: Vec<String>,
}

impl EnvironmentSnapshot {
    /// Compiles, serializes and compresses `snapshot`. CPU-bound (milliseconds for large
    /// snapshots), so callers run it off the async workers.
    pub fn build(
        environment_id: String,
        lineage: Vec<String>,
        loaded: &Loaded,
    ) -> anyhow::Result<Self> {
        let snapshot = &loaded.snapshot;
        let body = serde_json::to_vec(snapshot).context("serializing a snapshot")?;
        let digest = Sha256::digest(&body);
        let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let etag = HeaderValue::from_str(&format!("\"{}-{short}\"", snapshot.revision))
            .context("building an ETag")?;
        let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::best());
        encoder.write_all(&body).context("compressing a snapshot")?;
        let gzip = encoder.finish().context("compressing a snapshot")?;
        let compiled = CompiledSnapshot::compile(snapshot);
        let answers = Answers::build(snapshot, &compiled).context("preparing answers")?;
        let ofrep = OfrepAnswers::build(snapshot, &compiled, &loaded.client_visible)
            .context("preparing OFREP answers")?;
        Ok(Self {
            environment_id,
            project: snapshot.project.clone(),
            environment: snapshot.environment.clone(),
            revision: snapshot.revision,
            compiled: Arc::new(compiled),
            answers,
            ofrep,
            body: Bytes::from(body),
            gzip: Bytes::from(gzip),
            etag,
            lineage,
        })
    }
}
