//! Helpers shared by the portal's HTTP tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::collections::BTreeMap;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

/// A minimal browser: cookies by name (the portal's are host-only), no
/// automatic redirects so each hop can be checked.
#[derive(Clone)]
pub struct Browser {
    base: String,
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            base: base.to_owned(),
            http,
            cookies: BTreeMap::new(),
        }
    }

    /// The same browser (cookies kept) talking to another address: the
    /// portal restarted on a new port.
    pub fn rebase(&mut self, base: &str) {
        self.base = base.to_owned();
    }

    fn keep(&mut self, res: &reqwest::Response) {
        for v in res.headers().get_all(SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// GET: (status, location, body).
    pub async fn get(&mut self, path: &str) -> (u16, String, String) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(res).await
    }

    /// POST a form: (status, location, body).
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.finish(res).await
    }

    /// POST a form with extra request headers: (status, location, body).
    pub async fn post_with(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (u16, String, String) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .form(form);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap();
        self.finish(res).await
    }

    async fn finish(&mut self, res: reqwest::Response) -> (u16, String, String) {
        self.keep(&res);
        let status = res.status().as_u16();
        assert!(status < 500, "server error on {}", res.url());
        let loc = res
            .headers()
            .get(LOCATION)
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, loc, res.text().await.unwrap())
    }
}

pub fn attr(html: &str, name: &str) -> String {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle).unwrap_or_else(|| panic!("no {name} in page")) + needle.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// The demo resident with SMS set up (seeded).
pub const SAM: (&str, &str) = ("sam@example.org", "tenant-demo-2");
/// Sam's phone, as the outbox addresses it.
pub const SAM_PHONE: &str = "+447700900123";

/// A new browser in which Sam has given the password and chosen the text
/// message: the code was sent (read it from the outbox for [`SAM_PHONE`]).
/// Returns the browser and the page's CSRF token for the code form.
pub async fn sam_at_code_step(base: &str) -> (Browser, String) {
    let mut b = Browser::new(base);
    let (_, _, page) = b.get("/login").await;
    let csrf = attr(&page, "csrf");
    let form = [("csrf", csrf.as_str()), ("email", SAM.0), ("password", SAM.1)];
    assert_eq!(b.post("/login", &form).await.1, "/login/mfa");
    let (_, _, page) = b.get("/login/mfa").await;
    let (csrf, factor) = (attr(&page, "csrf"), attr(&page, "factor"));
    b.post("/login/mfa/start", &[("csrf", &csrf), ("factor", &factor)])
        .await;
    (b, csrf)
}
