//! A test OIDC issuer: discovery and JWKS over HTTPS with a CA made for the test (the server is
//! told to trust its PEM file), RS256 and ES256 keys that can be added, rotated out and used to
//! sign GitHub- and GitLab-shaped identity tokens, a switch that takes it down, and GitHub's
//! job-token endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`) on a plain-HTTP port of its own.
//!
//! Tokens are signed here with aws-lc-rs directly (not through a JWT library), so that tests
//! can also make the malformed ones: `alg: none`, HS256 keyed with the public key.

use std::sync::{Arc, Mutex};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// The audience test policies accept.
pub const AUDIENCE: &str = "https://switchboard.test";

/// One signing key.
enum Key {
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ec(EcdsaKeyPair),
}

struct SigningKey {
    kid: String,
    key: Key,
    /// Whether the JWKS lists it (a rotated-out key can still sign, for the test that shows
    /// its tokens are refused).
    published: bool,
}

#[derive(Default)]
struct State {
    keys: Vec<SigningKey>,
    down: bool,
    jwks_fetches: usize,
    /// What GitHub's job-token endpoint answers with (claims; `aud` set from the request).
    actions_claims: Value,
}

/// A running issuer; stops when dropped.
pub struct TestIssuer {
    /// `https://127.0.0.1:PORT`: the `iss` of its tokens.
    pub url: String,
    /// GitHub's `ACTIONS_ID_TOKEN_REQUEST_URL` equivalent (plain HTTP).
    pub actions_url: String,
    /// What the job-token endpoint expects as bearer token (GitHub's request token).
    pub actions_request_token: String,
    /// The CA certificate (PEM) to trust.
    pub ca_file: tempfile::NamedTempFile,
    state: Arc<Mutex<State>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl SigningKey {
    fn new(kid: &str, alg: &str) -> Self {
        let key = match alg {
            "RS256" => Key::Rsa(
                aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap(),
            ),
            "ES256" => Key::Ec(
                EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
            ),
            other => panic!("no such test key algorithm {other}"),
        };
        Self {
            kid: kid.to_owned(),
            key,
            published: true,
        }
    }

    fn alg(&self) -> &'static str {
        match self.key {
            Key::Rsa(_) => "RS256",
            Key::Ec(_) => "ES256",
        }
    }

    fn jwk(&self) -> Value {
        match &self.key {
            Key::Rsa(pair) => {
                let public = pair.public_key();
                json!({
                    "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                })
            }
            Key::Ec(pair) => {
                // Uncompressed point: 0x04 || x || y.
                let point = pair.public_key().as_ref();
                json!({
                    "kty": "EC", "use": "sig", "alg": "ES256", "crv": "P-256", "kid": self.kid,
                    "x": b64(&point[1..33]), "y": b64(&point[33..65]),
                })
            }
        }
    }

    /// The public key as DER (what an HS256 forger would use as the "secret").
    fn public_der(&self) -> Vec<u8> {
        match &self.key {
            Key::Rsa(pair) => pair.public_key().as_der().unwrap().as_ref().to_vec(),
            Key::Ec(pair) => pair.public_key().as_ref().to_vec(),
        }
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let rng = SystemRandom::new();
        let signature = match &self.key {
            Key::Rsa(pair) => {
                let mut out = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    input.as_bytes(),
                    &mut out,
                )
                .unwrap();
                out
            }
            Key::Ec(pair) => pair.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
        };
        format!("{input}.{}", b64(&signature))
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl TestIssuer {
    /// Starts an issuer with one RS256 key (`rsa-1`).
    pub async fn start() -> Self {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "switchboard test issuer CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ca, &ca_key)
            .unwrap();
        let ca_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(ca_file.path(), ca.pem()).unwrap();

        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));

        let state = Arc::new(Mutex::new(State {
            keys: vec![SigningKey::new("rsa-1", "RS256")],
            ..State::default()
        }));
        let https = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}", https.local_addr().unwrap());
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let actions_url = format!(
            "http://{}/actions-token?api-version=2.0",
            http.local_addr().unwrap()
        );
        let actions_request_token = format!("actions-{}", uuid::Uuid::new_v4().simple());

        let mut tasks = Vec::new();
        {
            let (state, url) = (state.clone(), url.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = https.accept().await else {
                        continue;
                    };
                    let (acceptor, state, url) = (acceptor.clone(), state.clone(), url.clone());
                    tokio::spawn(async move {
                        if let Ok(tls) = acceptor.accept(stream).await {
                            serve(tls, |path, _| issuer_answer(&state, &url, path)).await;
                        }
                    });
                }
            }));
        }
        {
            let (state, expected) = (state.clone(), actions_request_token.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = http.accept().await else {
                        continue;
                    };
                    let (state, expected) = (state.clone(), expected.clone());
                    tokio::spawn(async move {
                        serve(stream, |path, authorization| {
                            actions_answer(&state, &expected, path, authorization)
                        })
                        .await;
                    });
                }
            }));
        }
        Self {
            url,
            actions_url,
            actions_request_token,
            ca_file,
            state,
            tasks,
        }
    }

    /// Claims of a GitHub Actions job of `repository` (`org/app`), with their ids.
    pub fn github_claims(&self, repository: &str, repository_id: &str, environment: &str) -> Value {
        let now = now();
        json!({
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": format!("repo:{repository}:environment:{environment}"),
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now, "nbf": now - 5, "exp": now + 300,
            "repository": repository,
            "repository_id": repository_id,
            "repository_owner": repository.split('/').next().unwrap(),
            "repository_owner_id": "1001",
            "ref": "refs/heads/main",
            "ref_type": "branch",
            "environment": environment,
            "job_workflow_ref": format!("{repository}/.github/workflows/deploy.yml@refs/heads/main"),
            "run_id": "4242",
            "run_attempt": "1",
        })
    }

    /// Claims of a GitLab CI job of `project_path`.
    pub fn gitlab_claims(&self, project_path: &str, project_id: &str) -> Value {
        let now = now();
        json!({
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": format!("project_path:{project_path}:ref_type:branch:ref:main"),
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now, "nbf": now - 5, "exp": now + 300,
            "project_id": project_id,
            "project_path": project_path,
            "namespace_id": "77",
            "namespace_path": project_path.split('/').next().unwrap(),
            "ref": "main",
            "ref_type": "branch",
            "ref_protected": "true",
            "environment": "production",
            "pipeline_id": "9001",
        })
    }

    /// Signs `claims` with the newest key.
    pub fn sign(&self, claims: &Value) -> String {
        let state = self.state.lock().unwrap();
        let key = state.keys.last().unwrap();
        key.sign(
            &json!({ "alg": key.alg(), "typ": "JWT", "kid": key.kid }),
            claims,
        )
    }

    /// Signs `claims` with the key `kid` (published or not).
    pub fn sign_with(&self, kid: &str, claims: &Value) -> String {
        let state = self.state.lock().unwrap();
        let key = state.keys.iter().find(|k| k.kid == kid).unwrap();
        key.sign(
            &json!({ "alg": key.alg(), "typ": "JWT", "kid": key.kid }),
            claims,
        )
    }

    /// Signs with the newest key but names `kid` in the header.
    pub fn sign_claiming_kid(&self, kid: &str, claims: &Value) -> String {
        let state = self.state.lock().unwrap();
        let key = state.keys.last().unwrap();
        key.sign(
            &json!({ "alg": key.alg(), "typ": "JWT", "kid": kid }),
            claims,
        )
    }

    /// `alg: none`, no signature.
    pub fn unsigned(&self, claims: &Value) -> String {
        let kid = self.state.lock().unwrap().keys.last().unwrap().kid.clone();
        format!(
            "{}.{}.",
            b64(json!({ "alg": "none", "typ": "JWT", "kid": kid })
                .to_string()
                .as_bytes()),
            b64(claims.to_string().as_bytes())
        )
    }

    /// HS256 keyed with the newest key's *public* key (the algorithm-confusion attack).
    pub fn hs256_with_public_key(&self, claims: &Value) -> String {
        let state = self.state.lock().unwrap();
        let key = state.keys.last().unwrap();
        let input = format!(
            "{}.{}",
            b64(json!({ "alg": "HS256", "typ": "JWT", "kid": key.kid })
                .to_string()
                .as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let hmac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key.public_der());
        let tag = aws_lc_rs::hmac::sign(&hmac_key, input.as_bytes());
        format!("{input}.{}", b64(tag.as_ref()))
    }

    /// Publishes a new key and withdraws every older one from the JWKS; returns its id.
    pub fn rotate(&self, kid: &str, alg: &str) -> String {
        let mut state = self.state.lock().unwrap();
        for key in &mut state.keys {
            key.published = false;
        }
        state.keys.push(SigningKey::new(kid, alg));
        kid.to_owned()
    }

    /// Takes the issuer down (discovery and JWKS answer 503) or brings it back.
    pub fn set_down(&self, down: bool) {
        self.state.lock().unwrap().down = down;
    }

    /// How many times the JWKS was fetched.
    pub fn jwks_fetches(&self) -> usize {
        self.state.lock().unwrap().jwks_fetches
    }

    /// What the job-token endpoint signs (its `aud` comes from the request).
    pub fn set_actions_claims(&self, claims: Value) {
        self.state.lock().unwrap().actions_claims = claims;
    }
}

/// Discovery and JWKS.
fn issuer_answer(state: &Mutex<State>, url: &str, path: &str) -> (u16, Value) {
    let mut state = state.lock().unwrap();
    if state.down {
        return (503, json!({ "error": "down" }));
    }
    match path {
        "/.well-known/openid-configuration" => (
            200,
            json!({ "issuer": url, "jwks_uri": format!("{url}/.well-known/jwks") }),
        ),
        "/.well-known/jwks" => {
            state.jwks_fetches += 1;
            let keys: Vec<Value> = state
                .keys
                .iter()
                .filter(|k| k.published)
                .map(SigningKey::jwk)
                .collect();
            (200, json!({ "keys": keys }))
        }
        _ => (404, json!({ "error": "not found" })),
    }
}

/// GitHub's job-token endpoint: `GET ACTIONS_ID_TOKEN_REQUEST_URL&audience=…` with the
/// request token as bearer; answers `{"value": "<jwt>"}`.
fn actions_answer(
    state: &Mutex<State>,
    expected: &str,
    path: &str,
    authorization: Option<&str>,
) -> (u16, Value) {
    if authorization != Some(&format!("Bearer {expected}")) {
        return (401, json!({ "message": "bad request token" }));
    }
    let Some(audience) = path.split_once('?').and_then(|(_, query)| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("audience="))
    }) else {
        return (400, json!({ "message": "no audience" }));
    };
    let audience = urlencoding_decode(audience);
    let state = state.lock().unwrap();
    let mut claims = state.actions_claims.clone();
    claims["aud"] = json!(audience);
    // Each request is a new token, as GitHub's are.
    claims["jti"] = json!(uuid::Uuid::new_v4().to_string());
    let key = state.keys.last().unwrap();
    let token = key.sign(
        &json!({ "alg": key.alg(), "typ": "JWT", "kid": key.kid }),
        &claims,
    );
    (200, json!({ "count": 1, "value": token }))
}

fn urlencoding_decode(text: &str) -> String {
    form_urlencoded::parse(format!("a={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A minimal HTTP/1.1 server for one request per connection: reads the head, answers JSON.
async fn serve<S>(mut stream: S, answer: impl FnOnce(&str, Option<&str>) -> (u16, Value))
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let authorization = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("authorization")
            .then(|| value.trim().to_owned())
    });
    let (status, body) = answer(&path, authorization.as_deref());
    let body = body.to_string();
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
