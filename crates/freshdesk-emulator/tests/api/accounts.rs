//! Several help desks in one emulator: each has its own domain label, agents, keys, data, rate
//! window, faults and log; the control API acts on one through `/_emulator/accounts/{label}/…`.

use std::time::Duration;

use freshdesk_emulator::Plan;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

async fn three_accounts(plan: Plan, minute: Duration) -> TestEmulator {
    spawn_with(Options {
        tickets: 200,
        accounts: 3,
        tickets_spread: 4.0,
        plan,
        minute,
        ..Options::default()
    })
    .await
}

/// A GET on account `label` with `key`.
async fn get_on(t: &TestEmulator, label: &str, path: &str, key: &str) -> reqwest::Response {
    t.client
        .get(format!("{}{path}", t.base_of(label)))
        .header("Authorization", basic(key))
        .send()
        .await
        .expect("request")
}

/// The status of a GET on account `label` with `key`.
async fn status_on(t: &TestEmulator, label: &str, path: &str, key: &str) -> u16 {
    get_on(t, label, path, key).await.status().as_u16()
}

fn admin_key_of(t: &TestEmulator, label: &str) -> String {
    let account = t
        .emu
        .accounts()
        .into_iter()
        .find(|a| a.domain == label)
        .unwrap();
    account.agents[freshdesk_emulator::well_known::INTEGRATION_ADMIN]
        .api_key
        .clone()
}

#[tokio::test]
async fn each_account_has_its_own_label_size_agents_and_keys() {
    let t = three_accounts(Plan::Unlimited, Duration::from_secs(60)).await;
    let accounts = t.emu.accounts();
    let labels: Vec<&str> = accounts.iter().map(|a| a.domain.as_str()).collect();
    assert_eq!(labels, ["acme", "company2", "company3"]);
    assert_eq!(
        accounts[0].tickets, 200,
        "the first account has --tickets exactly"
    );
    assert_ne!(accounts[1].tickets, accounts[2].tickets, "sizes differ");
    assert!(accounts.iter().all(|a| (50..=800).contains(&a.tickets)));
    let keys: std::collections::BTreeSet<&str> = accounts
        .iter()
        .flat_map(|a| a.agents.iter().map(|x| x.api_key.as_str()))
        .collect();
    assert_eq!(keys.len(), 3 * accounts[0].agents.len(), "no key is shared");
    let report = t.emu.ready_report();
    assert_eq!(report["accounts"].as_array().unwrap().len(), 3);
    assert_eq!(
        report["accounts"][2]["agents"][0]["api_key"],
        accounts[2].agents[0].api_key
    );
    let listed = t
        .control_json(Method::GET, "/_emulator/accounts", json!({}))
        .await;
    assert_eq!(listed[1]["domain"], "company2");
    assert_eq!(listed[1]["tickets"], accounts[1].tickets);
}

#[tokio::test]
async fn a_key_of_one_account_is_refused_by_every_other() {
    let t = three_accounts(Plan::Unlimited, Duration::from_secs(60)).await;
    let acme = t.admin_key();
    let company2 = admin_key_of(&t, "company2");
    let me = get_on(&t, "company2", "/api/v2/agents/me", &company2).await;
    assert_eq!(me.status(), 200, "a key works on its own account");
    for (label, key) in [
        ("company2", &acme),
        ("company3", &acme),
        ("acme", &company2),
    ] {
        let r = get_on(&t, label, "/api/v2/tickets", key).await;
        assert_eq!(r.status(), 401, "{label}");
    }
    assert_eq!(status_on(&t, "other", "/api/v2/tickets", &acme).await, 404);
}

#[tokio::test]
async fn a_fault_or_a_rate_limit_on_one_account_leaves_the_others_untouched() {
    let t = three_accounts(Plan::Trial, Duration::from_secs(30)).await;
    let company2 = admin_key_of(&t, "company2");
    let fault =
        json!({"path_prefix": "/api/v2/tickets", "kind": "status", "status": 500, "count": 5});
    t.control_json(Method::POST, "/_emulator/accounts/company2/faults", fault)
        .await;
    assert_eq!(
        status_on(&t, "company2", "/api/v2/tickets", &company2).await,
        500
    );
    let acme = t.get("/api/v2/tickets").await.status();
    assert_eq!(acme, 200, "acme has no fault");
    // Trial allows 50 calls a minute: spend company2's budget, acme keeps its own.
    let mut throttled = false;
    for _ in 0..60 {
        if get_on(&t, "company2", "/api/v2/agents/me", &company2)
            .await
            .status()
            == 429
        {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "company2 reached its limit");
    let r = t.get("/api/v2/agents/me").await;
    assert_eq!(r.status(), 200);
    let remaining: u32 = header(&r, "x-ratelimit-remaining")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        remaining >= 45,
        "acme's window is its own: {remaining} left"
    );
    let log = t
        .control_json(Method::GET, "/_emulator/requests", json!({}))
        .await;
    assert!(
        log.as_array().unwrap().len() <= 3,
        "acme's log holds only acme's calls"
    );
}

#[tokio::test]
async fn the_control_api_acts_on_the_account_its_path_names() {
    let t = three_accounts(Plan::Unlimited, Duration::from_secs(60)).await;
    let on = |label: &str, rest: &str| format!("/_emulator/accounts/{label}/{rest}");
    let export = t
        .control_json(
            Method::GET,
            &on("company3", "export?only=account"),
            json!({}),
        )
        .await;
    assert_eq!(export["account"]["domain"], "company3");
    let company3 =
        t.emu.accounts()[2].agents[freshdesk_emulator::well_known::INTEGRATION_ADMIN].clone();
    t.control_json(
        Method::POST,
        &on("company3", &format!("agents/{}/suspend", company3.id)),
        json!({}),
    )
    .await;
    assert_eq!(
        status_on(&t, "company3", "/api/v2/agents/me", &company3.api_key).await,
        401
    );
    let acme = t.get("/api/v2/agents/me").await.status();
    assert_eq!(acme, 200, "acme's agent of the same id is active");
    let r = t
        .control_send(Method::GET, &on("nosuch", "export"), json!({}))
        .await;
    assert_eq!(r.status(), 404);
    let taken = t
        .control_send(
            Method::POST,
            &on("company2", "account/domain"),
            json!({"domain": "acme"}),
        )
        .await;
    assert_eq!(taken.status(), 400, "a label in use is refused");
    let typed = t.emu.control().for_account("company2");
    let v: Value = typed
        .call(Method::GET, "/_emulator/export?only=account", None)
        .await
        .unwrap();
    assert_eq!(v["account"]["domain"], "company2");
    let anonymous = t
        .client
        .get(format!(
            "{}{}",
            t.emu.base_url.replace("127.0.0.1", "acme.freshdesk.com"),
            on("company2", "export")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous.status(),
        401,
        "the token is needed on every account"
    );
}
