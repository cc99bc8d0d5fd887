//! How the edge answers on the web client's name: which file a path names (pure), with
//! Element's recommended security headers, its caching rules and the single-page-app fallback.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};

/// A body: small documents from memory, the bundle's files streamed from disk in chunks, so
/// many downloads of a large bundle at once hold little memory on a small host.
pub enum Reply {
    Full(Bytes),
    File(FileBody),
}

/// A file's contents, read as they are sent.
pub struct FileBody {
    file: tokio::fs::File,
    left: u64,
}

/// Read size per frame.
const CHUNK: usize = 64 * 1024;

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(None);
        }
        let mut chunk = vec![0u8; CHUNK.min(this.left as usize)];
        let mut buf = ReadBuf::new(&mut chunk);
        match Pin::new(&mut this.file).poll_read(cx, &mut buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len();
                if n == 0 {
                    // Shorter than it was (replaced meanwhile): ending early makes hyper close
                    // the connection, as the announced length was not sent.
                    this.left = 0;
                    return Poll::Ready(None);
                }
                chunk.truncate(n);
                this.left -= n as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
            }
            Poll::Ready(Err(e)) => {
                tracing::warn!("reading a web client file failed: {e}");
                this.left = 0;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// What a request on the web client's name gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The generated `config.json` (also as `config.<name>.json`, which Element asks for first).
    Config,
    /// A file under the bundle, by its relative path; `spa` when a missing one is an app route
    /// (no extension), answered with `index.html`.
    File {
        relative: String,
        spa: bool,
    },
    NotFound,
    MethodNotAllowed,
}

/// Pure: the raw path (no query) -> what answers it. Only plain names are looked up: no
/// percent-encoding, no dot segments or hidden files, so no path leaves the bundle.
pub fn plan(method: &Method, path: &str, name: &str) -> Plan {
    if method != Method::GET && method != Method::HEAD {
        return Plan::MethodNotAllowed;
    }
    if path == "/config.json" || path == format!("/config.{name}.json") {
        return Plan::Config;
    }
    let relative = match path.strip_prefix('/') {
        Some("") => "index.html",
        Some(rest) => rest,
        None => return Plan::NotFound,
    };
    let plain = |segment: &str| {
        !segment.is_empty()
            && !segment.starts_with('.')
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-~@+".contains(&b))
    };
    if !relative.split('/').all(plain) {
        return Plan::NotFound;
    }
    let last = relative.rsplit('/').next().unwrap_or(relative);
    Plan::File {
        relative: relative.to_string(),
        spa: !last.contains('.'),
    }
}

/// Element's advice: files whose names do not change between releases must be revalidated;
/// hashed bundles never change.
pub fn cache_control(relative: &str) -> &'static str {
    let no_cache = matches!(relative, "index.html" | "version" | "sw.js")
        || relative.starts_with("config")
        || relative.starts_with("i18n/");
    if no_cache {
        "no-cache"
    } else if relative.starts_with("bundles/") {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=86400"
    }
}

/// Text worth sending compressed (images, fonts and audio are compressed already).
pub fn compressible(relative: &str) -> bool {
    let extension = relative.rsplit_once('.').map_or("", |(_, e)| e);
    matches!(
        extension,
        "html" | "js" | "mjs" | "css" | "json" | "map" | "svg" | "wasm" | "txt" | "webmanifest"
    )
}

/// Whether the request's `Accept-Encoding` takes gzip (not refused with `q=0`).
pub fn accepts_gzip(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

pub fn content_type(relative: &str) -> &'static str {
    let extension = relative.rsplit_once('.').map_or("", |(_, e)| e);
    match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "txt" | "" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

static X_FRAME_OPTIONS: HeaderName = HeaderName::from_static("x-frame-options");
static X_CONTENT_TYPE_OPTIONS: HeaderName = HeaderName::from_static("x-content-type-options");
static X_XSS_PROTECTION: HeaderName = HeaderName::from_static("x-xss-protection");

/// The headers Element's documentation asks its web server for, on every answer.
pub fn security_headers(headers: &mut http::HeaderMap) {
    headers.insert(
        X_FRAME_OPTIONS.clone(),
        HeaderValue::from_static("SAMEORIGIN"),
    );
    headers.insert(
        X_CONTENT_TYPE_OPTIONS.clone(),
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        X_XSS_PROTECTION.clone(),
        HeaderValue::from_static("1; mode=block"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'self'"),
    );
}

/// Answers one request from the bundle in `dir` (the `current` link) and the generated config.
pub async fn answer(
    method: Method,
    path: String,
    gzip: bool,
    name: &str,
    dir: &Path,
    config_json: Bytes,
) -> Response<Reply> {
    let head = method == Method::HEAD;
    let (status, kind, cache, body) = match plan(&method, &path, name) {
        Plan::MethodNotAllowed => {
            let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        Plan::NotFound => return text(StatusCode::NOT_FOUND, "not found"),
        Plan::Config => (
            StatusCode::OK,
            "application/json",
            "no-cache",
            (config_json.len() as u64, Reply::Full(config_json)),
        ),
        Plan::File { relative, spa } => match read(dir, &relative).await {
            Some(file) => {
                let vary = compressible(&relative);
                // The copy compressed when the files were unpacked, if there is one.
                let zipped = match vary && gzip {
                    true => read(dir, &format!("{relative}.gz")).await,
                    false => None,
                };
                let encoded = zipped.is_some();
                let mut response = respond(
                    head,
                    content_type(&relative),
                    cache_control(&relative),
                    zipped.unwrap_or(file),
                );
                let h = response.headers_mut();
                if vary {
                    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
                }
                if encoded {
                    h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                }
                return response;
            }
            None if spa => match read(dir, "index.html").await {
                Some(file) => (StatusCode::OK, content_type("index.html"), "no-cache", file),
                None => return unavailable(),
            },
            None if relative == "index.html" => return unavailable(),
            None => return text(StatusCode::NOT_FOUND, "not found"),
        },
    };
    let mut response = respond(head, kind, cache, body);
    *response.status_mut() = status;
    response
}

/// A 200 with the security headers, its type, caching and length (no body for HEAD).
fn respond(
    head: bool,
    kind: &'static str,
    cache: &'static str,
    (length, body): (u64, Reply),
) -> Response<Reply> {
    let mut response = Response::new(if head {
        Reply::Full(Bytes::new())
    } else {
        body
    });
    let h = response.headers_mut();
    security_headers(h);
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    response
}

/// A regular file of the bundle, opened, and its length; `None` when it is missing or not a file.
async fn read(dir: &Path, relative: &str) -> Option<(u64, Reply)> {
    let path: PathBuf = dir.join(relative);
    let file = tokio::fs::File::open(&path).await.ok()?;
    let metadata = file.metadata().await.ok()?;
    if !metadata.is_file() {
        return None;
    }
    let left = metadata.len();
    Some((left, Reply::File(FileBody { file, left })))
}

/// Until the first copy of the files is in place.
fn unavailable() -> Response<Reply> {
    let mut response = text(
        StatusCode::SERVICE_UNAVAILABLE,
        "the web client's files are not in place yet; try again in a minute",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    response
}

fn text(status: StatusCode, message: &'static str) -> Response<Reply> {
    let mut response = Response::new(Reply::Full(Bytes::from_static(message.as_bytes())));
    *response.status_mut() = status;
    let h = response.headers_mut();
    security_headers(h);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "chat.example.com";

    fn get(path: &str) -> Plan {
        plan(&Method::GET, path, NAME)
    }

    fn file(relative: &str, spa: bool) -> Plan {
        Plan::File {
            relative: relative.into(),
            spa,
        }
    }

    #[test]
    fn paths_name_files_of_the_bundle_only() {
        assert_eq!(get("/"), file("index.html", false));
        assert_eq!(get("/config.json"), Plan::Config);
        assert_eq!(get("/config.chat.example.com.json"), Plan::Config);
        assert_eq!(
            get("/bundles/abc123/init.js"),
            file("bundles/abc123/init.js", false)
        );
        assert_eq!(get("/version"), file("version", true));
        assert_eq!(get("/room/general"), file("room/general", true));
        for hostile in [
            "/../etc/passwd",
            "/bundles/../../x",
            "/%2e%2e/x",
            "/.hidden",
            "//etc/passwd",
            "/a//b",
            "/a\\b",
            "relative",
        ] {
            assert_eq!(get(hostile), Plan::NotFound, "{hostile}");
        }
        assert_eq!(plan(&Method::POST, "/", NAME), Plan::MethodNotAllowed);
        assert_eq!(plan(&Method::HEAD, "/", NAME), file("index.html", false));
    }

    #[test]
    fn gzip_is_taken_unless_refused() {
        let accepts = |value: &str| {
            let mut h = http::HeaderMap::new();
            h.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(value).unwrap(),
            );
            accepts_gzip(&h)
        };
        assert!(accepts("gzip, deflate, br"));
        assert!(accepts("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts("*"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("br, identity"));
        assert!(!accepts_gzip(&http::HeaderMap::new()));
        assert!(compressible("bundles/a/init.js") && !compressible("img/logo.png"));
    }

    #[test]
    fn caching_follows_elements_advice() {
        assert_eq!(cache_control("index.html"), "no-cache");
        assert_eq!(cache_control("version"), "no-cache");
        assert_eq!(cache_control("config.json"), "no-cache");
        assert_eq!(cache_control("i18n/zh_Hans.json"), "no-cache");
        assert_eq!(
            cache_control("bundles/abc/init.js"),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(cache_control("themes/a.woff2"), "public, max-age=86400");
        assert_eq!(
            content_type("bundles/a/b.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("version"), "text/plain; charset=utf-8");
    }

    /// The body's bytes, from memory or read from its file (a fresh handle: bodies are moved out).
    async fn read_body(reply: &Reply) -> Vec<u8> {
        use http_body_util::BodyExt;
        match reply {
            Reply::Full(bytes) => bytes.to_vec(),
            Reply::File(file) => {
                let copy = FileBody {
                    file: file.file.try_clone().await.unwrap(),
                    left: file.left,
                };
                copy.collect().await.unwrap().to_bytes().to_vec()
            }
        }
    }

    #[tokio::test]
    async fn missing_app_routes_get_index_and_missing_files_404() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<html>").unwrap();
        std::fs::create_dir(dir.path().join("bundles")).unwrap();
        std::fs::write(dir.path().join("bundles/a.js"), "js").unwrap();
        let ask = |path: &str, method: Method| {
            answer(
                method,
                path.into(),
                false,
                NAME,
                dir.path(),
                Bytes::from_static(b"{}"),
            )
        };
        let r = ask("/room/x", Method::GET).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(read_body(r.body()).await, b"<html>");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache");
        assert_eq!(r.headers()["x-frame-options"], "SAMEORIGIN");
        let r = ask("/bundles/a.js", Method::HEAD).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(read_body(r.body()).await.is_empty());
        assert_eq!(r.headers()[header::CONTENT_LENGTH], "2");
        assert_eq!(ask("/bundles/missing.js", Method::GET).await.status(), 404);
        // A directory is not a file, and its name has no extension: the app answers.
        assert_eq!(
            read_body(ask("/bundles", Method::GET).await.body()).await,
            b"<html>"
        );
        // A file larger than one frame comes whole, in frames.
        let big: Vec<u8> = (0..3 * CHUNK + 5).map(|i| i as u8).collect();
        std::fs::write(dir.path().join("bundles/big.js"), &big).unwrap();
        let r = ask("/bundles/big.js", Method::GET).await;
        assert_eq!(r.headers()[header::CONTENT_LENGTH], big.len().to_string());
        assert_eq!(read_body(r.body()).await, big);
        let empty = tempfile::tempdir().unwrap();
        let r = answer(
            Method::GET,
            "/".into(),
            false,
            NAME,
            empty.path(),
            Bytes::new(),
        )
        .await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        // With its compressed copy beside it, a client that takes gzip gets that.
        std::fs::write(dir.path().join("bundles/a.js.gz"), b"zz").unwrap();
        let path = "/bundles/a.js".to_string();
        let r = answer(Method::GET, path, true, NAME, dir.path(), Bytes::new()).await;
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(r.headers()[header::VARY], "Accept-Encoding");
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert_eq!(read_body(r.body()).await, b"zz");
        let r = ask("/bundles/a.js", Method::GET).await;
        assert!(r.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(read_body(r.body()).await, b"js");
    }
}
