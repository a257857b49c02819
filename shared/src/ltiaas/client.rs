//! [`LtiaasClient`]: one short method per endpoint. Each describes its
//! request (method, path, query or body, credential) and hands it to the one
//! request path: `send` authenticates, sends, reads the body capped and
//! classifies the answer; `call` then parses it (`post_score` checks it).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use percent_encoding::utf8_percent_encode;
use reqwest::{header, Method, RequestBuilder};
use serde::de::DeserializeOwned;

use super::classify::{
    redirected, refusal, score_refusal, transport_error, Secrets, ThrottleSignals,
};
use super::error::error_chain;
use super::{
    Credential, IdToken, LineItem, LineItemPage, LtiaasError, MembershipPage, NewLineItem,
    ResultPage,
};
use crate::activity::KEY_COMPONENT;
use crate::config::LtiaasSettings;
use crate::grade::ScorePost;
use crate::secrets::{ApiKey, ExposeSecret, Ltik, ServiceKey};

/// Largest response body read; anything bigger is refused, not buffered.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// How often at most a refused API key sends the client back to where the
/// deployment keeps it: a key that is simply wrong must not turn every
/// request into a Secrets Manager call.
const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// Reads the API key again from where the deployment keeps it (Secrets
/// Manager), so a key rotated while this process is warm is picked up the
/// first time LTIaaS refuses the old one, without a redeploy.
pub trait KeyRefresh: Send + Sync {
    /// The key as stored now, if it can be read.
    fn read(&self) -> Pin<Box<dyn Future<Output = Option<ApiKey>> + Send + '_>>;
}

/// The LTIaaS API, as one tool (API key) sees it.
#[derive(Clone)]
pub struct LtiaasClient {
    http: reqwest::Client,
    /// Base URL without a trailing slash.
    base: String,
    /// Shared by every clone: a key read again serves them all.
    api_key: Arc<RwLock<ApiKey>>,
    /// Where to read the key again when LTIaaS refuses it (none: a key
    /// given in plain text).
    refresh: Option<Arc<dyn KeyRefresh>>,
    /// When the key was last read again.
    refreshed: Arc<tokio::sync::Mutex<Option<Instant>>>,
    /// Reported in [`LtiaasError::Timeout`]; reqwest's error does not say.
    request_timeout: Duration,
}

impl std::fmt::Debug for LtiaasClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LtiaasClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// The credential a request carries besides the API key. One value, so a
/// scheme cannot be paired with the wrong secret. Deliberately without `Debug`.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Ltik(&'a Ltik),
    ServiceKey(&'a ServiceKey),
    /// `Bearer <API key>`: no credential besides the key.
    ApiKey,
}

impl<'a> Auth<'a> {
    fn credential(self) -> Credential {
        match self {
            Self::Ltik(_) => Credential::Ltik,
            Self::ServiceKey(_) => Credential::ServiceKey,
            Self::ApiKey => Credential::ApiKey,
        }
    }

    fn secret(self) -> &'a str {
        match self {
            Self::Ltik(ltik) => ltik.expose_secret(),
            Self::ServiceKey(key) => key.expose_secret(),
            Self::ApiKey => "",
        }
    }
}

/// Whose credential a roster read carries: the activity's service key (any
/// time), or a launch's ltik (while its user is in the tool: the status
/// page, which may start the read before it has read the activity).
#[derive(Clone, Copy)]
pub enum RosterCaller<'a> {
    /// `SERVICE-AUTH-V1`.
    ServiceKey(&'a ServiceKey),
    /// `LTIK-AUTH-V2`.
    Ltik(&'a Ltik),
}

impl<'a> From<&'a ServiceKey> for RosterCaller<'a> {
    fn from(key: &'a ServiceKey) -> Self {
        Self::ServiceKey(key)
    }
}

impl<'a> From<&'a Ltik> for RosterCaller<'a> {
    fn from(ltik: &'a Ltik) -> Self {
        Self::Ltik(ltik)
    }
}

impl<'a> From<RosterCaller<'a>> for Auth<'a> {
    fn from(caller: RosterCaller<'a>) -> Self {
        match caller {
            RosterCaller::ServiceKey(key) => Auth::ServiceKey(key),
            RosterCaller::Ltik(ltik) => Auth::Ltik(ltik),
        }
    }
}

impl LtiaasClient {
    /// Builds the client (connection pool, timeouts) for `settings` with the
    /// resolved API key.
    pub fn new(settings: &LtiaasSettings, api_key: ApiKey) -> Result<Self, LtiaasError> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .pool_idle_timeout(Duration::from_secs(50))
            .user_agent(concat!("ltisync/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| LtiaasError::ClientSetup(error_chain(&e)))?;
        Ok(Self {
            http,
            base: settings.base_url.as_str().trim_end_matches('/').to_owned(),
            api_key: Arc::new(RwLock::new(api_key)),
            refresh: None,
            refreshed: Default::default(),
            request_timeout: settings.request_timeout,
        })
    }

    /// The same client, reading its key again from `refresh` once when
    /// LTIaaS refuses it (at most once a minute), then retrying.
    pub fn with_key_refresh(mut self, refresh: Arc<dyn KeyRefresh>) -> Self {
        self.refresh = Some(refresh);
        self
    }

    fn current_key(&self) -> ApiKey {
        self.api_key.read().expect("not poisoned").clone()
    }

    /// A key to retry with after `used` was refused: one another request
    /// already read, or the stored one if it differs from `used`.
    async fn renewed_key(&self, used: &ApiKey) -> Option<ApiKey> {
        let refresh = self.refresh.as_ref()?;
        let mut last = self.refreshed.lock().await;
        let current = self.current_key();
        if current.expose_secret() != used.expose_secret() {
            return Some(current);
        }
        if last.is_some_and(|at| at.elapsed() < KEY_REFRESH_INTERVAL) {
            return None;
        }
        *last = Some(Instant::now());
        let fresh = refresh.read().await?;
        if fresh.expose_secret() == used.expose_secret() {
            return None;
        }
        *self.api_key.write().expect("not poisoned") = fresh.clone();
        tracing::info!("LTIaaS refused the API key; the secret holds a new one, now in use");
        Some(fresh)
    }

    /// `GET /api/platforms` with `Bearer <API key>`: an answer that depends
    /// on the API key alone (the account's registered platforms), so
    /// `ltisync check` can tell whether LTIaaS takes the key.
    pub async fn platforms(&self) -> Result<(), LtiaasError> {
        let request = self.request(Method::GET, "/api/platforms");
        self.send(request, Auth::ApiKey).await.map(drop)
    }

    /// `GET /api/idtoken`: the launch behind `ltik`.
    pub async fn id_token(&self, ltik: &Ltik) -> Result<IdToken, LtiaasError> {
        let request = self.request(Method::GET, "/api/idtoken");
        self.call(request, Auth::Ltik(ltik)).await
    }

    /// `GET /api/lineitems`: the first page of line items of the service
    /// key's context, filtered by link (and resource id and tag when given).
    pub async fn list_line_items(
        &self,
        key: &ServiceKey,
        resource_link_id: &str,
        resource_id: Option<&str>,
        tag: Option<&str>,
    ) -> Result<LineItemPage, LtiaasError> {
        let mut query = vec![("resourceLinkId", resource_link_id)];
        query.extend(resource_id.map(|r| ("resourceId", r)));
        query.extend(tag.map(|t| ("tag", t)));
        let request = self.request(Method::GET, "/api/lineitems").query(&query);
        self.call(request, Auth::ServiceKey(key)).await
    }

    /// `GET /api/lineitems?url=...`: a further page, from a page's `next`.
    pub async fn line_items_page(
        &self,
        key: &ServiceKey,
        next: &str,
    ) -> Result<LineItemPage, LtiaasError> {
        let request = self
            .request(Method::GET, "/api/lineitems")
            .query(&[("url", next)]);
        self.call(request, Auth::ServiceKey(key)).await
    }

    /// `POST /api/lineitems`: creates a line item (not idempotent).
    pub async fn create_line_item(
        &self,
        key: &ServiceKey,
        item: &NewLineItem,
    ) -> Result<LineItem, LtiaasError> {
        let request = self.request(Method::POST, "/api/lineitems").json(item);
        self.call(request, Auth::ServiceKey(key)).await
    }

    /// `GET /api/lineitems/:id`.
    pub async fn get_line_item(
        &self,
        key: &ServiceKey,
        line_item_id: &str,
    ) -> Result<LineItem, LtiaasError> {
        let path = format!("/api/lineitems/{}", encode_line_item_id(line_item_id));
        let request = self.request(Method::GET, &path);
        self.call(request, Auth::ServiceKey(key)).await
    }

    /// `POST /api/lineitems/:id/scores`: one score (204 on success). The
    /// only endpoint whose answer is checked rather than parsed, and whose
    /// refusals are read for what only a score post can mean: the LMS holds
    /// this very score (success) or one stamped no earlier
    /// ([`LtiaasError::NotNewer`]).
    pub async fn post_score(
        &self,
        key: &ServiceKey,
        line_item_id: &str,
        score: &ScorePost,
    ) -> Result<(), LtiaasError> {
        let request = self
            .request(Method::POST, &results_path(line_item_id))
            .json(score);
        match self.send(request, Auth::ServiceKey(key)).await {
            Ok(body) => check_score_accepted(&body),
            Err(refused) => score_refusal(refused),
        }
    }

    /// `GET /api/lineitems/:id/scores[?userId=]`: the first page of what the
    /// gradebook shows on the line item, for one user or for everyone
    /// (LTIaaS relays the LMS's results).
    pub async fn results(
        &self,
        key: &ServiceKey,
        line_item_id: &str,
        user_id: Option<&str>,
    ) -> Result<ResultPage, LtiaasError> {
        let mut request = self.request(Method::GET, &results_path(line_item_id));
        if let Some(user) = user_id {
            request = request.query(&[("userId", user)]);
        }
        self.call(request, Auth::ServiceKey(key)).await
    }

    /// `GET /api/lineitems/:id/scores?url=...`: a further page of results.
    pub async fn results_page(
        &self,
        key: &ServiceKey,
        line_item_id: &str,
        next: &str,
    ) -> Result<ResultPage, LtiaasError> {
        let request = self
            .request(Method::GET, &results_path(line_item_id))
            .query(&[("url", next)]);
        self.call(request, Auth::ServiceKey(key)).await
    }

    /// `GET /api/memberships?role=Learner`: the first page of the course
    /// roster of a service key (or ltik), learners only where the LMS
    /// filters by role; `limit` asks for that many members a page (a hint
    /// the LMS may lower).
    pub async fn learners<'a>(
        &self,
        caller: impl Into<RosterCaller<'a>>,
        limit: Option<u32>,
    ) -> Result<MembershipPage, LtiaasError> {
        let mut request = self
            .request(Method::GET, "/api/memberships")
            .query(&[("role", "Learner")]);
        if let Some(limit) = limit {
            request = request.query(&[("limit", limit)]);
        }
        self.call(request, caller.into().into()).await
    }

    /// `GET /api/memberships?url=...`: a further page, from a page's `next`.
    pub async fn memberships_page<'a>(
        &self,
        caller: impl Into<RosterCaller<'a>>,
        next: &str,
    ) -> Result<MembershipPage, LtiaasError> {
        let request = self
            .request(Method::GET, "/api/memberships")
            .query(&[("url", next)]);
        self.call(request, caller.into().into()).await
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header(header::ACCEPT, "application/json")
    }

    /// The one request path: [`send`](Self::send), then the 2xx body as `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        auth: Auth<'_>,
    ) -> Result<T, LtiaasError> {
        let body = self.send(request, auth).await?;
        // The answer may hold a service key: errors name fields, never values.
        crate::parse::json(&body).map_err(LtiaasError::BadResponse)
    }

    /// Sends with the right `Authorization` scheme and returns the body of
    /// a 2xx answer; every other outcome becomes an [`LtiaasError`].
    /// A refused API key is read again once from where the deployment
    /// keeps it, and the request retried with the new one.
    async fn send(&self, request: RequestBuilder, auth: Auth<'_>) -> Result<Vec<u8>, LtiaasError> {
        let retry = request.try_clone();
        let key = self.current_key();
        match self.send_with(request, auth, &key).await {
            Err(LtiaasError::ApiKeyRefused(why)) => match retry {
                Some(retry) => match self.renewed_key(&key).await {
                    Some(fresh) => self.send_with(retry, auth, &fresh).await,
                    None => Err(LtiaasError::ApiKeyRefused(why)),
                },
                None => Err(LtiaasError::ApiKeyRefused(why)),
            },
            other => other,
        }
    }

    async fn send_with(
        &self,
        request: RequestBuilder,
        auth: Auth<'_>,
        api_key: &ApiKey,
    ) -> Result<Vec<u8>, LtiaasError> {
        let credential = auth.credential();
        let authorization = authorization(auth, api_key)?;
        let secrets = Secrets::new(auth.secret(), api_key.expose_secret());
        let response = request
            .header(header::AUTHORIZATION, authorization)
            .send()
            .await
            .map_err(|e| transport_error(e, self.request_timeout))?;
        let status = response.status();
        let throttling = ThrottleSignals::of(response.headers());
        if status.is_redirection() {
            return Err(redirected(status, response.headers(), &secrets));
        }
        let body = read_capped(response, self.request_timeout).await?;
        if status.is_success() {
            return Ok(body);
        }
        Err(refusal(status, &body, throttling, credential, &secrets))
    }
}

// Capped reading lives with the client: `send` is its only reader, and the
// cap is a promise the client makes, not a rule about statuses.
async fn read_capped(
    mut response: reqwest::Response,
    timeout: Duration,
) -> Result<Vec<u8>, LtiaasError> {
    let too_large =
        || LtiaasError::BadResponse(format!("the body exceeds {MAX_RESPONSE_BYTES} bytes"));
    if response
        .content_length()
        .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(e, timeout))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A score is accepted with 204, or a 2xx whose body is empty or JSON.
/// Anything else in a 2xx (an HTML page from a captive portal, a WAF or a
/// wrong `LTIAAS_URL`) is not LTIaaS accepting the score.
fn check_score_accepted(body: &[u8]) -> Result<(), LtiaasError> {
    if body.iter().all(u8::is_ascii_whitespace)
        || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
    {
        return Ok(());
    }
    Err(LtiaasError::BadResponse(format!(
        "a success status with a body that is neither empty nor JSON: '{}'",
        crate::excerpt::excerpt(&String::from_utf8_lossy(body))
    )))
}

/// The path of a line item's scores (posting) and results (reading).
fn results_path(line_item_id: &str) -> String {
    format!(
        "/api/lineitems/{}/scores",
        encode_line_item_id(line_item_id)
    )
}

/// A line item id (a URL) as one path segment: everything outside
/// `A-Za-z0-9-_.~` percent-encoded.
pub fn encode_line_item_id(id: &str) -> String {
    utf8_percent_encode(id, KEY_COMPONENT).to_string()
}

/// `<scheme> <API key>:<credential>`, marked sensitive so no HTTP
/// library logs it. A credential that cannot travel in a header is as
/// good as refused.
fn authorization(auth: Auth<'_>, api_key: &ApiKey) -> Result<header::HeaderValue, LtiaasError> {
    let credential = auth.credential();
    let scheme = match credential {
        Credential::Ltik => "LTIK-AUTH-V2",
        Credential::ServiceKey => "SERVICE-AUTH-V1",
        Credential::ApiKey => "Bearer",
    };
    if header::HeaderValue::try_from(api_key.expose_secret()).is_err() {
        return Err(LtiaasError::ApiKeyRefused(
            "the API key contains characters not allowed in an HTTP header".into(),
        ));
    }
    let value = match auth {
        Auth::ApiKey => format!("Bearer {}", api_key.expose_secret()),
        _ => format!("{scheme} {}:{}", api_key.expose_secret(), auth.secret()),
    };
    let mut value =
        header::HeaderValue::try_from(value).map_err(|_| LtiaasError::Unauthorized {
            credential,
            message: format!(
                "the {credential:?} contains characters not allowed in an HTTP header"
            ),
        })?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;
    use crate::config::ApiKeySource;

    #[test]
    fn line_item_ids_are_one_encoded_segment() {
        assert_eq!(
            encode_line_item_id("https://lms.example.com/course/1/lineitems/1?x=a b"),
            "https%3A%2F%2Flms.example.com%2Fcourse%2F1%2Flineitems%2F1%3Fx%3Da%20b"
        );
    }

    #[test]
    fn a_score_is_accepted_only_with_an_empty_or_json_body() {
        assert!(check_score_accepted(b"").is_ok());
        assert!(check_score_accepted(b" \n").is_ok());
        assert!(check_score_accepted(br#"{"ok":true}"#).is_ok());
        let err = check_score_accepted(b"<html>Sign in to the Wi-Fi</html>").unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(err.to_string().contains("'<html>Sign in"), "{err}");
    }

    /// A server on a loopback port that answers one request with `answer`
    /// and hands back the request's head.
    fn answer_once(answer: String) -> (String, std::thread::JoinHandle<String>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
                head.push(byte[0]);
            }
            stream.write_all(answer.as_bytes()).unwrap();
            String::from_utf8(head).unwrap()
        });
        (base, server)
    }

    fn client(base: &str) -> LtiaasClient {
        let settings = LtiaasSettings {
            base_url: base.parse().unwrap(),
            api_key: ApiKeySource::Plain(ApiKey::new("the-api-key")),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
        };
        LtiaasClient::new(&settings, ApiKey::new("the-api-key")).unwrap()
    }

    #[tokio::test]
    async fn the_call_path_authenticates_sends_and_parses() {
        let body = r#"{"members":[{"userId":"u1","roles":["Learner"]}]}"#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let (base, server) = answer_once(answer);
        let page = client(&base)
            .learners(&ServiceKey::new("the-service-key"), None)
            .await
            .unwrap();
        assert_eq!(page.members.len(), 1);
        let head = server.join().unwrap().to_ascii_lowercase();
        assert!(
            head.starts_with("get /api/memberships?role=learner "),
            "{head}"
        );
        assert!(
            head.contains("authorization: service-auth-v1 the-api-key:the-service-key\r\n"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed_and_no_secret_is_in_its_error() {
        let (base, server) = answer_once(
            "HTTP/1.1 302 Found\r\nlocation: https://elsewhere/?k=the-ltik\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
        );
        let err = client(&base)
            .id_token(&Ltik::new("the-ltik"))
            .await
            .unwrap_err();
        server.join().unwrap();
        assert_eq!(err.status(), Some(302));
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("?k=[redacted]"), "{err}");
        assert!(!format!("{err:?}").contains("the-ltik"), "{err:?}");
    }
}
