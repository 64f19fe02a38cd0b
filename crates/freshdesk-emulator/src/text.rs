//! Word lists and sentence templates for the seeded help desk, written for this project. Each
//! ticket category has its own voice, so the subjects and bodies carry enough signal for a
//! classifier to learn the category from the text alone.

use crate::util::Rng;

pub const FIRST_NAMES: &[&str] = &[
    "Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farah", "Gabriel", "Hana", "Ivan", "Jasmine",
    "Kofi", "Lena", "Mateo", "Nadia", "Oscar", "Priya", "Quentin", "Rosa", "Samir", "Tessa",
    "Umar", "Valeria", "Wei", "Ximena", "Yusuf", "Zoe", "Aiko", "Bruno", "Carmen", "Diego",
    "Esther", "Felix", "Greta", "Hugo", "Imani", "Jonas", "Keiko", "Luis", "Mira", "Noah",
];

pub const LAST_NAMES: &[&str] = &[
    "Abbott",
    "Bauer",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Ueda",
    "Varga",
    "Walsh",
    "Xu",
    "Yilmaz",
    "Zimmermann",
    "Mensah",
    "Novak",
    "Silva",
    "Kaur",
];

pub const COMPANY_WORDS: &[&str] = &[
    "Northwind",
    "Bluebird",
    "Cedar",
    "Granite",
    "Harbor",
    "Juniper",
    "Lumen",
    "Maple",
    "Nimbus",
    "Orchid",
    "Pioneer",
    "Quartz",
    "Redwood",
    "Summit",
    "Tidal",
    "Vertex",
    "Willow",
    "Zephyr",
];

pub const COMPANY_SUFFIXES: &[&str] = &[
    "Labs",
    "Logistics",
    "Foods",
    "Retail",
    "Health",
    "Studios",
    "Systems",
    "Outfitters",
];

pub const INDUSTRIES: &[&str] = &[
    "Retail",
    "Healthcare",
    "Software",
    "Manufacturing",
    "Education",
    "Hospitality",
];

pub const TIME_ZONES: &[&str] = &[
    "Pacific Time (US & Canada)",
    "Eastern Time (US & Canada)",
    "London",
    "Berlin",
    "Chennai",
    "Tokyo",
    "Sydney",
];

pub const PRODUCTS: &[&str] = &[
    "Acme Router X2",
    "Acme Smart Plug",
    "Acme Cloud Backup",
    "Acme Desk Lamp",
    "Acme Pro subscription",
    "Acme Thermostat",
];

pub struct Category {
    pub name: &'static str,
    pub group: usize,
    pub ticket_type: &'static str,
    pub tags: &'static [&'static str],
    pub subjects: &'static [&'static str],
    pub openings: &'static [&'static str],
    pub details: &'static [&'static str],
    pub agent_replies: &'static [&'static str],
    pub customer_followups: &'static [&'static str],
}

/// `{p}` product, `{o}` order number, `{a}` amount, `{d}` a day, `{n}` a small number.
pub const CATEGORIES: &[Category] = &[
    Category {
        name: "Billing",
        group: 0,
        ticket_type: "Question",
        tags: &["billing", "invoice", "payment"],
        subjects: &[
            "Charged twice for my {p}",
            "Invoice {o} shows the wrong amount",
            "Why was my card billed ${a} on {d}?",
            "Need a copy of last month's invoice",
            "Payment failed but money left my account",
            "How do I change the card on file?",
            "VAT number missing from invoice {o}",
        ],
        openings: &[
            "I was looking at my bank statement and noticed a charge of ${a} from you on {d}.",
            "Our finance team flagged invoice {o} because the total does not match the quote.",
            "My credit card was billed twice this month for the {p}.",
            "I tried to pay the renewal but the payment page returned an error.",
        ],
        details: &[
            "I only have one subscription, so the second charge must be a mistake.",
            "Please send a corrected invoice with our VAT number on it.",
            "Can you tell me what the extra line item for ${a} is for?",
            "We need this resolved before our month-end close on {d}.",
            "I would like the duplicate payment refunded to the same card.",
        ],
        agent_replies: &[
            "Thanks for flagging this. I can see two charges of ${a} and have reversed the duplicate; it takes 3 to 5 business days to appear.",
            "I have re-issued invoice {o} with your VAT number. You will find it under Billing > Invoices.",
            "The extra line is the prorated upgrade from {d}. I have attached a breakdown.",
        ],
        customer_followups: &[
            "Thank you, I can see the corrected invoice now.",
            "The refund has not shown up yet, can you check again?",
            "Could you also send the invoice for the previous quarter?",
        ],
    },
    Category {
        name: "Technical Issue",
        group: 1,
        ticket_type: "Incident",
        tags: &["bug", "outage", "firmware"],
        subjects: &[
            "{p} keeps disconnecting from Wi-Fi",
            "Error 0x{n}F when syncing",
            "App crashes on startup after the latest update",
            "{p} firmware update stuck at {n}%",
            "Cannot pair {p} with my phone",
            "Dashboard shows no data since {d}",
            "Slow performance after upgrading to the new version",
        ],
        openings: &[
            "Since the update on {d} my {p} drops off the network every few minutes.",
            "Every time I open the app it closes immediately with no message.",
            "The firmware update for my {p} has been stuck for over an hour.",
            "I am getting error code 0x{n}F whenever the sync starts.",
        ],
        details: &[
            "I have already restarted the device and reinstalled the app.",
            "This happens on both my Android phone and my laptop.",
            "The status light blinks orange {n} times and then goes dark.",
            "Logs are attached. It started right after the version change.",
            "Other devices on the same network work fine.",
        ],
        agent_replies: &[
            "Sorry about the trouble. Could you hold the reset button for 10 seconds and then re-run the setup wizard?",
            "Thanks for the logs. This matches a known issue in firmware {n}.2; a fix ships this week.",
            "Please try clearing the app cache under Settings > Storage and let me know if the crash persists.",
        ],
        customer_followups: &[
            "The reset worked for a day but the problem is back.",
            "Clearing the cache fixed it, thanks!",
            "I updated the firmware and it is still dropping the connection.",
        ],
    },
    Category {
        name: "Shipping",
        group: 2,
        ticket_type: "Question",
        tags: &["shipping", "delivery", "tracking"],
        subjects: &[
            "Where is my order {o}?",
            "Tracking number not working for order {o}",
            "Package marked delivered but never arrived",
            "Can I change the delivery address for {o}?",
            "Order {o} arrived damaged",
            "Shipping to Canada: how long does it take?",
        ],
        openings: &[
            "I ordered a {p} on {d} and it still has not arrived.",
            "The tracking link for order {o} says the number does not exist.",
            "The courier marked my parcel as delivered but there was nothing at the door.",
            "My {p} arrived today with a cracked box and a dent in the casing.",
        ],
        details: &[
            "I need it before the weekend if at all possible.",
            "I checked with my neighbours and the building reception.",
            "Can you resend it to my office address instead?",
            "Photos of the damaged box are attached.",
        ],
        agent_replies: &[
            "I checked with the carrier: order {o} is at the local depot and will be delivered within {n} days.",
            "I am sorry it arrived damaged. A replacement {p} ships today, and you do not need to return the broken one.",
            "I have updated the delivery address on order {o}; the new tracking link is in your email.",
        ],
        customer_followups: &[
            "It arrived this morning, thank you.",
            "The tracking still shows no movement.",
            "Great, I received the replacement.",
        ],
    },
    Category {
        name: "Account Access",
        group: 3,
        ticket_type: "Problem",
        tags: &["login", "password", "2fa"],
        subjects: &[
            "Locked out of my account",
            "Password reset email never arrives",
            "Lost my phone, cannot pass two-factor",
            "How do I add a colleague to our account?",
            "Change the email address on my account",
            "Account shows as suspended",
        ],
        openings: &[
            "I tried to log in this morning and the site says my account is locked.",
            "I requested a password reset {n} times and no email ever came.",
            "My phone was stolen and I cannot get the two-factor code anymore.",
            "We hired someone new and I want to give them access to our workspace.",
        ],
        details: &[
            "I have checked the spam folder as well.",
            "I can verify my identity with the last four digits of the card on file.",
            "Please keep my order history when you change the address.",
            "This is blocking my whole team from working.",
        ],
        agent_replies: &[
            "I have unlocked your account. For security, please reset your password within the next hour.",
            "I have disabled two-factor on your account after verifying your identity. Please enable it again once you are in.",
            "You can invite teammates under Settings > Team > Invite. Each invite link is valid for 7 days.",
        ],
        customer_followups: &[
            "I am back in, thank you so much.",
            "The reset link says it has expired.",
            "Where exactly is the invite button?",
        ],
    },
    Category {
        name: "Refund Request",
        group: 0,
        ticket_type: "Refund",
        tags: &["refund", "return", "cancellation"],
        subjects: &[
            "Requesting a refund for order {o}",
            "Cancel my subscription and refund this month",
            "Return label for my {p}",
            "Refund not received after {n} weeks",
            "I want to return an unopened {p}",
        ],
        openings: &[
            "I would like to return the {p} I bought on {d}; it does not fit my needs.",
            "Please cancel my subscription and refund the ${a} charged this month.",
            "I sent the return back {n} weeks ago and have not seen the refund.",
        ],
        details: &[
            "The item is unused and still in its original packaging.",
            "I was told refunds take 5 days and it has been much longer.",
            "Please refund to the original payment method.",
        ],
        agent_replies: &[
            "Your refund of ${a} has been approved and sent to your original payment method.",
            "I have emailed you a prepaid return label for the {p}. Once it is scanned, we will issue the refund.",
            "Your subscription is cancelled effective today, and this month's charge has been refunded.",
        ],
        customer_followups: &[
            "Received the refund, thanks.",
            "The return label will not print, can you send it as a PDF?",
        ],
    },
    Category {
        name: "Feature Request",
        group: 4,
        ticket_type: "Feature Request",
        tags: &["feature-request", "feedback"],
        subjects: &[
            "Please add dark mode to the app",
            "Feature idea: export reports to CSV",
            "Would love an API for {p}",
            "Support for multiple schedules on {p}",
            "Suggestion: bulk edit in the dashboard",
        ],
        openings: &[
            "I use the app every evening and the bright screen is hard on the eyes.",
            "Our team exports data every week and copying it by hand takes ages.",
            "It would be great if the {p} could follow a different schedule on weekends.",
        ],
        details: &[
            "Several people on my team have asked for this too.",
            "We would happily beta test it.",
            "A competitor already offers this, so it would help us stay with you.",
        ],
        agent_replies: &[
            "Thank you for the suggestion! I have shared it with our product team and added your vote.",
            "Good news: CSV export is on the roadmap for next quarter. I will let you know when it ships.",
        ],
        customer_followups: &["Thanks for passing it on.", "Any update on the timeline?"],
    },
    Category {
        name: "Product Question",
        group: 1,
        ticket_type: "Question",
        tags: &["how-to", "setup"],
        subjects: &[
            "How do I set up the {p}?",
            "Is the {p} compatible with Alexa?",
            "What is the warranty on the {p}?",
            "Difference between the basic and pro plan",
            "Can the {p} run on battery?",
        ],
        openings: &[
            "I just unboxed the {p} and the quick start guide is not very clear.",
            "Before buying, I want to know whether the {p} works with my smart speaker.",
            "I am deciding between the basic and the pro plan for a team of {n}.",
        ],
        details: &[
            "A link to a step-by-step guide would be perfect.",
            "I could not find this in the FAQ.",
            "Thanks in advance for your help.",
        ],
        agent_replies: &[
            "Great question! The {p} works with Alexa and Google Home; the setup guide is linked below.",
            "The {p} comes with a two-year warranty covering manufacturing defects.",
            "For a team of {n}, the pro plan is better value: it includes shared dashboards and priority support.",
        ],
        customer_followups: &[
            "That answers it, thank you.",
            "Does the warranty cover water damage?",
        ],
    },
];

/// Weights of the categories in generated traffic.
pub const CATEGORY_WEIGHTS: &[u32] = &[22, 26, 18, 12, 9, 5, 8];

pub const DAY_NAMES: &[&str] = &[
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "the 3rd",
    "the 15th",
];

/// Fills `{p}`, `{o}`, `{a}`, `{d}` and `{n}` slots.
pub fn fill(template: &str, rng: &mut Rng) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = match rest[start..].find('}') {
            Some(e) => start + e,
            None => break,
        };
        match &rest[start + 1..end] {
            "p" => out.push_str(rng.pick(PRODUCTS)),
            "o" => {
                use std::fmt::Write;
                let _ = write!(out, "#{}", 100_000 + rng.below(900_000));
            }
            "a" => {
                use std::fmt::Write;
                let _ = write!(out, "{}.{:02}", 5 + rng.below(495), rng.below(100));
            }
            "d" => out.push_str(rng.pick(DAY_NAMES)),
            "n" => {
                use std::fmt::Write;
                let _ = write!(out, "{}", 2 + rng.below(9));
            }
            other => {
                out.push('{');
                out.push_str(other);
                out.push('}');
            }
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

pub struct ArticleSeed {
    pub category: &'static str,
    pub folder: &'static str,
    pub titles: &'static [&'static str],
}

pub const KNOWLEDGE_BASE: &[ArticleSeed] = &[
    ArticleSeed {
        category: "Getting Started",
        folder: "Setup guides",
        titles: &[
            "Setting up your Acme Router X2",
            "Connecting the Acme Smart Plug to Wi-Fi",
            "Pairing devices with the Acme app",
            "Installing Acme Cloud Backup on Windows",
            "Installing Acme Cloud Backup on macOS",
        ],
    },
    ArticleSeed {
        category: "Getting Started",
        folder: "Your account",
        titles: &[
            "Resetting your password",
            "Turning on two-factor authentication",
            "Inviting teammates to your workspace",
            "Changing the email address on your account",
        ],
    },
    ArticleSeed {
        category: "Billing & Plans",
        folder: "Invoices and payments",
        titles: &[
            "Where to find your invoices",
            "Adding a VAT number to invoices",
            "Updating the card on file",
            "Why you may see two charges",
            "Understanding prorated upgrades",
        ],
    },
    ArticleSeed {
        category: "Billing & Plans",
        folder: "Refunds and cancellations",
        titles: &[
            "Our refund policy",
            "Cancelling your subscription",
            "Printing a return label",
            "How long refunds take",
        ],
    },
    ArticleSeed {
        category: "Troubleshooting",
        folder: "Connectivity",
        titles: &[
            "Device keeps disconnecting from Wi-Fi",
            "What the status light colours mean",
            "Fixing pairing failures",
            "Resetting a device to factory settings",
        ],
    },
    ArticleSeed {
        category: "Troubleshooting",
        folder: "App problems",
        titles: &[
            "The app crashes on startup",
            "Sync error codes explained",
            "Clearing the app cache",
            "Dashboard shows no data",
        ],
    },
    ArticleSeed {
        category: "Shipping",
        folder: "Orders and delivery",
        titles: &[
            "Tracking your order",
            "Changing a delivery address",
            "What to do if a parcel is marked delivered but missing",
            "Reporting a damaged delivery",
            "International shipping times",
        ],
    },
    ArticleSeed {
        category: "Shipping",
        folder: "Internal: carrier escalations",
        titles: &[
            "Escalating a lost parcel with the carrier",
            "Carrier contact list",
        ],
    },
];
