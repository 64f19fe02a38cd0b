use reqwest::{Method, StatusCode};

use crate::helpers::*;

#[tokio::test]
async fn every_state_changing_route_refuses_a_missing_or_foreign_csrf_token() {
    let app = spawn_app().await;
    let a = app.login("admin@acme.test").await;
    let other = app.login("admin@other.test").await;
    for (method, route) in deskbridge::web::route_list()
        .iter()
        .filter(|(m, _)| *m != "GET")
    {
        // Sign-in has no session yet; webhooks are authenticated by their secret (tested apart).
        if *route == "/login" || route.starts_with("/hooks/") {
            continue;
        }
        let path = route.replace("{id}", "1");
        let m: Method = method.parse().unwrap();
        let none = app
            .http
            .request(m.clone(), format!("{}{path}", app.base))
            .header("cookie", &a.cookie)
            .form(&[("confirm", "yes")])
            .send()
            .await
            .unwrap();
        assert_eq!(
            none.status(),
            StatusCode::FORBIDDEN,
            "{method} {route} without a token"
        );
        let foreign = app
            .http
            .request(m.clone(), format!("{}{path}", app.base))
            .header("cookie", &a.cookie)
            .form(&[("csrf", other.csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(
            foreign.status(),
            StatusCode::FORBIDDEN,
            "{method} {route} with another session's token"
        );
    }
}

#[tokio::test]
async fn cross_site_writes_are_refused_even_with_a_valid_token() {
    let app = spawn_app().await;
    let a = app.login("admin@acme.test").await;
    let form = [
        ("csrf", a.csrf.as_str()),
        ("domain", "acme"),
        ("api_key", "x"),
    ];
    for (header, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let r = app
            .http
            .post(format!(
                "{}/settings/integrations/freshdesk/connect",
                app.base
            ))
            .header("cookie", &a.cookie)
            .header(header, value)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{header}: {value}");
    }
    let r = app
        .http
        .post(format!("{}/login", app.base))
        .header("origin", "https://evil.example")
        .form(&[("email", "admin@acme.test"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn every_response_carries_the_security_headers_including_errors() {
    let app = spawn_app().await;
    let b = app.login("admin@acme.test").await;
    for path in [
        "/login",
        "/dashboard",
        "/settings/integrations",
        "/no/such/page",
        "/settings/integrations/999",
    ] {
        let r = app.get(&b, path).await;
        let h = r.headers();
        let csp = h
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("CSP on {path}"))
            .to_str()
            .unwrap();
        for part in [
            "default-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{part} on {path}");
        }
        assert_eq!(
            h.get("x-content-type-options").unwrap(),
            "nosniff",
            "{path}"
        );
        assert!(h.get("referrer-policy").is_some(), "{path}");
        assert_eq!(h.get("cache-control").unwrap(), "no-store", "{path}");
    }
}

#[tokio::test]
async fn the_key_never_appears_in_pages_api_replies_or_the_database_files() {
    let app = spawn_app().await;
    let key = app.admin_key();
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{key}:X"),
    );
    let b = app.login("admin@acme.test").await;
    let mut seen = String::new();
    let r = app.connect(&b, "acme", &key).await;
    let path = TestApp::location(&r).split('?').next().unwrap().to_string();
    for p in [
        "/dashboard",
        "/settings/integrations",
        path.as_str(),
        "/api/v1/integrations",
    ] {
        let r = app.get(&b, p).await;
        seen.push_str(&format!("{:?}", r.headers()));
        seen.push_str(&r.text().await.unwrap());
    }
    let r = app
        .post(
            &b,
            &format!("{path}/reauthorize"),
            &[("api_key", "WrongKey1234567890ab")],
        )
        .await;
    seen.push_str(&r.text().await.unwrap());
    assert!(!seen.contains(&key), "a page or API reply contains the key");
    assert!(!seen.contains(&basic));
    assert!(
        seen.contains(&key[key.len() - 4..]),
        "only the last four characters are shown"
    );
    if app.db_url.starts_with("sqlite") {
        sqlx::query("PRAGMA wal_checkpoint(FULL)")
            .execute(&app.store.pool)
            .await
            .ok();
        for entry in std::fs::read_dir(&app.dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_file() {
                let bytes = std::fs::read(&p).unwrap();
                let text = String::from_utf8_lossy(&bytes);
                assert!(
                    !text.contains(&key) && !text.contains(&basic),
                    "{} holds the key",
                    p.display()
                );
            }
        }
    }
}
