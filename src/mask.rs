//! Credentials in outside text (the service's own log lines, healthz bodies,
//! server messages) are masked before they reach any report, because reports
//! get pasted into shared incident channels. What is kept is enough to
//! recognise the line:
//!
//! | shape | shown as |
//! | --- | --- |
//! | JWT (`eyJ…` three or more base64url segments) | `eyJhbGc…[masked]` |
//! | `Bearer`/`Basic` credential | `Bearer [masked]` |
//! | secret-looking parameter (`api_key=`, `"password": "…"`, `token: …`) | `api_key=[masked]` |
//! | password in a URL or DSN | `postgres://svc:[masked]@db-7.internal:5432/keys` |
//! | user information in a URL the tool prints ([`url`]) | `https://[masked]@key-service…/healthz` |
//! | PEM private key | `-----BEGIN PRIVATE KEY-----[masked]` |
//! | New Relic key (`NRAK-` and 27 letters or digits) | `NRAK-[masked]` |
//!
//! A parameter is secret when its name *ends* with one of the secret words
//! (`api_key`, `apikey`, `api-key`, `token`, `password`, `passwd`, `pwd`,
//! `passphrase`, `secret`, `access_key`, `secret_key`, `private_key`,
//! `session`, `session_id`, `authorization`, `signature`, `sig`), in any case
//! and spelling (`client_secret`, `clientSecret`, `X-Api-Key`,
//! `aws_secret_access_key`). A name that only starts with one is not:
//! `token_count=5`, `token_type=Bearer`, `secret_name=db-creds` and
//! `session_timeout=30s` say nothing secret and stay, as do `kid=key-1`,
//! `key=…` (a key *id* in this service), request ids and UUIDs.
//!
//! Prose is not masked: `key: value` with a bare value (`ERROR refresh
//! token: connection refused`) and a bare `Bearer`/`Basic` word (`basic
//! authentication failed`) are masked only when the value looks like a
//! credential (a digit, `+`, `/` or `=`, or an upper-case letter after the
//! first). `key=value`, quoted values and `Authorization:` headers are always
//! masked, and so are password-like keys, whose values people choose.
//!
//! [`mask`] is pure and idempotent, and borrows when nothing matches (the
//! common case for a log line). Whether masking is on for this process is set
//! once at startup from `--no-mask` ([`set_enabled`]); [`apply`] reads it.

use std::borrow::Cow;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};

use regex::{Captures, Regex};

/// What replaces a secret.
pub const MASKED: &str = "[masked]";

/// How many characters of a JWT's header are kept: enough to see it is one
/// (`eyJhbGc` is `{"alg`), never any of its payload.
const JWT_KEEP: usize = 7;

/// Every shape in one pass, so a line with no credential costs one scan and
/// no allocation. Alternatives are tried leftmost-first: a secret parameter
/// whose value is a JWT or a `Bearer` credential is masked as a parameter.
/// ASCII word boundaries keep the fast engines usable on non-ASCII lines.
static SECRETS: LazyLock<Regex> = LazyLock::new(|| {
    let key = KEYS;
    let scheme = SCHEMES;
    // A bare value ends at what usually follows a parameter (space, quote,
    // `&` of a query, `,`/`;` of a list, a closing bracket); `[masked]` is
    // matched whole so that masking twice changes nothing.
    let bare = r#"\[masked\]|[^\s"'`&,;<>)}\]\\]+"#;
    let pattern = format!(
        r#"(?xi)
        (?P<pem>-----BEGIN\ [A-Z0-9\ ]*PRIVATE\ KEY-----)(?:\[masked\]|[A-Za-z0-9+/=\s\\]*(?:-----END\ [A-Z0-9\ ]*PRIVATE\ KEY-----)?)
        | (?P<key>{key})(?P<sep>(?:\\?["'])?[\ \t]*[:=][\ \t]*)
          (?:
              (?P<dq>")(?P<dqval>(?:[^"\\]|\\.)*)"?
            | (?P<sq>')(?P<sqval>[^']*)'?
            | (?P<eq>\\")(?P<eqval>[^"\\]*)(?:\\")?
            | (?P<scheme>{scheme})?(?P<val>{bare})
          )
        | (?P<url>://)(?P<user>[^\s:/?\#@"'<>]*):(?P<pass>[^\s/?\#"'<>]+)@
        | (?-u:\b)(?P<bearer>(?:bearer|basic)\s+)(?P<cred>[A-Za-z0-9._~+/-]+=*)
        | (?-u:\b)(?P<jwt>(?-i:eyJ)[A-Za-z0-9_-]*)\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*
        | (?-u:\b)(?P<nrak>(?-i:NRAK-))(?-i:[A-Z0-9]{{27}})(?-u:\b)
        "#
    );
    Regex::new(&pattern).expect("the masking pattern is valid")
});

/// The secret words a parameter name ends with (see the module docs).
const KEYS: &str = r"(?:api[_.-]?key|token|passw(?:or)?d|pwd|passphrase|secret|(?:access|secret|private)[_.-]?key|session(?:[_.-]?id)?|authorization|signature|sig)";

/// Keys whose values people choose (not generated): masked even in prose
/// form, where a generated token would be recognised by its shape.
static CHOSEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(?:passw(?:or)?d|pwd|passphrase|secret)$").expect("valid"));

/// Authorization schemes, kept in front of a masked value for recognition
/// (`Authorization: Token [masked]`).
const SCHEMES: &str = r"(?:bearer|basic|digest|token|negotiate|apikey)\s+";

/// A leading scheme inside a quoted value.
static SCHEME: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!("(?i)^{SCHEMES}")).expect("valid"));

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns masking on or off for the whole process. Called once at startup
/// from `--no-mask`; everything that takes in outside text reads it through
/// [`apply`], so no flag has to be threaded through every call.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether [`apply`] masks (true unless `--no-mask`).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// [`mask`] unless `--no-mask` was given.
pub fn apply(s: &str) -> Cow<'_, str> {
    if enabled() { mask(s) } else { Cow::Borrowed(s) }
}

/// `s` with every credential replaced by [`MASKED`]; borrowed when there is
/// none. Pure and idempotent: `mask(mask(s)) == mask(s)`.
pub fn mask(s: &str) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    // Copied into `out` up to here.
    let mut done = 0;
    let mut at = 0;
    while let Some(c) = SECRETS.captures_at(s, at) {
        let whole = c.get(0).expect("group 0 always matches");
        match replacement(&c, &s[whole.end()..]) {
            // Prose, not a secret: look again one character further, so a
            // secret inside what was matched (`bearer token=…`) is still found.
            None => {
                let next = s[whole.start()..].chars().next().map_or(1, char::len_utf8);
                at = whole.start() + next;
            }
            Some(masked) => {
                if masked != whole.as_str() {
                    let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
                    o.push_str(&s[done..whole.start()]);
                    o.push_str(&masked);
                    done = whole.end();
                }
                at = whole.end().max(whole.start() + 1);
            }
        }
        if at > s.len() {
            break;
        }
    }
    match out {
        None => Cow::Borrowed(s),
        Some(mut o) => {
            o.push_str(&s[done..]);
            Cow::Owned(o)
        }
    }
}

/// A URL fit to show, the one way every URL the tool prints is shown:
/// its user information (`user:password@`) becomes `[masked]@`, and what
/// [`mask`] finds in the rest (`?api_key=…`, `&access_token=…`, a JWT
/// anywhere) is masked. Not turned off by `--no-mask`: the URL is the
/// user's own, not outside text. Idempotent.
pub fn url(url: &str) -> String {
    static USERINFO: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/?#@]*@").expect("valid"));
    let no_user = USERINFO.replace(url, |c: &Captures| format!("{}{MASKED}@", &c["scheme"]));
    mask(&no_user).into_owned()
}

/// Whether [`url`] hides anything of `u`: a command that needs the whole
/// URL must then take it from somewhere else than the screen.
pub fn url_has_secret(u: &str) -> bool {
    url(u) != u
}

/// Whether a parameter named `key` holds a secret (`client_secret`,
/// `X-Api-Key`; not `token_count`). For structured data, where the name and
/// the value arrive apart (a JSON object's fields).
pub fn is_secret_key(key: &str) -> bool {
    static KEY: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!("(?i){KEYS}$")).expect("valid"));
    KEY.is_match(key)
}

/// What one match becomes; `None` leaves it as it is (prose, not a secret).
/// `rest` is the text after the match.
fn replacement(c: &Captures, rest: &str) -> Option<String> {
    let g = |name: &str| c.name(name).map(|m| m.as_str());
    if let Some(begin) = g("pem") {
        return Some(format!("{begin}{MASKED}"));
    }
    if let Some(key) = g("key") {
        let sep = g("sep").unwrap_or("");
        if let Some(q) = g("dq").or(g("sq")).or(g("eq")) {
            let val = c.name("dqval").or(c.name("sqval")).or(c.name("eqval"));
            let (val, val_end) = val.map_or(("", 0), |v| (v.as_str(), v.end()));
            // A value cut by the length cap has no closing quote to keep.
            let close = if c.get(0).is_some_and(|m| m.end() > val_end) { q } else { "" };
            let scheme = SCHEME.find(val).map_or("", |m| m.as_str());
            return Some(format!("{key}{sep}{q}{scheme}{MASKED}{close}"));
        }
        let scheme = g("scheme").unwrap_or("");
        let val = g("val").unwrap_or("");
        // `token: expired` is prose; `token=expired` and `password: hunter`
        // are not.
        let prose = !sep.contains('=') && scheme.is_empty() && !CHOSEN.is_match(key);
        if prose && !looks_generated(val) {
            return None;
        }
        return Some(format!("{key}{sep}{scheme}{MASKED}"));
    }
    if g("url").is_some() {
        // The match starts at `://`, not at the scheme, so that no earlier
        // shape (a JWT glued to it) can hide the password by taking the
        // scheme; the user name is masked on its own for the same reason.
        let user = mask(g("user").unwrap_or(""));
        return Some(format!("://{user}:{MASKED}@"));
    }
    if let Some(bearer) = g("bearer") {
        let cred = g("cred").unwrap_or("");
        // `token_type=Bearer tokens=3`: the `=` belongs to the next pair.
        let pair = cred.ends_with('=') && rest.starts_with(|ch: char| !ch.is_whitespace() && !"\"',;)]}".contains(ch));
        return (looks_generated(cred) && !pair).then(|| format!("{bearer}{MASKED}"));
    }
    if let Some(prefix) = g("nrak") {
        return Some(format!("{prefix}{MASKED}"));
    }
    if let Some(header) = g("jwt") {
        let kept: String = header.chars().take(JWT_KEEP).collect();
        return Some(format!("{kept}…{MASKED}"));
    }
    None
}

/// Generated credentials have digits, base64 punctuation or mixed case;
/// English words do not.
fn looks_generated(v: &str) -> bool {
    v.len() >= 6
        && (v.bytes().any(|b| b.is_ascii_digit() || matches!(b, b'+' | b'/' | b'='))
            || v.bytes().skip(1).any(|b| b.is_ascii_uppercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzdmMta2V5cyIsImV4cCI6MTcwMDAwMDAwMH0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    fn m(s: &str) -> String {
        let out = mask(s).into_owned();
        assert_eq!(mask(&out), out, "masking twice changed {s:?}");
        out
    }

    #[test]
    fn jwts_keep_the_start_of_their_header() {
        assert_eq!(m(&format!("ERROR rejected {JWT} for kid=key-1")), "ERROR rejected eyJhbGc…[masked] for kid=key-1");
        // An unsigned token (empty signature) and a JWE (five segments).
        assert_eq!(m("t eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0. end"), "t eyJhbGc…[masked] end");
        assert_eq!(m("eyJhbGciOiJSU0EtT0FFUCJ9.a1b2.c3d4.e5f6.g7h8"), "eyJhbGc…[masked]");
        // Inside an identifier it is not a token.
        assert_eq!(m("signingKeyJwk.keys.first"), "signingKeyJwk.keys.first");
    }

    #[test]
    fn new_relic_keys_keep_their_prefix() {
        let key = "NRAK-ABCDEFGHIJKLMNOPQRSTUVWXY12";
        assert_eq!(key.len(), 32);
        assert_eq!(m(&format!("401: invalid key {key} for account 1")), "401: invalid key NRAK-[masked] for account 1");
        assert_eq!(m(&format!("\"{key}\"")), "\"NRAK-[masked]\"");
        assert_eq!(m(&format!("API-Key: {key}")), "API-Key: [masked]");
        // Not a key: another length, lower case, inside a word.
        for text in ["NRAK-SHORT", "nrak-abcdefghijklmnopqrstuvwxy12", "XNRAK-ABCDEFGHIJKLMNOPQRSTUVWXY12"] {
            assert_eq!(m(text), text);
        }
    }

    #[test]
    fn bearer_and_basic_credentials() {
        assert_eq!(m("Authorization: Bearer abc.def-123"), "Authorization: Bearer [masked]");
        assert_eq!(m(&format!("authorization=bearer {JWT}")), "authorization=bearer [masked]");
        assert_eq!(m("Authorization: Basic dXNlcjpwYXNz"), "Authorization: Basic [masked]");
        assert_eq!(m("Authorization: Token 0123abcdef"), "Authorization: Token [masked]");
        assert_eq!(m("Authorization: 0123abcdef"), "Authorization: [masked]");
        assert_eq!(m("ERROR authorization: denied"), "ERROR authorization: denied");
        assert_eq!(m(&format!("WARN retrying with bearer {JWT} now")), "WARN retrying with bearer [masked] now");
        assert_eq!(m("sent Bearer s3cr3tT0ken"), "sent Bearer [masked]");
        assert_eq!(m(r#"{"Authorization":["Bearer Zm9vYmFyYmF6"]}"#), r#"{"Authorization":["Bearer [masked]"]}"#);
        assert_eq!(m(r#"{"authorization": "Bearer Zm9vYmFyYmF6"}"#), r#"{"authorization": "Bearer [masked]"}"#);
        // Prose stays.
        assert_eq!(m("ERROR basic authentication failed"), "ERROR basic authentication failed");
        assert_eq!(m("missing bearer token"), "missing bearer token");
        assert_eq!(m("bearer token=abc"), "bearer token=[masked]");
    }

    #[test]
    fn secret_parameters_in_queries_pairs_and_json() {
        for (input, want) in [
            ("GET /v1/keys?api_key=AbC123xyz&limit=5", "GET /v1/keys?api_key=[masked]&limit=5"),
            ("apikey=zzz api-key=yyy API_KEY=xxx", "apikey=[masked] api-key=[masked] API_KEY=[masked]"),
            (
                "token=abc access_token=a refresh_token=b id_token=c",
                "token=[masked] access_token=[masked] refresh_token=[masked] id_token=[masked]",
            ),
            ("password=hunter2 passwd=x pwd=y", "password=[masked] passwd=[masked] pwd=[masked]"),
            ("secret=s client_secret=t clientSecret=u", "secret=[masked] client_secret=[masked] clientSecret=[masked]"),
            (
                "access_key=a secret_key=b private_key=c aws_secret_access_key=d",
                "access_key=[masked] secret_key=[masked] private_key=[masked] aws_secret_access_key=[masked]",
            ),
            ("session=abc sessionId=def", "session=[masked] sessionId=[masked]"),
            ("X-Api-Key: k3y-v4lue", "X-Api-Key: [masked]"),
            ("password: hunter", "password: [masked]"),
            ("token: 9f8e7d6c5b4a", "token: [masked]"),
            (r#"{"user":"svc","password":"hun ter\"2","n":1}"#, r#"{"user":"svc","password":"[masked]","n":1}"#),
            (
                r#"{"api_key": "abc", "access_token" : "def"}"#,
                r#"{"api_key": "[masked]", "access_token" : "[masked]"}"#,
            ),
            ("{'password': 'a b c'}", "{'password': '[masked]'}"),
            (r#"password="a b" next"#, r#"password="[masked]" next"#),
            (r#"msg="login {\"password\":\"hunter2\"}""#, r#"msg="login {\"password\":\"[masked]\"}""#),
            ("token: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "token: [masked]"),
            ("https://blob/x?sv=2024&sig=AbCd%2Fef&se=1", "https://blob/x?sv=2024&sig=[masked]&se=1"),
            // Cut by the length cap before the closing quote.
            (r#"{"password":"hunter2"#, r#"{"password":"[masked]"#),
        ] {
            assert_eq!(m(input), want, "{input}");
        }
    }

    #[test]
    fn passwords_in_urls_and_dsns() {
        assert_eq!(
            m("ERROR connect postgres://svc:hunter2@db-7.internal:5432/keys failed"),
            "ERROR connect postgres://svc:[masked]@db-7.internal:5432/keys failed"
        );
        assert_eq!(m("redis://:p@ss:w0rd@cache:6379/0"), "redis://:[masked]@cache:6379/0");
        assert_eq!(
            m(r#"{"dsn":"mysql://u:pw@h/db","mail":"a@b"}"#),
            r#"{"dsn":"mysql://u:[masked]@h/db","mail":"a@b"}"#
        );
        assert_eq!(
            m("host=db-7 port=5432 user=svc password=hunter2 dbname=keys sslmode=require"),
            "host=db-7 port=5432 user=svc password=[masked] dbname=keys sslmode=require"
        );
        assert_eq!(m("password='two words' dbname=keys"), "password='[masked]' dbname=keys");
        assert_eq!(
            m("jdbc:postgresql://db/keys?user=svc&password=x"),
            "jdbc:postgresql://db/keys?user=svc&password=[masked]"
        );
        // A JWT glued to the scheme or used as the user name.
        assert_eq!(m("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnpg://svc:pw@db"), "eyJhbGc…[masked]://svc:[masked]@db");
        assert_eq!(m("https://eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln:pw@h"), "https://eyJhbGc…[masked]:[masked]@h");
        // No password: nothing to mask.
        assert_eq!(m("https://key-service.example.com:443/healthz"), "https://key-service.example.com:443/healthz");
    }

    #[test]
    fn urls_lose_their_user_information_and_secret_parameters() {
        let jwt = JWT;
        assert_eq!(url("https://u:pw@h/x"), "https://[masked]@h/x");
        assert_eq!(url("https://token-only@h/x"), "https://[masked]@h/x");
        assert_eq!(
            url(&format!("http://127.0.0.1:1/healthz?api_key=AbC123xyz987QWE&access_token={jwt}&limit=5")),
            "http://127.0.0.1:1/healthz?api_key=[masked]&access_token=[masked]&limit=5"
        );
        assert_eq!(
            url(&format!("https://h/healthz/{jwt}?region=us-east")),
            "https://h/healthz/eyJhbGc…[masked]?region=us-east"
        );
        assert_eq!(url("https://h/x?token_count=5&kid=key-1"), "https://h/x?token_count=5&kid=key-1");
        for u in ["https://u:pw@h/x?token=abc123", "https://h/healthz"] {
            assert_eq!(url(&url(u)), url(u));
        }
        assert!(url_has_secret("https://h/x?sig=abc") && !url_has_secret("https://h/x?limit=5"));
    }

    #[test]
    fn pem_private_keys() {
        assert_eq!(
            m(r"key -----BEGIN RSA PRIVATE KEY-----\nMIIEow+IBAAK=\n-----END RSA PRIVATE KEY----- loaded"),
            "key -----BEGIN RSA PRIVATE KEY-----[masked] loaded"
        );
        assert_eq!(m("-----BEGIN CERTIFICATE-----MIIB"), "-----BEGIN CERTIFICATE-----MIIB");
    }

    #[test]
    fn what_is_not_a_secret_stays_and_is_borrowed() {
        for s in [
            "INFO keys validated=3 kid=key-1 key=key-17",
            "ERROR request 8f14e45f-ceea-467f-a0e6-5d1c0a3b2f11 failed after 3021ms",
            "request_id=01HZX3K5T7 trace=4bf92f3577b34da6a3ce929d0e0e4736",
            "token_count=5 token_type=Bearer tokens=3 secret_name=db-creds session_timeout=30s",
            "ERROR failed to refresh token: connection refused",
            "WARN session: expired",
            "ERROR failed to load signing keys: connection refused (db-7.internal:5432) attempt=1",
            "2026-01-01T10:00:00Z INFO GET /healthz 200 1ms",
            "héllo wörld ключ=значение",
        ] {
            assert!(matches!(mask(s), Cow::Borrowed(_)), "{s} became {}", mask(s));
        }
    }

    #[test]
    fn secret_keys_for_structured_data() {
        for k in ["password", "client_secret", "X-Api-Key", "accessToken", "Authorization"] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["token_count", "kid", "key", "href", "description", "code"] {
            assert!(!is_secret_key(k), "{k}");
        }
    }
}
