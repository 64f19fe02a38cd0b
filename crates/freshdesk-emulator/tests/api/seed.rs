use std::collections::{BTreeMap, BTreeSet};

use freshdesk_emulator::well_known;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn the_same_seed_and_anchor_give_the_same_help_desk() {
    let anchor = Some(1_790_000_000);
    let a = spawn_with(Options {
        anchor,
        ..Options::default()
    })
    .await;
    let b = spawn_with(Options {
        anchor,
        ..Options::default()
    })
    .await;
    let only = "tickets,conversations,contacts,companies,solution_articles";
    assert_eq!(a.export(only).await, b.export(only).await);
    assert_eq!(a.admin_key(), b.admin_key());
}

#[tokio::test]
async fn the_seeded_help_desk_has_the_agents_and_records_a_demo_needs() {
    let t = spawn_tickets(2_000).await;
    let agents = t.emu.agents();
    let admin = &agents[well_known::INTEGRATION_ADMIN];
    assert_eq!(
        (admin.role.as_str(), admin.ticket_scope),
        ("Administrator", 1)
    );
    assert_eq!(agents[well_known::PLAIN_AGENT].role, "Agent");
    let group_admin = &agents[well_known::GROUP_ADMIN];
    assert_eq!(
        (group_admin.role.as_str(), group_admin.ticket_scope),
        ("Administrator", 2)
    );
    assert!(agents.iter().any(|a| a.ticket_scope == 3));

    let export = t
        .export("tickets,conversations,solution_articles,groups")
        .await;
    let tickets = export["tickets"].as_array().unwrap();
    assert_eq!(tickets.len(), 2_000);
    let mut per_ticket: BTreeMap<i64, usize> = BTreeMap::new();
    for c in export["conversations"].as_array().unwrap() {
        *per_ticket
            .entry(c["ticket_id"].as_i64().unwrap())
            .or_default() += 1;
    }
    assert!(per_ticket.values().all(|n| *n <= 8));
    assert!(
        per_ticket.len() < tickets.len(),
        "some tickets have no conversation"
    );
    let categories: BTreeSet<&str> = tickets
        .iter()
        .filter_map(|t| t["custom_fields"]["cf_category"].as_str())
        .collect();
    assert!(categories.len() >= 5);
    let statuses: BTreeSet<i64> = tickets
        .iter()
        .map(|t| t["status"].as_i64().unwrap())
        .collect();
    assert!(statuses.is_superset(&[2, 3, 4, 5].into()));
    let years: BTreeSet<&str> = tickets
        .iter()
        .map(|t| &t["created_at"].as_str().unwrap()[..4])
        .collect();
    assert!(years.len() >= 2, "spread over two years");
    assert!(export["solution_articles"].as_array().unwrap().len() >= 24);
    assert_eq!(export["groups"].as_array().unwrap().len(), 6);
    let kinds: BTreeSet<(bool, bool)> = export["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["incoming"].as_bool().unwrap(),
                c["private"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&(false, false))
            && kinds.contains(&(true, false))
            && kinds.contains(&(false, true))
    );
}

#[tokio::test]
async fn subjects_carry_their_categorys_voice() {
    let t = spawn_tickets(2_000).await;
    let export = t.export("tickets").await;
    let billing_words = ["invoice", "charge", "billed", "payment", "card", "vat"];
    let billing: Vec<&Value> = export["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["custom_fields"]["cf_category"] == "Billing")
        .collect();
    let hits = billing.iter().filter(|t| {
        let text = format!("{} {}", t["subject"], t["description_text"]).to_lowercase();
        billing_words.iter().any(|w| text.contains(w))
    });
    assert!(hits.count() * 10 >= billing.len() * 9);
}

#[tokio::test]
async fn seeding_a_large_help_desk_includes_a_tie_of_more_than_a_page() {
    let t = spawn_tickets(6_000).await;
    let export = t.export("tickets").await;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for tk in export["tickets"].as_array().unwrap() {
        *counts
            .entry(tk["updated_at"].as_str().unwrap())
            .or_default() += 1;
    }
    assert!(counts.values().any(|n| *n > 100));
    let _ = Method::GET;
}
