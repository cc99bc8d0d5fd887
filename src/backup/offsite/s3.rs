//! The S3 API over the hyper/rustls client already in the tree: rusty-s3 presigns each request
//! (SigV4, sans-IO), this module sends it, retries transport errors and 5xx answers a bounded
//! number of times, and uploads large files in parts.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rusty_s3::actions::{CreateMultipartUpload, ListObjectsV2};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::OffsiteError;
use crate::config::Offsite;
use crate::diagnostic::one_line;

/// Files up to this size go in one PUT; larger ones in parts of (at least) this size (S3's
/// minimum part is 5 MiB; one part is held in memory at a time).
pub const PART_SIZE: u64 = 16 * 1024 * 1024;
/// S3 allows at most this many parts per upload.
const MAX_PARTS: u64 = 10_000;
/// Each request is tried this often before the push gives up (1 s, 2 s, 4 s between tries).
const ATTEMPTS: u32 = 4;
/// A presigned URL is used at once; this only bounds a slow part's upload.
const SIGNED_FOR: Duration = Duration::from_secs(3_600);
/// Listing, starting and completing an upload, deleting.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(60);
/// One part (or a whole small file) up or the whole download: slow links are allowed.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30 * 60);

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One bucket, its credentials and a client to reach it.
pub struct Store {
    bucket: Bucket,
    credentials: Credentials,
    client: HttpsClient,
    /// Named in errors (never the credentials).
    pub endpoint: String,
}

/// An object in the bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    pub key: String,
    pub size: u64,
    pub last_modified: String,
}

impl Store {
    pub fn new(
        config: &Offsite,
        access_key: String,
        secret_key: String,
    ) -> Result<Self, OffsiteError> {
        let bad = |reason: String| OffsiteError::Endpoint {
            endpoint: config.endpoint.clone(),
            reason,
        };
        let url: url::Url = config.endpoint.parse().map_err(|e| bad(format!("{e}")))?;
        let style = if config.virtual_host {
            UrlStyle::VirtualHost
        } else {
            UrlStyle::Path
        };
        let bucket = Bucket::new(url, style, config.bucket.clone(), config.region.clone())
            .map_err(|e| bad(e.to_string()))?;
        let roots = crate::tls::client_roots(&[]).map_err(bad)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Store {
            bucket,
            credentials: Credentials::new(access_key, secret_key),
            client: Client::builder(TokioExecutor::new()).build(connector),
            endpoint: config.endpoint.clone(),
        })
    }

    /// Uploads `file` as `key`: one PUT when small, a multipart upload (aborted on failure, so
    /// no half object is left) when large.
    pub async fn upload(&self, file: &Path, key: &str) -> Result<u64, OffsiteError> {
        let size = std::fs::metadata(file)
            .map_err(|source| OffsiteError::Local {
                path: file.to_path_buf(),
                source,
            })?
            .len();
        if size <= PART_SIZE {
            let body = read_part(file, 0, size).await?;
            let url = self
                .bucket
                .put_object(Some(&self.credentials), key)
                .sign(SIGNED_FOR);
            self.send("uploading", http::Method::PUT, url, body, TRANSFER_TIMEOUT)
                .await?;
            return Ok(size);
        }
        let url = self
            .bucket
            .create_multipart_upload(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let (_, body) = self
            .send(
                "starting a multipart upload",
                http::Method::POST,
                url,
                Bytes::new(),
                CONTROL_TIMEOUT,
            )
            .await?;
        let started = CreateMultipartUpload::parse_response(&String::from_utf8_lossy(&body))
            .map_err(|e| self.bad_answer("starting a multipart upload", e.to_string()))?;
        let upload_id = started.upload_id();
        match self.parts(file, key, upload_id, size).await {
            Ok(()) => Ok(size),
            Err(e) => {
                let url = self
                    .bucket
                    .abort_multipart_upload(Some(&self.credentials), key, upload_id)
                    .sign(SIGNED_FOR);
                if let Err(abort) = self
                    .send(
                        "aborting the upload",
                        http::Method::DELETE,
                        url,
                        Bytes::new(),
                        CONTROL_TIMEOUT,
                    )
                    .await
                {
                    tracing::warn!(
                        "the failed upload of {key} could not be aborted: {}",
                        one_line(&abort)
                    );
                }
                Err(e)
            }
        }
    }

    async fn parts(
        &self,
        file: &Path,
        key: &str,
        upload_id: &str,
        size: u64,
    ) -> Result<(), OffsiteError> {
        let part_size = part_size(size);
        let mut etags = Vec::new();
        let mut offset = 0;
        while offset < size {
            let length = part_size.min(size - offset);
            let body = read_part(file, offset, length).await?;
            let number = etags.len() as u16 + 1;
            let url = self
                .bucket
                .upload_part(Some(&self.credentials), key, number, upload_id)
                .sign(SIGNED_FOR);
            let (headers, _) = self
                .send(
                    "uploading a part",
                    http::Method::PUT,
                    url,
                    body,
                    TRANSFER_TIMEOUT,
                )
                .await?;
            let etag = headers
                .get(http::header::ETAG)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| self.bad_answer("uploading a part", "no ETag".into()))?;
            etags.push(etag.to_string());
            offset += length;
        }
        let complete = self.bucket.complete_multipart_upload(
            Some(&self.credentials),
            key,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = complete.sign(SIGNED_FOR);
        let (_, answer) = self
            .send(
                "completing the upload",
                http::Method::POST,
                url,
                complete.body().into(),
                CONTROL_TIMEOUT,
            )
            .await?;
        // S3 may answer 200 and still report an error in the body.
        let answer = String::from_utf8_lossy(&answer);
        if answer.contains("<Error>") {
            return Err(self.refused("completing the upload", 200, error_message(&answer)));
        }
        Ok(())
    }

    /// Every object whose key starts with `prefix`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<Object>, OffsiteError> {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut action = self.bucket.list_objects_v2(Some(&self.credentials));
            if !prefix.is_empty() {
                action.with_prefix(prefix);
            }
            if let Some(token) = &token {
                action.with_continuation_token(token.as_str());
            }
            let url = action.sign(SIGNED_FOR);
            let (_, body) = self
                .send(
                    "listing",
                    http::Method::GET,
                    url,
                    Bytes::new(),
                    CONTROL_TIMEOUT,
                )
                .await?;
            let page = ListObjectsV2::parse_response(&String::from_utf8_lossy(&body))
                .map_err(|e| self.bad_answer("listing", e.to_string()))?;
            objects.extend(page.contents.into_iter().map(|c| Object {
                key: c.key,
                size: c.size,
                last_modified: c.last_modified,
            }));
            match page.next_continuation_token {
                Some(next) if !next.is_empty() => token = Some(next),
                _ => return Ok(objects),
            }
        }
    }

    /// Streams `key` into `out`; returns its size.
    pub async fn download(
        &self,
        key: &str,
        out: &mut tokio::fs::File,
        path: &Path,
    ) -> Result<u64, OffsiteError> {
        let url = self
            .bucket
            .get_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                tokio::time::sleep(backoff(attempt - 1)).await;
                out.set_len(0).await.map_err(local(path))?;
                out.seek(std::io::SeekFrom::Start(0))
                    .await
                    .map_err(local(path))?;
            }
            let request = self.request(http::Method::GET, &url, Bytes::new());
            let response =
                match tokio::time::timeout(CONTROL_TIMEOUT, self.client.request(request)).await {
                    Err(_) => {
                        last = format!("no answer within {} s", CONTROL_TIMEOUT.as_secs());
                        continue;
                    }
                    Ok(Err(e)) => {
                        last = one_line(&e);
                        continue;
                    }
                    Ok(Ok(response)) => response,
                };
            let status = response.status();
            if status == http::StatusCode::NOT_FOUND {
                return Err(OffsiteError::NoSuchKey {
                    key: key.to_string(),
                    bucket: self.bucket.name().to_string(),
                });
            }
            if !status.is_success() {
                let body = collect(response.into_body()).await.unwrap_or_default();
                let message = error_message(&String::from_utf8_lossy(&body));
                if retryable(status) {
                    last = format!("{status}: {message}");
                    continue;
                }
                return Err(self.refused("downloading", status.as_u16(), message));
            }
            let mut body = response.into_body();
            let mut written = 0u64;
            let streamed = tokio::time::timeout(TRANSFER_TIMEOUT, async {
                while let Some(frame) = body.frame().await {
                    let frame = frame.map_err(|e| one_line(&e))?;
                    if let Ok(data) = frame.into_data() {
                        out.write_all(&data).await.map_err(|e| e.to_string())?;
                        written += data.len() as u64;
                    }
                }
                Ok::<(), String>(())
            })
            .await;
            match streamed {
                Ok(Ok(())) => {
                    out.flush().await.map_err(local(path))?;
                    return Ok(written);
                }
                Ok(Err(e)) => last = e,
                Err(_) => last = format!("not complete within {} s", TRANSFER_TIMEOUT.as_secs()),
            }
        }
        Err(self.unreachable("downloading", last))
    }

    pub async fn delete(&self, key: &str) -> Result<(), OffsiteError> {
        let url = self
            .bucket
            .delete_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        self.send(
            "deleting",
            http::Method::DELETE,
            url,
            Bytes::new(),
            CONTROL_TIMEOUT,
        )
        .await
        .map(|_| ())
    }

    fn request(
        &self,
        method: http::Method,
        url: &url::Url,
        body: Bytes,
    ) -> http::Request<Full<Bytes>> {
        http::Request::builder()
            .method(method)
            .uri(url.as_str())
            .body(Full::new(body))
            .expect("a presigned URL is a valid URI")
    }

    /// One request, tried up to `ATTEMPTS` times while the failure may pass (no connection, no
    /// answer in time, 5xx, 429); any other answer is final.
    async fn send(
        &self,
        what: &'static str,
        method: http::Method,
        url: url::Url,
        body: Bytes,
        timeout: Duration,
    ) -> Result<(http::HeaderMap, Bytes), OffsiteError> {
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                tokio::time::sleep(backoff(attempt - 1)).await;
            }
            let request = self.request(method.clone(), &url, body.clone());
            let answer = tokio::time::timeout(timeout, async {
                let response = self
                    .client
                    .request(request)
                    .await
                    .map_err(|e| one_line(&e))?;
                let (parts, body) = response.into_parts();
                let body = collect(body).await?;
                Ok::<_, String>((parts, body))
            })
            .await;
            let (parts, body) = match answer {
                Err(_) => {
                    last = format!("no answer within {} s", timeout.as_secs());
                    continue;
                }
                Ok(Err(e)) => {
                    last = e;
                    continue;
                }
                Ok(Ok(answer)) => answer,
            };
            if parts.status.is_success() {
                return Ok((parts.headers, body));
            }
            let message = error_message(&String::from_utf8_lossy(&body));
            if retryable(parts.status) {
                last = format!("{}: {message}", parts.status);
                continue;
            }
            return Err(self.refused(what, parts.status.as_u16(), message));
        }
        Err(self.unreachable(what, last))
    }

    fn unreachable(&self, what: &'static str, reason: String) -> OffsiteError {
        OffsiteError::Unreachable {
            endpoint: self.endpoint.clone(),
            what,
            attempts: ATTEMPTS,
            reason,
        }
    }

    fn refused(&self, what: &'static str, status: u16, message: String) -> OffsiteError {
        OffsiteError::Refused {
            endpoint: self.endpoint.clone(),
            bucket: self.bucket.name().to_string(),
            what,
            status,
            message,
        }
    }

    fn bad_answer(&self, what: &'static str, reason: String) -> OffsiteError {
        OffsiteError::BadAnswer {
            endpoint: self.endpoint.clone(),
            what,
            reason,
        }
    }
}

async fn collect(body: hyper::body::Incoming) -> Result<Bytes, String> {
    body.collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| one_line(&e))
}

fn local(path: &Path) -> impl FnOnce(std::io::Error) -> OffsiteError + '_ {
    move |source| OffsiteError::Local {
        path: path.to_path_buf(),
        source,
    }
}

/// `length` bytes of `file` from `offset`, read off the runtime's threads.
async fn read_part(file: &Path, offset: u64, length: u64) -> Result<Bytes, OffsiteError> {
    let path = file.to_path_buf();
    tokio::task::spawn_blocking(move || {
        use std::io::{Seek, SeekFrom};
        let mut f = std::fs::File::open(&path)?;
        f.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::with_capacity(length as usize);
        f.take(length).read_to_end(&mut buf)?;
        if buf.len() as u64 != length {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file shrank while it was being uploaded",
            ));
        }
        Ok(Bytes::from(buf))
    })
    .await
    .expect("the read does not panic")
    .map_err(|source| OffsiteError::Local {
        path: file.to_path_buf(),
        source,
    })
}

/// Pure: the part size for a file of `size` bytes (larger parts when 10,000 would not do).
pub fn part_size(size: u64) -> u64 {
    PART_SIZE.max(size.div_ceil(MAX_PARTS))
}

/// Pure: answers worth another try.
fn retryable(status: http::StatusCode) -> bool {
    status.is_server_error() || status == http::StatusCode::TOO_MANY_REQUESTS
}

/// Pure: 1 s, 2 s, 4 s.
fn backoff(retry: u32) -> Duration {
    Duration::from_secs(1 << (retry - 1).min(4))
}

/// Pure: S3's `<Code>` and `<Message>` from an error body, or its start when it has neither.
pub fn error_message(body: &str) -> String {
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{name}>"))?;
        Some(body[start..start + end].trim().to_string())
    };
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code,
        (None, Some(message)) => message,
        (None, None) => body
            .chars()
            .take(200)
            .collect::<String>()
            .trim()
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_stay_under_s3s_limit() {
        assert_eq!(part_size(1), PART_SIZE);
        assert_eq!(part_size(100 * PART_SIZE), PART_SIZE);
        let huge = 400 * 1024 * 1024 * 1024u64;
        assert!(huge.div_ceil(part_size(huge)) <= MAX_PARTS);
    }

    #[test]
    fn only_passing_failures_are_retried_with_a_bounded_wait() {
        assert!(retryable(http::StatusCode::SERVICE_UNAVAILABLE));
        assert!(retryable(http::StatusCode::TOO_MANY_REQUESTS));
        assert!(!retryable(http::StatusCode::FORBIDDEN));
        assert!(!retryable(http::StatusCode::NOT_FOUND));
        let waits: Vec<u64> = (1..ATTEMPTS).map(|r| backoff(r).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4]);
    }

    #[test]
    fn s3_errors_are_read_from_their_xml() {
        let body = "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>";
        assert_eq!(
            error_message(body),
            "NoSuchBucket: The specified bucket does not exist"
        );
        assert_eq!(
            error_message("<Error><Code>AccessDenied</Code></Error>"),
            "AccessDenied"
        );
        assert_eq!(error_message("  bad gateway\n"), "bad gateway");
    }
}
