use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn signing_in_sets_a_host_prefixed_secure_http_only_cookie_with_a_new_id_each_time() {
    let app = spawn_app().await;
    let r = app.login_raw("admin@acme.test", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookie(&r);
    assert!(cookie.starts_with("__Host-deskbridge="), "{cookie}");
    for attr in ["Path=/", "HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    assert!(!cookie.contains("Domain"));
    let again = app.login_raw("admin@acme.test", PASSWORD).await;
    assert_ne!(
        again.headers().get("set-cookie").unwrap().to_str().unwrap(),
        cookie
    );
}

#[tokio::test]
async fn an_unknown_user_and_a_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    let unknown = app.login_raw("nobody@acme.test", PASSWORD).await;
    let wrong = app
        .login_raw("admin@acme.test", "not the password at all")
        .await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let (a, b) = (unknown.text().await.unwrap(), wrong.text().await.unwrap());
    assert_eq!(
        a.replace("nobody@acme.test", "X"),
        b.replace("admin@acme.test", "X")
    );
    assert!(a.contains("that email or password is not right"));
}

#[tokio::test]
async fn repeated_failures_throttle_sign_in_even_with_the_right_password() {
    let app = spawn_app().await;
    for _ in 0..5 {
        app.login_raw("admin@acme.test", "wrong password here")
            .await;
    }
    let r = app.login_raw("admin@acme.test", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().await.unwrap().contains("too many failed sign-ins"));
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    let b = app.login("admin@acme.test").await;
    app.expect_status(&b, "/dashboard", StatusCode::OK).await;
    let r = app.post(&b, "/logout", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let after = app.get(&b, "/dashboard").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(TestApp::location(&after), "/login");
}

#[tokio::test]
async fn a_password_reset_ends_every_session_of_that_user() {
    let app = spawn_app().await;
    let b = app.login("admin@acme.test").await;
    deskbridge::accounts::set_password(&app.store, "admin@acme.test", "another long passphrase")
        .await
        .unwrap();
    app.expect_status(&b, "/dashboard", StatusCode::SEE_OTHER)
        .await;
}

#[tokio::test]
async fn pages_need_a_session_and_the_api_answers_401_without_one() {
    let app = spawn_app().await;
    let r = app.anonymous("/settings/integrations").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = app.anonymous("/api/v1/integrations").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_idle_session_expires() {
    let app = spawn_app_with(|c| {
        c.server.session_idle_secs = 1;
        c.server.session_absolute_secs = 3600;
    })
    .await;
    let b = app.login("admin@acme.test").await;
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    app.expect_status(&b, "/dashboard", StatusCode::SEE_OTHER)
        .await;
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_timeout_even_while_in_use() {
    let app = spawn_app_with(|c| {
        c.server.session_idle_secs = 2;
        c.server.session_absolute_secs = 3;
    })
    .await;
    let b = app.login("admin@acme.test").await;
    let started = std::time::Instant::now();
    // Activity every 0.7 s keeps the idle clock fresh (the last at about 2.1 s, well inside the
    // absolute limit even on a loaded machine)…
    while started.elapsed() < std::time::Duration::from_millis(2_000) {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        app.expect_status(&b, "/dashboard", StatusCode::OK).await;
    }
    // …but three seconds after sign-in the session ends anyway.
    tokio::time::sleep(std::time::Duration::from_millis(3_400).saturating_sub(started.elapsed()))
        .await;
    app.expect_status(&b, "/dashboard", StatusCode::SEE_OTHER)
        .await;
}

#[tokio::test]
async fn the_audit_log_records_who_did_what_with_a_fingerprint_and_never_the_key() {
    let app = spawn_app().await;
    app.login_raw("admin@acme.test", "wrong password here")
        .await;
    let b = app.login("admin@acme.test").await;
    let r = app.connect(&b, "acme", &app.admin_key()).await;
    let path = TestApp::location(&r).split('?').next().unwrap().to_string();
    app.post(&b, &format!("{path}/disconnect"), &[("confirm", "yes")])
        .await;
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT actor, action, detail FROM audit_log ORDER BY id")
            .fetch_all(&app.store.pool)
            .await
            .unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        actions,
        [
            "vault_key_added",
            "sign_in_failed",
            "sign_in",
            "connect",
            "disconnect"
        ]
    );
    let key = app.admin_key();
    let fp = &key[key.len() - 4..];
    assert!(
        rows[3].2.contains(&format!("key=…{fp}"))
            && rows[3].2.contains("integration@acme-support.example")
    );
    assert!(rows.iter().all(|r| !r.2.contains(&key)));
    assert!(app.page(&b, "/dashboard").await.contains("disconnect"));
}
