//! A browser-like HTTP client: a reqwest client with its own cookie jar,
//! recording every response so scenarios can search them for leaks.

use std::sync::{Arc, Mutex};

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
        let url = self.base.join(path).expect("path");
        let mut req = self.http.request(method, url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let res = req.send().await.expect("request sent");
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
        let bytes = serde_json::to_vec(&body).expect("json");
        self.raw(
            reqwest::Method::POST,
            path,
            &[("content-type", "application/json")],
            Some(bytes),
        )
        .await
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
