//! A browser-like HTTP client: a reqwest client with its own cookie jar,
//! recording every response so scenarios can search them for leaks.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;

use reqwest::Url;
use reqwest::cookie::{CookieStore as _, Jar};
use reqwest::header::HeaderMap;
use serde_json::Value;

/// One response.
#[derive(Debug, Clone)]
pub struct Resp {
    /// The status.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The raw body.
    pub text: String,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

impl Resp {
    /// The `error` field of a JSON error body.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        self
    }

    /// Asserts status and `error`.
    #[track_caller]
    pub fn expect_error(&self, status: u16, error: &str) -> &Self {
        self.expect(status);
        assert_eq!(self.error(), error, "unexpected error; body: {}", self.text);
        self
    }

    /// The `Set-Cookie` header for `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }
}

/// A browser: one cookie jar.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    jar: Arc<Jar>,
    base: Url,
    prefix: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Client {
    /// A browser with an empty jar for the server at `base`.
    pub fn new(base: &str, prefix: &str) -> Self {
        let jar = Arc::new(Jar::default());
        // An API client: it asks for JSON, so a server whose pages refuse
        // with redirects (`Refusal::Redirect`) still answers it in JSON.
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT,
            reqwest::header::HeaderValue::from_static("application/json"),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            // A fresh connection per request: a server may close a
            // kept-alive connection after any answer (actix does after an
            // error whose body it did not read), and a reused closed
            // connection fails as `IncompleteMessage` without reaching it.
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        Client {
            http,
            jar,
            base: Url::parse(base).expect("base url"),
            prefix: prefix.to_owned(),
            log: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The same browser's cookies copied into a new, separate browser.
    pub fn fork(&self) -> Client {
        let c = Client::new(self.base.as_str(), &self.prefix);
        for (name, value) in self.cookies() {
            c.set_cookie(&name, &value);
        }
        c
    }

    /// Every response text this browser received (headers included).
    pub fn transcript(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The cookies the jar would send.
    pub fn cookies(&self) -> Vec<(String, String)> {
        self.jar
            .cookies(&self.base)
            .and_then(|h| h.to_str().ok().map(str::to_owned))
            .map(|s| {
                s.split("; ")
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// One cookie's value.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// Puts a cookie into the jar (as the server would have: Secure, Path=/).
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar
            .add_cookie_str(&format!("{name}={value}; Path=/; Secure; HttpOnly"), &self.base);
    }

    /// `prefix + path`.
    pub fn mfa(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    /// A request with full control over headers and body.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        self.prepare(method, path, headers, body).send().await
    }

    /// A request built but not sent: a race prepares every request first
    /// and then releases them together (see [`crate::scenarios::race`]).
    pub fn prepare(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Prepared {
        Prepared {
            client: self.clone(),
            method,
            path: path.to_owned(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            body,
        }
    }

    /// A `POST path` with a JSON body, prepared (see [`Client::prepare`]).
    pub fn prepare_post(&self, path: &str, body: &Value) -> Prepared {
        let bytes = serde_json::to_vec(body).expect("json");
        self.prepare(
            reqwest::Method::POST,
            path,
            &[("content-type", "application/json")],
            Some(bytes),
        )
    }

    async fn finish(&self, path: &str, sent: reqwest::Result<reqwest::Response>) -> Resp {
        let res = sent.expect("request sent");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        let mut entry = format!("{status}\n");
        for (k, v) in &headers {
            entry.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or("")));
        }
        entry.push_str(&text);
        if let Ok(mut l) = self.log.lock() {
            l.push(entry);
        }
        // Contract-wide invariants: never a 5xx, every error is JSON.
        assert!(status < 500, "{path}: server error {status}: {text}");
        if status >= 400 {
            assert!(
                body["error"].is_string(),
                "{path}: error {status} without a JSON error body: {text:?}"
            );
        }
        Resp {
            status,
            headers,
            text,
            body,
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Resp {
        self.raw(reqwest::Method::GET, path, &[], None).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Resp {
        self.raw(reqwest::Method::DELETE, path, &[], None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.prepare_post(path, &body).send().await
    }

    /// `POST /login` with the right password from `platform`.
    pub async fn login_from(&self, user: &str, platform: &str) -> Resp {
        let body = serde_json::to_vec(&serde_json::json!({"user": user, "password": crate::PASSWORD}))
            .expect("json");
        self.raw(
            reqwest::Method::POST,
            "/login",
            &[
                ("content-type", "application/json"),
                ("x-client-platform", platform),
            ],
            Some(body),
        )
        .await
    }

    /// `POST /login` from the web.
    pub async fn login(&self, user: &str) -> Resp {
        self.login_from(user, "web").await
    }

    /// `GET {prefix}/status`.
    pub async fn status(&self) -> Resp {
        self.get(&self.mfa("/status")).await
    }
}

/// A request of one [`Client`], built and not yet sent: the cookies are
/// added from the client's jar when it is sent.
pub struct Prepared {
    client: Client,
    method: reqwest::Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl Prepared {
    fn request(&self, body: Option<reqwest::Body>) -> reqwest::RequestBuilder {
        let url = self.client.base.join(&self.path).expect("path");
        let mut req = self.client.http.request(self.method.clone(), url);
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        req
    }

    /// Sends it; the same checks as [`Client::raw`].
    pub async fn send(self) -> Resp {
        let body = self.body.clone().map(reqwest::Body::from);
        let sent = self.request(body).send().await;
        self.client.finish(&self.path, sent).await
    }

    /// Sends it held back at `barrier`: the headers and all of the body but
    /// its last byte go out, then this waits at `barrier` (with the other
    /// requests of the race; each first waits a moment, 25 ms, for the
    /// server to parse what it got), then the last byte goes. The server has
    /// parsed the requests and is waiting for their bodies when they are
    /// released, so they reach the handlers together, not one connection
    /// set-up or one client task apart. (A request the server answers
    /// before reading its body still waits at the barrier, answered.)
    pub async fn send_behind(self, barrier: Arc<tokio::sync::Barrier>) -> Resp {
        let mut head = self.body.clone().unwrap_or_default();
        let tail = head.pop().map(|b| Bytes::from(vec![b]));
        let (on_the_wire, head_sent) = tokio::sync::oneshot::channel();
        let (release, go) = tokio::sync::oneshot::channel();
        let body = HeldBack {
            head: Some(Bytes::from(head)).filter(|h| !h.is_empty()),
            tail,
            on_the_wire: Some(on_the_wire),
            go,
        };
        let body = (self.body.is_some()).then(|| reqwest::Body::wrap(body));
        let request = self.request(body);
        let mut response = tokio::spawn(request.send());
        let early = tokio::select! {
            _ = head_sent => None,
            answered = &mut response => Some(answered),
        };
        if early.is_none() {
            // The head is on the wire: give the server time to parse it
            // (the racer last at the barrier waits too), so that every
            // request is waiting for its body when they are released.
            tokio::time::sleep(SETTLE).await;
        }
        barrier.wait().await;
        let _ = release.send(());
        let joined = match early {
            Some(answered) => answered,
            None => response.await,
        };
        let sent = match joined {
            Ok(sent) => sent,
            Err(e) => panic!("{}: request task failed: {e}", self.path),
        };
        self.client.finish(&self.path, sent).await
    }
}

/// How long a held-back request waits, once its head is sent, before it
/// waits at the barrier.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(25);

/// A request body that sends all but its last byte, then waits for `go`.
struct HeldBack {
    head: Option<Bytes>,
    tail: Option<Bytes>,
    /// Told once the head was taken and the body is asked for more.
    on_the_wire: Option<tokio::sync::oneshot::Sender<()>>,
    go: tokio::sync::oneshot::Receiver<()>,
}

impl http_body::Body for HeldBack {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Some(head) = this.head.take() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(head))));
        }
        if let Some(tx) = this.on_the_wire.take() {
            let _ = tx.send(());
        }
        if this.tail.is_none() {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.go).poll(cx) {
            Poll::Pending => Poll::Pending,
            // Released, or the racer is gone: either way the body ends.
            Poll::Ready(_) => Poll::Ready(this.tail.take().map(|t| Ok(http_body::Frame::data(t)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.tail.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let len = |b: &Option<Bytes>| b.as_ref().map_or(0, |b| b.len() as u64);
        http_body::SizeHint::with_exact(len(&self.head) + len(&self.tail))
    }
}
