//! The one origin policy: which pages may use the gateway from a browser.
//!
//! The same list (`--socketio-cors-origins`, default `*`) decides both the
//! long-polling CORS answers ([`crate::socketio::cors`]) and every
//! WebSocket upgrade (`/ws`, `/socket.io/`), so the two can never disagree.
//! A request without `Origin` (a non-browser client) is allowed, and so is
//! a page from the gateway's own origin. A refused upgrade gets 403, which
//! stops cross-site WebSocket hijacking: a foreign page cannot open a
//! socket that rides the user's cookies.

use axum::http::{HeaderMap, header};

/// The rule of `origins` that lets `origin` in: listed exactly, or `*`.
pub fn allowed<'a>(origins: &'a [String], origin: &str) -> Option<&'a str> {
    origins
        .iter()
        .find(|o| o.as_str() == "*" || o.as_str() == origin)
        .map(String::as_str)
}

/// Whether an upgrade request passes the policy: no `Origin`, the
/// gateway's own origin (`http(s)://` + `Host`), or an allowed one.
pub fn upgrade_allowed(origins: &[String], headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let own = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|host| {
            origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                == Some(host)
        });
    own || allowed(origins, origin).is_some()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn star_allows_any_origin_and_a_list_only_its_members() {
        let star = vec!["*".to_owned()];
        assert_eq!(allowed(&star, "https://a.example"), Some("*"));
        let list = vec!["https://a.example".to_owned()];
        assert_eq!(
            allowed(&list, "https://a.example"),
            Some("https://a.example")
        );
        assert_eq!(allowed(&list, "https://b.example"), None);
        assert_eq!(allowed(&[], "https://a.example"), None);
    }

    #[test]
    fn upgrades_pass_without_origin_from_the_own_origin_or_a_listed_one() {
        let list = vec!["https://app.example".to_owned()];
        let headers = |origin: Option<&str>| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static("gw.example:8080"));
            if let Some(o) = origin {
                h.insert(
                    header::ORIGIN,
                    HeaderValue::from_str(o).unwrap_or(HeaderValue::from_static("x")),
                );
            }
            h
        };
        assert!(upgrade_allowed(&list, &headers(None)));
        assert!(upgrade_allowed(
            &list,
            &headers(Some("http://gw.example:8080"))
        ));
        assert!(upgrade_allowed(
            &list,
            &headers(Some("https://app.example"))
        ));
        assert!(!upgrade_allowed(
            &list,
            &headers(Some("https://evil.example"))
        ));
        // A look-alike host is not the own origin.
        assert!(!upgrade_allowed(
            &list,
            &headers(Some("http://gw.example:8080.evil"))
        ));
    }
}
