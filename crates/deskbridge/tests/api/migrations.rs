//! The migrations have one source, written for SQLite; PostgreSQL gets them rendered with its
//! own spelling of the auto-numbered id column. The rendered text must stay exactly what earlier
//! releases shipped as files, or PostgreSQL databases they migrated would refuse to start.

use deskbridge::store::{POSTGRES_ID, SQLITE_ID, postgres_migrations};

/// SHA-384 of each PostgreSQL migration as released (the files of `migrations/postgres` up to
/// 0008, then as rendered from 0009 on), which sqlx compares with what a database recorded when
/// it applied them.
const RELEASED: [(i64, &str); 18] = [
    (
        1,
        "68bb45c80c5a06a691716aadb1f8f3d7367356631c0ec58dc6dae58bf0b510305eddae5daddc2e0697a608100200db3f",
    ),
    (
        2,
        "83d840f61149833af7240fd2474908e21221bfe75cbdf8956f5d1081683a6e5e2a915898f166ba32f76368b8ed75cf72",
    ),
    (
        3,
        "ba4cfaa769c19889096184f6e4d5f9288af7443305af95318dc0edc9c65b5da378ec5d9053cefd3f8fe8f4046756b97f",
    ),
    (
        4,
        "9faa2bc9395621a3178859b22ff8e82d7f4dc9e02479f901ce23f646c358e65f182252ba672c36189641f2c555d1628b",
    ),
    (
        5,
        "4549255fac8260025efe4e03961e767b51bd04b970606c2226f57308bbd1208da72ec39a5c010c85d97be6a112606a7d",
    ),
    (
        6,
        "7fbc9ab2f27d3ff4f12317622ad74caf6f5383be413f2c959b856850fa9ea0bbf83a234275aca5ad5f39ab1bf0343b75",
    ),
    (
        7,
        "e538fd756d0623daaeacd7c689a829197035836bd60b97504a5c1df33c181523b63626b6aa8c1777297726aa36be4ea8",
    ),
    (
        8,
        "e1a0dc94d4f2d8dd6890ae61cc037525fbb71724ca18d9f23b3acf71977d6b2fd493fdcf5daba685c4ae5a17e803584e",
    ),
    (
        9,
        "de5a2eac6154e56c66cf030872e51254c3e93c6943193520d36687d2036e3c4296ab27c3f61f162920642ae898718502",
    ),
    (
        10,
        "f60d633aa67ab52be052584eced4a511faf2c1e5d4aa59417331a0a18132c5c2739cf9137c05af9bcd4cc2ef21b88c5a",
    ),
    (
        11,
        "71b1ac719400937dba0a6e26b2945cff3685320dc9afc9fe7f8d71aee3667df966fc1e6564a474ecec4339b031aca0d0",
    ),
    (
        12,
        "3d9f8eb2f4b2e1d1598fe3d93a768cd0d51b77b3bea6350e32e9d1758b0359741921f12ec8d1b7e6e73bce35bb22760e",
    ),
    (
        13,
        "cca535dd74ee5d333c72a9c16f3b48023c05ce201f8e9f0a243324d4f0870d1d5444f736f5c8dcd8bdb9de6d05495348",
    ),
    (
        14,
        "f166c877afdc7ef67ffc369cbcee0e1d5e22d04aacec03f1af3466f102b2ee7af3c6110f1a810ff071aa726978bcebf4",
    ),
    (
        15,
        "fee84a482984716e8ad670db18b233b54099e6a29ac1476771f41a8f9b100b37ad47f1b2fa0ca012387b100aed141eed",
    ),
    (
        16,
        "140b69e652cee0e3de21ddbb64da517918a34e7239a0c36029f0ff147ea8b31c41b5e3cd2feabe03494fd161193811fa",
    ),
    (
        17,
        "bbede08bc88ba8a82a0972d166226552e532785caa2d614ef17cde45f4187ed3108ebca4f54a38235e3921d0b310bd7c",
    ),
    (
        18,
        "47f1c71ebc9027f471427052c3e01e56ee592de44afbfc3db11b4f9ff3d513856f9566b51c2ab8c5e85d5f683d7bcdf5",
    ),
];

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn the_postgres_migrations_are_the_sqlite_ones_with_the_id_column_and_engine_lines_for_postgres() {
    let pg = postgres_migrations();
    assert!(
        pg.migrations.len() >= RELEASED.len(),
        "no migrations embedded"
    );
    for m in pg.migrations.iter() {
        let sql = m.sql.as_str();
        // AUTOINCREMENT is SQLite only: PostgreSQL refuses the whole migration over it.
        assert!(
            !sql.to_ascii_uppercase().contains("AUTOINCREMENT") && !sql.contains(SQLITE_ID),
            "{}: SQLite's id column left",
            m.version
        );
    }
    assert!(pg.migrations[0].sql.as_str().contains(POSTGRES_ID));
    // One engine's own lines: SQLite's FTS5 table stays out, PostgreSQL's index comes in.
    let browse = pg.migrations.iter().find(|m| m.version == 11).unwrap();
    let sql = browse.sql.as_str();
    assert!(
        !sql.contains("fts5") && !sql.contains("CREATE TRIGGER"),
        "{sql}"
    );
    assert!(
        sql.contains("\nCREATE INDEX fd_tickets_search ON fd_tickets USING GIN"),
        "{sql}"
    );
    let sqlite = deskbridge::store::MIGRATIONS
        .migrations
        .iter()
        .find(|m| m.version == 11);
    assert!(
        !sqlite
            .unwrap()
            .sql
            .as_str()
            .contains("\nCREATE INDEX fd_tickets_search")
    );
}

#[test]
fn the_rendered_postgres_migrations_match_what_earlier_releases_applied() {
    let pg = postgres_migrations();
    for (version, want) in RELEASED {
        let m = pg
            .migrations
            .iter()
            .find(|m| m.version == version)
            .unwrap_or_else(|| panic!("migration {version} is gone"));
        assert_eq!(hex(&m.checksum), want, "migration {version} changed");
    }
}

/// A copy synced by a release without the change feed enters the feed once when 0009 runs: every
/// record with its own number, numbered per integration, and each counter at its last number.
#[tokio::test]
async fn a_copy_synced_before_the_change_feed_enters_it_once_on_upgrade() {
    let dir = std::env::temp_dir().join(format!(
        "deskbridge-upgrade-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("old.db").display());
    let opts = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url)
        .unwrap()
        .create_if_missing(true);
    let old = sqlx::sqlite::SqlitePool::connect_with(opts).await.unwrap();
    let released: Vec<_> = deskbridge::store::MIGRATIONS
        .migrations
        .iter()
        .filter(|m| m.version <= 8)
        .cloned()
        .collect();
    sqlx::migrate::Migrator::with_migrations(released)
        .run(&old)
        .await
        .unwrap();
    for (integration, id) in [(1, 10), (1, 11), (2, 10)] {
        sqlx::query("INSERT INTO fd_tickets (org_id, integration_id, id, status, priority, state, created_at, updated_at, raw) VALUES (1, ?, ?, 2, 1, 'live', 5, 6, '{}')")
            .bind(integration)
            .bind(id)
            .execute(&old)
            .await
            .unwrap();
    }
    sqlx::query("INSERT INTO fd_records (org_id, integration_id, stream, id, state, raw) VALUES (1, 1, 'roles', 3, 'active', '{}')")
        .execute(&old)
        .await
        .unwrap();
    old.close().await;
    let store = deskbridge::store::Store::connect(&secrecy::SecretString::from(url), 2)
        .await
        .expect("the new release opens the old database");
    let rows: Vec<(i64, String, i64, i64)> = sqlx::query_as(
        "SELECT integration_id, stream, record_id, seq FROM record_changes ORDER BY integration_id, seq",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap();
    let want: Vec<(i64, String, i64, i64)> = vec![
        (1, "roles".into(), 3, 1),
        (1, "tickets".into(), 10, 2),
        (1, "tickets".into(), 11, 3),
        (2, "tickets".into(), 10, 1),
    ];
    assert_eq!(rows, want);
    let counters: Vec<(i64, i64)> =
        sqlx::query_as("SELECT integration_id, seq FROM change_counters ORDER BY integration_id")
            .fetch_all(&store.pool)
            .await
            .unwrap();
    assert_eq!(counters, vec![(1, 3), (2, 1)]);
}
