//! An application that brings its own session system: a token in a header,
//! records in a map. The MFA flow works through the `MfaSession` trait.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::http::{Extensions, HeaderMap};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::cookie::CookieJar;
use mfa_axum::contract::SessionToken;
use mfa_axum::{
    MfaSession, MfaSettings, MfaState, RequireMfa, SessionError, SessionSource, mfa_routes, start_login,
};
use mfa_core::{Audience, Keys, MemoryStore, Mfa, MfaConfig, Platform, Policy, UserId};

/// token -> record; "cycling" moves the record to token + "'".
type Table = Arc<Mutex<HashMap<String, SessionToken>>>;

struct HeaderSession {
    token: Mutex<String>,
    table: Table,
}

#[async_trait]
impl MfaSession for HeaderSession {
    async fn load(&self) -> Result<Option<SessionToken>, SessionError> {
        let t = self.token.lock().unwrap().clone();
        Ok(self.table.lock().unwrap().get(&t).cloned())
    }
    async fn save(&self, r: &SessionToken) -> Result<(), SessionError> {
        let t = self.token.lock().unwrap().clone();
        self.table.lock().unwrap().insert(t, r.clone());
        Ok(())
    }
    async fn cycle_id(&self) -> Result<(), SessionError> {
        let mut t = self.token.lock().unwrap();
        let old = t.clone();
        t.push('\'');
        let mut table = self.table.lock().unwrap();
        if let Some(r) = table.remove(&old) {
            table.insert(t.clone(), r);
        }
        Ok(())
    }
    async fn end(&self) -> Result<(), SessionError> {
        let t = self.token.lock().unwrap().clone();
        self.table.lock().unwrap().remove(&t);
        Ok(())
    }
}

#[derive(Clone)]
struct HeaderSource(Table);

/// The token, parked in the extensions by a tiny middleware.
#[derive(Clone)]
struct Token(String);

impl SessionSource for HeaderSource {
    fn session(&self, ext: &Extensions) -> Option<Arc<dyn MfaSession>> {
        let token = ext.get::<Token>()?.0.clone();
        Some(Arc::new(HeaderSession {
            token: Mutex::new(token),
            table: self.0.clone(),
        }))
    }
}

async fn token_layer(mut req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if let Some(t) = req.headers().get("x-session").and_then(|v| v.to_str().ok()) {
        let t = Token(t.to_owned());
        req.extensions_mut().insert(t);
    }
    next.run(req).await
}

#[tokio::test]
async fn an_app_can_bring_its_own_sessions() {
    let table: Table = Arc::default();
    let mfa = Mfa::builder(
        MemoryStore::new(),
        Keys::generate_ephemeral().unwrap(),
        MfaConfig::builder("Own").build().unwrap(),
    )
    .policy(Policy::default())
    .build();
    let state = MfaState::new(
        mfa,
        MfaSettings::default().session_source(HeaderSource(table.clone())),
    );
    let login_state = state.clone();
    let source = HeaderSource(table.clone());
    let login = move |headers: HeaderMap, jar: CookieJar| {
        let st = login_state.clone();
        let token = headers["x-session"].to_str().unwrap().to_owned();
        let mut ext = Extensions::new();
        ext.insert(Token(token));
        let session = source.session(&ext).unwrap();
        async move {
            let user = UserId::new("olga").unwrap();
            mfa_axum::login_response(
                start_login(&st, &*session, &user, Audience::new(Platform::WEB), &jar).await,
            )
        }
    };
    let app: Router = Router::new()
        .route("/login", post(login))
        .route(
            "/account",
            get(|m: RequireMfa| async move { Json(m.user.to_string()) }),
        )
        .merge(mfa_routes(state.clone()));
    let app = state.protect(app).layer(axum::middleware::from_fn(token_layer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let c = reqwest::Client::new();

    let r = c
        .get(format!("{base}/account"))
        .header("x-session", "t1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .post(format!("{base}/login"))
        .header("x-session", "t1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The id was cycled: the old token is dead, the new one is logged in.
    assert!(table.lock().unwrap().contains_key("t1'"));
    let r = c
        .get(format!("{base}/account"))
        .header("x-session", "t1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(format!("{base}/account"))
        .header("x-session", "t1'")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
