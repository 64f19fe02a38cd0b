//! The community forums Freshdesk calls Discussions: forum categories, forums, topics and
//! comments, as the account holds them, and the small forum every seeded help desk starts with.
//! The seed draws no random numbers, so adding it left every other seeded record as it was.

use std::collections::BTreeMap;

use crate::model::Ts;

pub const FORUM_CATEGORY_ID_BASE: i64 = 43_000_930_000;
pub const FORUM_ID_BASE: i64 = 43_000_940_000;
pub const TOPIC_ID_BASE: i64 = 43_000_950_000;
pub const COMMENT_ID_BASE: i64 = 43_000_960_000;

/// A forum category holds what a knowledge-base category holds: a name and a description.
pub use crate::model::SolutionCategory as ForumCategory;

#[derive(Clone, Debug)]
pub struct Forum {
    pub id: i64,
    pub category_id: i64,
    pub name: String,
    pub description: Option<String>,
    /// 1 How-tos, 2 Ideas, 3 Problems, 4 Announcements.
    pub forum_type: i64,
    /// 1 everyone, 2 logged-in users, 3 agents only, 4 selected companies.
    pub visibility: i64,
    pub position: i64,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Clone, Debug)]
pub struct Topic {
    pub id: i64,
    pub forum_id: i64,
    pub title: String,
    pub user_id: i64,
    pub locked: bool,
    pub sticky: bool,
    pub published: bool,
    pub hits: i64,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Clone, Debug)]
pub struct Comment {
    pub id: i64,
    pub topic_id: i64,
    pub user_id: i64,
    pub body_html: String,
    pub body_text: String,
    /// Marked as the answer to a question.
    pub answer: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl Forum {
    /// A new forum: a how-to forum everyone sees, until told otherwise.
    pub fn new(id: i64, category_id: i64, position: i64, now: Ts) -> Forum {
        Forum {
            id,
            category_id,
            name: String::new(),
            description: None,
            forum_type: 1,
            visibility: 1,
            position,
            created_at: now,
            updated_at: now,
        }
    }
}

impl Topic {
    /// A new topic, open and published, opened by `user_id`.
    pub fn new(id: i64, forum_id: i64, title: String, user_id: i64, now: Ts) -> Topic {
        Topic {
            id,
            forum_id,
            title,
            user_id,
            locked: false,
            sticky: false,
            published: true,
            hits: 0,
            created_at: now,
            updated_at: now,
        }
    }
}

impl Comment {
    /// A new comment with its HTML body (the text is derived from it).
    pub fn new(id: i64, topic_id: i64, user_id: i64, html: String, now: Ts) -> Comment {
        Comment {
            id,
            topic_id,
            user_id,
            body_text: crate::util::html_to_text(&html),
            body_html: html,
            answer: false,
            created_at: now,
            updated_at: now,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Community {
    pub categories: BTreeMap<i64, ForumCategory>,
    pub forums: BTreeMap<i64, Forum>,
    pub topics: BTreeMap<i64, Topic>,
    pub comments: BTreeMap<i64, Comment>,
}

impl Community {
    pub fn comments_of(&self, topic: i64) -> impl Iterator<Item = &Comment> {
        self.comments.values().filter(move |c| c.topic_id == topic)
    }

    pub fn topics_of(&self, forum: i64) -> impl Iterator<Item = &Topic> {
        self.topics.values().filter(move |t| t.forum_id == forum)
    }

    /// Removes a topic and its comments.
    pub fn remove_topic(&mut self, id: i64) -> Option<Topic> {
        let t = self.topics.remove(&id)?;
        self.comments.retain(|_, c| c.topic_id != id);
        Some(t)
    }

    /// Removes a forum with its topics.
    pub fn remove_forum(&mut self, id: i64) -> Option<Forum> {
        let f = self.forums.remove(&id)?;
        let topics: Vec<i64> = self.topics_of(id).map(|t| t.id).collect();
        for t in topics {
            self.remove_topic(t);
        }
        Some(f)
    }
}

/// The id a new record of a map gets: one past the highest, or the first of its range.
pub fn next_key<V>(map: &BTreeMap<i64, V>, base: i64) -> i64 {
    map.keys().next_back().map_or(base + 1, |k| k + 1)
}

/// One seeded topic: the forum it is in (index into `FORUMS`), its title, and the thread, the
/// first message by a customer and the replies alternating between an agent and the customer.
const TOPICS: &[(usize, &str, &[&str])] = &[
    (
        0,
        "How do I change the email address on my account?",
        &[
            "I moved to a new provider and want my receipts to go to the new address.",
            "Open Settings, then Profile, and edit the email there. You will get a confirmation link.",
            "Found it, thanks!",
        ],
    ),
    (
        0,
        "Can I export my order history?",
        &[
            "I need a list of last year's orders for my accountant.",
            "Yes: Orders, then the download icon at the top right gives you a CSV.",
        ],
    ),
    (
        1,
        "Dark mode for the mobile app",
        &[
            "Would love a dark theme, the app is very bright at night.",
            "Thanks for the idea, we have passed it on to the product team.",
        ],
    ),
    (
        2,
        "Checkout page keeps spinning",
        &[
            "Since this morning the checkout page never finishes loading on Firefox.",
            "Could you try a private window and tell us whether it happens there too?",
            "It works in a private window.",
            "Then an extension is the likely cause; disabling ad blockers for our site should fix it.",
        ],
    ),
    (
        3,
        "Scheduled maintenance on Sunday",
        &[
            "The shop will be read-only on Sunday between 02:00 and 03:00 UTC while we upgrade our servers.",
        ],
    ),
];

/// `(category index, name, description, forum type, visibility)`.
const FORUMS: &[(usize, &str, &str, i64, i64)] = &[
    (0, "Getting started", "Questions about using the shop", 1, 1),
    (0, "Ideas", "Tell us what to build next", 2, 1),
    (1, "Problems", "Something not working? Tell us here", 3, 1),
    (1, "Announcements", "News from the Acme team", 4, 1),
];

const CATEGORIES: &[(&str, &str)] = &[
    ("General", "Everything about our shop and app"),
    ("Support", "Problems and announcements"),
];

/// The forum every seeded help desk starts with. `agent` answers and announces; the customers
/// take turns opening topics.
pub fn seed(at: Ts, anchor: Ts, agent: i64, customers: &[i64]) -> Community {
    let mut c = Community::default();
    for (i, (name, description)) in CATEGORIES.iter().enumerate() {
        let id = FORUM_CATEGORY_ID_BASE + 1 + i as i64;
        c.categories.insert(
            id,
            ForumCategory {
                id,
                name: (*name).into(),
                description: Some((*description).into()),
                created_at: at,
                updated_at: at,
            },
        );
    }
    for (i, (cat, name, description, forum_type, visibility)) in FORUMS.iter().enumerate() {
        let id = FORUM_ID_BASE + 1 + i as i64;
        let category = FORUM_CATEGORY_ID_BASE + 1 + *cat as i64;
        let forum = Forum {
            name: (*name).into(),
            description: Some((*description).into()),
            forum_type: *forum_type,
            visibility: *visibility,
            ..Forum::new(id, category, i as i64 + 1, at)
        };
        c.forums.insert(id, forum);
    }
    let day = 86_400;
    for (i, (forum, title, thread)) in TOPICS.iter().enumerate() {
        let id = TOPIC_ID_BASE + 1 + i as i64;
        let announcement = FORUMS[*forum].3 == 4;
        let customer = customers
            .get(i % customers.len().max(1))
            .copied()
            .unwrap_or(agent);
        let opened = (anchor - (40 - 7 * i as i64) * day).max(at);
        let mut last = opened;
        for (k, message) in thread.iter().enumerate() {
            let comment_id = COMMENT_ID_BASE + 1 + c.comments.len() as i64;
            let by = if announcement || k % 2 == 1 {
                agent
            } else {
                customer
            };
            last = opened + k as i64 * 3 * 3600;
            let html = format!("<p>{}</p>", crate::util::html_escape(message));
            let comment = Comment {
                answer: FORUMS[*forum].3 == 1 && k == 1,
                ..Comment::new(comment_id, id, by, html, last)
            };
            c.comments.insert(comment_id, comment);
        }
        let forum_id = FORUM_ID_BASE + 1 + *forum as i64;
        let by = if announcement { agent } else { customer };
        let topic = Topic {
            locked: announcement,
            sticky: announcement,
            hits: 40 + 13 * i as i64,
            updated_at: last,
            ..Topic::new(id, forum_id, (*title).into(), by, opened)
        };
        c.topics.insert(id, topic);
    }
    c
}
