//! Small, dependency-free helpers the emulator leans on everywhere: a deterministic PRNG (so a seed
//! gives the same help desk whatever version of `rand` is around), and Freshdesk's timestamp
//! formats, both the strict form it writes and the lenient forms it accepts.

/// SplitMix64: tiny, fast and stable forever, which is what a reproducible seed needs.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// A generator for one named sub-stream, so that adding draws in one place does not shift
    /// every value generated after it.
    pub fn fork(&self, salt: u64) -> Self {
        let mut r = Rng(self.0 ^ salt.wrapping_mul(0xD6E8_FEB8_6659_FD93));
        r.next_u64();
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// Picks an index by weight.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut x = self.below(total as u64) as u32;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats unix seconds the way Freshdesk writes timestamps: `2024-01-03T09:08:53Z`.
pub fn format_ts(secs: i64) -> String {
    let mut out = String::with_capacity(20);
    write_ts(&mut out, secs);
    out
}

pub fn write_ts(out: &mut String, secs: i64) {
    use std::fmt::Write;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
}

/// The 20 bytes of `YYYY-MM-DDTHH:MM:SSZ` without going through `fmt`: tickets carry a dozen
/// timestamps each, and this is the serializer's hottest path.
pub fn ts_bytes(secs: i64) -> [u8; 20] {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let y = y.clamp(0, 9999) as u32;
    let mut b = *b"0000-00-00T00:00:00Z";
    let put2 = |b: &mut [u8; 20], at: usize, v: u32| {
        b[at] = b'0' + (v / 10) as u8;
        b[at + 1] = b'0' + (v % 10) as u8;
    };
    put2(&mut b, 0, y / 100);
    put2(&mut b, 2, y % 100);
    put2(&mut b, 5, m);
    put2(&mut b, 8, d);
    put2(&mut b, 11, (rem / 3600) as u32);
    put2(&mut b, 14, ((rem / 60) % 60) as u32);
    put2(&mut b, 17, (rem % 60) as u32);
    b
}

/// Formats a date only (`2024-01-03`), as date custom fields and `renewal_date` use.
pub fn format_date(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses the timestamp forms Freshdesk accepts in `updated_since` and friends: `YYYY-MM-DD`,
/// `…THH:MM`, `…THH:MM:SS`, optional fractional seconds, and a zone of `Z`, `±hh:mm`, `±hhmm`,
/// `±hh` or none (UTC). A space may stand for `T` (a `+` decoded from a query becomes a space,
/// so a trailing ` hh:mm` is read as a positive offset). Returns unix seconds, fractions dropped.
pub fn parse_ts(input: &str) -> Option<i64> {
    let s = input.trim_end();
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo as u32) as i64 {
        return None;
    }
    let mut secs = days_from_civil(y, mo as u32, d as u32) * 86_400;
    let mut i = 10;
    if i == b.len() {
        return Some(secs);
    }
    if b[i] != b'T' && b[i] != b't' && b[i] != b' ' {
        return None;
    }
    i += 1;
    let h = num(i, 2)?;
    if b.get(i + 2) != Some(&b':') {
        return None;
    }
    let mi = num(i + 3, 2)?;
    i += 5;
    let mut sec = 0;
    if b.get(i) == Some(&b':') {
        sec = num(i + 1, 2)?;
        i += 3;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return None;
            }
        }
    }
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    secs += h * 3600 + mi * 60 + sec;
    let zone = &s[i..];
    let offset = match zone {
        "" | "Z" | "z" => 0,
        _ => {
            let (sign, rest) = match zone.as_bytes()[0] {
                b'+' | b' ' => (1, &zone[1..]),
                b'-' => (-1, &zone[1..]),
                _ => return None,
            };
            let rb = rest.as_bytes();
            let two = |k: usize| -> Option<i64> {
                let p = rb.get(k..k + 2)?;
                if p.iter().all(u8::is_ascii_digit) {
                    Some(((p[0] - b'0') * 10 + (p[1] - b'0')) as i64)
                } else {
                    None
                }
            };
            let (oh, om) = match rb.len() {
                2 => (two(0)?, 0),
                4 => (two(0)?, two(2)?),
                5 if rb[2] == b':' => (two(0)?, two(3)?),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    Some(secs - offset)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Escapes text for inclusion in the HTML bodies Freshdesk stores (`description`, `body`).
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Plain text of an HTML body, as Freshdesk derives `description_text` and `body_text`: block
/// tags become line breaks, inline tags vanish, entities are decoded, blank runs collapse.
pub fn html_to_text(html: &str) -> String {
    const BLOCKS: &[&str] = &[
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ol",
        "ul",
        "blockquote",
    ];
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let tag = rest[start + 1..start + end]
            .trim_start_matches('/')
            .split([' ', '/'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if BLOCKS.contains(&tag.as_str()) {
            out.push('\n');
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    let decoded = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    let lines: Vec<String> = decoded
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_the_written_form() {
        for secs in [0, 951_782_400, 1_700_000_000, 4_102_444_800] {
            assert_eq!(parse_ts(&format_ts(secs)), Some(secs));
        }
        assert_eq!(format_ts(951_782_400), "2000-02-29T00:00:00Z");
        for secs in [0, 951_782_400, 1_700_000_123, 4_102_444_799] {
            assert_eq!(
                std::str::from_utf8(&ts_bytes(secs)).unwrap(),
                format_ts(secs)
            );
        }
    }

    #[test]
    fn lenient_forms_that_real_clients_send_are_accepted() {
        let base = parse_ts("2024-01-03T10:20:30Z").unwrap();
        assert_eq!(parse_ts("2024-01-03T10:20:30.000000Z"), Some(base));
        assert_eq!(parse_ts("2024-01-03T10:20:30"), Some(base));
        assert_eq!(parse_ts("2024-01-03T12:20:30+02:00"), Some(base));
        assert_eq!(parse_ts("2024-01-03T12:20:30+0200"), Some(base));
        assert_eq!(parse_ts("2024-01-03T12:20:30+02"), Some(base));
        assert_eq!(parse_ts("2024-01-03T12:20:30 02:00"), Some(base));
        assert_eq!(parse_ts("2024-01-03T08:20:30-02:00"), Some(base));
        assert_eq!(parse_ts("2024-01-03T10:20"), Some(base - 30));
        assert_eq!(parse_ts("2024-01-03"), Some(base - 37_230));
    }

    #[test]
    fn malformed_timestamps_are_rejected() {
        for bad in [
            "",
            "yesterday",
            "2024-13-01",
            "2023-02-29",
            "2024-01-03T25:00:00Z",
            "2024-01-03T10",
            "2024-01-03T10:20:30+2",
            "2024-01-03X10:20:30",
            "2024-01-03T10:20:30.Z",
        ] {
            assert_eq!(parse_ts(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_numbers() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(Rng::new(8).next_u64(), xs[0]);
    }

    #[test]
    fn html_bodies_reduce_to_their_text() {
        assert_eq!(
            html_to_text("<div>Hi <b>there</b> &amp; bye</div>"),
            "Hi there & bye"
        );
        assert_eq!(
            html_to_text("<p>One</p><p>Two<br>Three</p>"),
            "One\nTwo\nThree"
        );
    }
}
