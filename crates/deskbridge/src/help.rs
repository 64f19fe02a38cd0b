//! Help for the people using deskbridge: our support desk's hours (Monday to Friday, 8am–5pm
//! Pacific, closed on US federal holidays, observed on the nearest weekday), support requests
//! stored for the organisation's admins, and "was this article helpful?" votes on the guide.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::America::Los_Angeles;
use chrono_tz::Tz;

use crate::store::{Store, now};

const OPEN: (u32, u32) = (8, 0);
const CLOSE: (u32, u32) = (17, 0);

fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u32) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n as u8)
        .expect("a valid nth weekday")
}

fn last_weekday(year: i32, month: u32, weekday: Weekday) -> NaiveDate {
    let mut d = NaiveDate::from_ymd_opt(year, month + 1, 1).expect("valid") - Duration::days(1);
    while d.weekday() != weekday {
        d -= Duration::days(1);
    }
    d
}

/// A fixed-date holiday moves to Friday when it falls on Saturday and to Monday on Sunday.
fn observed(d: NaiveDate) -> NaiveDate {
    match d.weekday() {
        Weekday::Sat => d - Duration::days(1),
        Weekday::Sun => d + Duration::days(1),
        _ => d,
    }
}

/// The observed US federal holidays that fall in `year` (including New Year's Day of `year + 1`
/// when it is observed on 31 December).
pub fn federal_holidays(year: i32) -> Vec<NaiveDate> {
    let fixed = |m, d| observed(NaiveDate::from_ymd_opt(year, m, d).expect("valid date"));
    let mut days = vec![
        fixed(1, 1),
        nth_weekday(year, 1, Weekday::Mon, 3),
        nth_weekday(year, 2, Weekday::Mon, 3),
        last_weekday(year, 5, Weekday::Mon),
        fixed(6, 19),
        fixed(7, 4),
        nth_weekday(year, 9, Weekday::Mon, 1),
        nth_weekday(year, 10, Weekday::Mon, 2),
        fixed(11, 11),
        nth_weekday(year, 11, Weekday::Thu, 4),
        fixed(12, 25),
    ];
    let next_new_year = observed(NaiveDate::from_ymd_opt(year + 1, 1, 1).expect("valid"));
    if next_new_year.year() == year {
        days.push(next_new_year);
    }
    days.retain(|d| d.year() == year);
    days
}

fn is_holiday(d: NaiveDate) -> bool {
    federal_holidays(d.year()).contains(&d)
}

fn is_working_day(d: NaiveDate) -> bool {
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !is_holiday(d)
}

fn at_local(d: NaiveDate, (h, m): (u32, u32)) -> DateTime<Tz> {
    let t = d.and_time(NaiveTime::from_hms_opt(h, m, 0).expect("valid time"));
    // 8am and 5pm always exist in Pacific time (the switches happen at 2am), so `earliest` is exact.
    Los_Angeles
        .from_local_datetime(&t)
        .earliest()
        .expect("business hours exist on every day")
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SupportStatus {
    pub open: bool,
    /// When it closes (if open) or next opens (if closed), in Pacific time.
    pub next_change: DateTime<Tz>,
}

pub fn support_status(now: DateTime<Utc>) -> SupportStatus {
    let local = now.with_timezone(&Los_Angeles);
    let today = local.date_naive();
    if is_working_day(today) {
        let (open, close) = (at_local(today, OPEN), at_local(today, CLOSE));
        if local >= open && local < close {
            return SupportStatus {
                open: true,
                next_change: close,
            };
        }
        if local < open {
            return SupportStatus {
                open: false,
                next_change: open,
            };
        }
    }
    let mut d = today + Duration::days(1);
    while !is_working_day(d) {
        d += Duration::days(1);
    }
    SupportStatus {
        open: false,
        next_change: at_local(d, OPEN),
    }
}

pub fn describe(s: &SupportStatus) -> String {
    let when = s.next_change.format("%A %-d %B at %-I:%M %p %Z");
    if s.open {
        format!("Support is open now, until {when}.")
    } else {
        format!("Support is closed now. It opens {when}.")
    }
}

pub async fn submit(
    store: &Store,
    org_id: i64,
    email: &str,
    subject: &str,
    message: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO support_requests (org_id, user_email, subject, message, created_at) VALUES ($1, $2, $3, $4, $5)").bind(org_id).bind(email).bind(subject).bind(message).bind(now()).execute(&store.pool).await?;
    Ok(())
}

pub struct Request {
    pub email: String,
    pub subject: String,
    pub message: String,
    pub at: i64,
}

pub async fn requests(store: &Store, org_id: i64) -> Result<Vec<Request>, sqlx::Error> {
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as("SELECT user_email, subject, message, created_at FROM support_requests WHERE org_id = $1 ORDER BY id DESC LIMIT 50").bind(org_id).fetch_all(&store.pool).await?;
    Ok(rows
        .into_iter()
        .map(|(email, subject, message, at)| Request {
            email,
            subject,
            message,
            at,
        })
        .collect())
}

/// One vote per user and article; voting again changes the vote.
pub async fn vote(
    store: &Store,
    user_id: i64,
    article: &str,
    helpful: bool,
) -> Result<(), sqlx::Error> {
    let mut tx = store.pool.begin().await?;
    sqlx::query("DELETE FROM article_feedback WHERE user_id = $1 AND article = $2")
        .bind(user_id)
        .bind(article)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO article_feedback (user_id, article, helpful, at) VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id)
    .bind(article)
    .bind(helpful as i64)
    .bind(now())
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// (found it helpful, voted) across every organisation.
pub async fn tally(store: &Store, article: &str) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(helpful), 0) AS BIGINT), COUNT(*) FROM article_feedback WHERE article = $1",
    )
    .bind(article)
    .fetch_one(&store.pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn opens(now: &str) -> String {
        let s = support_status(utc(now));
        assert!(!s.open, "{now} should be closed");
        s.next_change.with_timezone(&Utc).to_rfc3339()
    }

    #[test]
    fn a_weekday_afternoon_in_pacific_time_is_open() {
        let s = support_status(utc("2026-06-10T20:00:00Z")); // Wednesday 1pm PDT
        assert!(s.open);
        assert_eq!(
            s.next_change.with_timezone(&Utc),
            utc("2026-06-11T00:00:00Z")
        );
    }

    #[test]
    fn friday_evening_opens_on_monday_morning() {
        assert_eq!(opens("2026-06-13T01:30:00Z"), "2026-06-15T15:00:00+00:00"); // Fri 6:30pm PDT → Mon 8am PDT
    }

    #[test]
    fn the_spring_and_autumn_clock_changes_move_opening_time_in_utc() {
        // Sunday 8 March 2026 the clocks go forward: Monday opens at 8am PDT = 15:00 UTC.
        assert_eq!(opens("2026-03-07T20:00:00Z"), "2026-03-09T15:00:00+00:00");
        // Sunday 1 November 2026 the clocks go back: Monday opens at 8am PST = 16:00 UTC.
        assert_eq!(opens("2026-10-31T20:00:00Z"), "2026-11-02T16:00:00+00:00");
    }

    #[test]
    fn federal_holidays_are_closed_including_observed_days() {
        // Thanksgiving, Thursday 26 November 2026: opens Friday.
        assert_eq!(opens("2026-11-26T18:00:00Z"), "2026-11-27T16:00:00+00:00");
        // 4 July 2026 is a Saturday, observed Friday 3 July: closed, opens Monday 6 July.
        assert_eq!(opens("2026-07-03T18:00:00Z"), "2026-07-06T15:00:00+00:00");
        // Christmas 2027 is a Saturday (observed Friday 24 December) and New Year's Day 2028 too
        // (observed Friday 31 December 2027).
        assert_eq!(opens("2027-12-24T18:00:00Z"), "2027-12-27T16:00:00+00:00");
        assert_eq!(opens("2027-12-31T18:00:00Z"), "2028-01-03T16:00:00+00:00");
        // Martin Luther King Jr. Day, Monday 19 January 2026.
        assert_eq!(opens("2026-01-19T18:00:00Z"), "2026-01-20T16:00:00+00:00");
    }

    #[test]
    fn the_holiday_list_matches_the_published_2026_dates() {
        let got: Vec<String> = federal_holidays(2026)
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            got,
            [
                "2026-01-01",
                "2026-01-19",
                "2026-02-16",
                "2026-05-25",
                "2026-06-19",
                "2026-07-03",
                "2026-09-07",
                "2026-10-12",
                "2026-11-11",
                "2026-11-26",
                "2026-12-25"
            ]
        );
    }

    #[test]
    fn before_opening_on_a_working_day_it_opens_the_same_morning() {
        let s = support_status(utc("2026-06-10T13:00:00Z")); // 6am PDT
        assert!(!s.open);
        assert_eq!(
            s.next_change.with_timezone(&Utc),
            utc("2026-06-10T15:00:00Z")
        );
        assert!(
            describe(&s).contains("opens Wednesday 10 June at 8:00 AM PDT"),
            "{}",
            describe(&s)
        );
    }
}
