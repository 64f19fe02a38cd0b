//! `/discussions/…`: the community forums. Any agent reads them and opens or answers topics;
//! forum categories and forums are made, changed and removed by admins (Freshdesk's forum
//! moderation privilege, which only admins hold in the seeded roles). Bodies are checked as the
//! other writes are, and a refused write changes nothing.

use serde_json::{Map, Value, json};

use super::error::FieldError;
use super::tickets::{choice_int as choice, reference};
use super::writes::{flag, set, text, unknown};
use super::{ApiError, Reply, Req, Viewer, json_body, listed};
use crate::community::{
    COMMENT_ID_BASE, Comment, Community, FORUM_CATEGORY_ID_BASE, FORUM_ID_BASE, Forum,
    ForumCategory, TOPIC_ID_BASE, Topic, next_key,
};
use crate::model::HelpDesk;
use crate::util::{format_ts, html_to_text};

type Answer = Result<Reply, ApiError>;

pub fn category_view(c: &ForumCategory) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "description": c.description,
        "created_at": format_ts(c.created_at),
        "updated_at": format_ts(c.updated_at),
    })
}

pub fn forum_view(f: &Forum, community: &Community) -> Value {
    let topics: Vec<i64> = community.topics_of(f.id).map(|t| t.id).collect();
    let posts = community
        .comments
        .values()
        .filter(|c| topics.contains(&c.topic_id))
        .count();
    json!({
        "id": f.id,
        "name": f.name,
        "description": f.description,
        "forum_category_id": f.category_id,
        "forum_type": f.forum_type,
        "forum_visibility": f.visibility,
        "position": f.position,
        "topics_count": topics.len(),
        "posts_count": posts,
        "created_at": format_ts(f.created_at),
        "updated_at": format_ts(f.updated_at),
    })
}

pub fn topic_view(t: &Topic, community: &Community) -> Value {
    let last = community.comments_of(t.id).last();
    json!({
        "id": t.id,
        "title": t.title,
        "forum_id": t.forum_id,
        "user_id": t.user_id,
        "locked": t.locked,
        "sticky": t.sticky,
        "published": t.published,
        "stamp_type": Value::Null,
        "replied_by": last.map(|c| c.user_id),
        "replied_at": last.map(|c| format_ts(c.created_at)),
        "user_votes": 0,
        "merged_topic_id": Value::Null,
        "comments_count": community.comments_of(t.id).count(),
        "hits": t.hits,
        "created_at": format_ts(t.created_at),
        "updated_at": format_ts(t.updated_at),
    })
}

pub fn comment_view(c: &Comment, community: &Community) -> Value {
    json!({
        "id": c.id,
        "body": c.body_html,
        "body_text": c.body_text,
        "topic_id": c.topic_id,
        "forum_id": community.topics.get(&c.topic_id).map(|t| t.forum_id),
        "user_id": c.user_id,
        "answer": c.answer,
        "published": true,
        "spam": false,
        "trash": false,
        "created_at": format_ts(c.created_at),
        "updated_at": format_ts(c.updated_at),
    })
}

/// One record by id, rendered; 404 when there is none.
fn one<T>(found: Option<&T>, view: impl Fn(&T) -> Value) -> Answer {
    Ok(Reply::value(&view(found.ok_or(ApiError::NotFound)?)))
}

/// The records under a parent, paged; 404 when the parent does not exist.
fn under<'a, T: 'a>(
    req: &Req,
    parent_exists: bool,
    rows: impl Iterator<Item = &'a T>,
    view: impl Fn(&T) -> Value,
) -> Answer {
    if !parent_exists {
        return Err(ApiError::NotFound);
    }
    listed(req, rows, view)
}

/// `GET /discussions/categories/{id}`, `/forums/{id}` and `/topics/{id}` (comments are read in
/// their topic's list only).
pub fn show(desk: &HelpDesk, item: Item) -> Answer {
    let c = &desk.community;
    match item {
        Item::Category(id) => one(c.categories.get(&id), category_view),
        Item::Forum(id) => one(c.forums.get(&id), |f| forum_view(f, c)),
        Item::Topic(id) => one(c.topics.get(&id), |t| topic_view(t, c)),
        Item::Comment(_) => Err(ApiError::NotFound),
    }
}

/// What a list holds: the categories (`None`), a category's forums, a forum's topics (sticky
/// ones first, then the most recently active) or a topic's comments (oldest first).
pub fn list(desk: &HelpDesk, req: &Req, parent: Option<Item>) -> Answer {
    let c = &desk.community;
    match parent {
        None => listed(req, c.categories.values(), category_view),
        Some(Item::Category(id)) => {
            let rows = c.forums.values().filter(|f| f.category_id == id);
            under(req, c.categories.contains_key(&id), rows, |f| {
                forum_view(f, c)
            })
        }
        Some(Item::Forum(id)) => {
            let mut rows: Vec<&Topic> = c.topics_of(id).collect();
            rows.sort_by_key(|t| (!t.sticky, std::cmp::Reverse(t.updated_at), t.id));
            let found = c.forums.contains_key(&id);
            under(req, found, rows.into_iter(), |t| topic_view(t, c))
        }
        Some(Item::Topic(id)) => {
            let found = c.topics.contains_key(&id);
            under(req, found, c.comments_of(id), |x| comment_view(x, c))
        }
        Some(Item::Comment(_)) => Err(ApiError::NotFound),
    }
}

/// A required, non-blank string field (on create) or an optional one (on update).
fn required_text(
    body: &Map<String, Value>,
    key: &str,
    create: bool,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let value = text(body, key, errors);
    match &value {
        Some(s) if s.trim().is_empty() => errors.push(FieldError::missing(key)),
        None if create && !errors.iter().any(|e| e.field == key) => {
            errors.push(FieldError::missing(key))
        }
        _ => {}
    }
    value.filter(|s| !s.trim().is_empty())
}

fn done(errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// What a write answers: 201 with the new record and its `Location` (`/api/v2/discussions/<path>`)
/// when it made one, 200 with the record when it changed one.
fn written(created: bool, view: Value, req: &Req, path: String) -> Answer {
    if created {
        let location = format!("{}/api/v2/discussions/{path}", req.origin);
        Ok(Reply::created(&view, location))
    } else {
        Ok(Reply::value(&view))
    }
}

/// `POST /discussions/categories` and `PUT /discussions/categories/{id}` (admins).
pub fn write_category(desk: &mut HelpDesk, req: &Req, v: &Viewer, id: Option<i64>) -> Answer {
    v.require_admin()?;
    let c = &mut desk.community;
    if id.is_some_and(|i| !c.categories.contains_key(&i)) {
        return Err(ApiError::NotFound);
    }
    let body = json_body(req)?;
    let create = id.is_none();
    let mut errors = unknown(&body, &["name", "description"]);
    let name = required_text(&body, "name", create, &mut errors);
    if let Some(n) = &name
        && c.categories
            .values()
            .any(|x| Some(x.id) != id && x.name.eq_ignore_ascii_case(n.trim()))
    {
        errors.push(FieldError::new(
            "name",
            "It should be a unique value",
            "duplicate_value",
        ));
    }
    let description = text(&body, "description", &mut errors);
    done(errors)?;
    let now = req.now;
    let id = id.unwrap_or_else(|| next_key(&c.categories, FORUM_CATEGORY_ID_BASE));
    let entry = c.categories.entry(id).or_insert_with(|| ForumCategory {
        id,
        name: String::new(),
        description: None,
        created_at: now,
        updated_at: now,
    });
    set(&mut entry.name, name);
    if body.contains_key("description") {
        entry.description = description;
    }
    entry.updated_at = now;
    let view = category_view(entry);
    written(create, view, req, format!("categories/{id}"))
}

/// `POST /discussions/categories/{id}/forums` and `PUT /discussions/forums/{id}` (admins).
pub fn write_forum(
    desk: &mut HelpDesk,
    req: &Req,
    v: &Viewer,
    category: Option<i64>,
    id: Option<i64>,
) -> Answer {
    v.require_admin()?;
    let c = &mut desk.community;
    if category.is_some_and(|x| !c.categories.contains_key(&x))
        || id.is_some_and(|x| !c.forums.contains_key(&x))
    {
        return Err(ApiError::NotFound);
    }
    let body = json_body(req)?;
    let mut errors = unknown(
        &body,
        &[
            "name",
            "description",
            "forum_type",
            "forum_visibility",
            "forum_category_id",
        ],
    );
    let create = id.is_none();
    let name = required_text(&body, "name", create, &mut errors);
    let description = text(&body, "description", &mut errors);
    let forum_type = choice(&body, "forum_type", &[1, 2, 3, 4], &mut errors);
    if create && forum_type.is_none() && !body.contains_key("forum_type") {
        errors.push(FieldError::missing("forum_type"));
    }
    let visibility = choice(&body, "forum_visibility", &[1, 2, 3], &mut errors);
    if create && visibility.is_none() && !body.contains_key("forum_visibility") {
        errors.push(FieldError::missing("forum_visibility"));
    }
    // A move names an existing category; `null` is no move.
    let known = |i| c.categories.contains_key(&i);
    let moved_to = reference(
        &body,
        "forum_category_id",
        "forum category",
        known,
        &mut errors,
    );
    done(errors)?;
    let now = req.now;
    let id = id.unwrap_or_else(|| next_key(&c.forums, FORUM_ID_BASE));
    let position = c.forums.len() as i64 + 1;
    let f = c
        .forums
        .entry(id)
        .or_insert_with(|| Forum::new(id, category.unwrap_or_default(), position, now));
    set(&mut f.name, name);
    if body.contains_key("description") {
        f.description = description;
    }
    set(&mut f.forum_type, forum_type);
    set(&mut f.visibility, visibility);
    set(&mut f.category_id, moved_to.flatten());
    f.updated_at = now;
    let f = f.clone();
    let view = forum_view(&f, c);
    written(create, view, req, format!("forums/{id}"))
}

/// `POST /discussions/forums/{id}/topics` (`title` and the first `message`) and
/// `PUT /discussions/topics/{id}` (title, sticky, locked, or a move to another forum).
pub fn write_topic(
    desk: &mut HelpDesk,
    req: &Req,
    v: &Viewer,
    forum: Option<i64>,
    id: Option<i64>,
) -> Answer {
    let c = &mut desk.community;
    if forum.is_some_and(|x| !c.forums.contains_key(&x))
        || id.is_some_and(|x| !c.topics.contains_key(&x))
    {
        return Err(ApiError::NotFound);
    }
    let body = json_body(req)?;
    let create = id.is_none();
    let allowed: &[&str] = if create {
        &["title", "message", "sticky", "locked"]
    } else {
        &["title", "sticky", "locked", "forum_id"]
    };
    let mut errors = unknown(&body, allowed);
    let title = required_text(&body, "title", create, &mut errors);
    let message = if create {
        required_text(&body, "message", true, &mut errors)
    } else {
        None
    };
    let sticky = flag(&body, "sticky", &mut errors);
    let locked = flag(&body, "locked", &mut errors);
    let known = |i| c.forums.contains_key(&i);
    let moved_to = reference(&body, "forum_id", "forum", known, &mut errors);
    if !create && body.is_empty() {
        return Err(ApiError::missing_params());
    }
    done(errors)?;
    let now = req.now;
    let id = id.unwrap_or_else(|| next_key(&c.topics, TOPIC_ID_BASE));
    let t = c
        .topics
        .entry(id)
        .or_insert_with(|| Topic::new(id, forum.unwrap_or_default(), String::new(), v.id, now));
    set(&mut t.title, title);
    set(&mut t.sticky, sticky);
    set(&mut t.locked, locked);
    set(&mut t.forum_id, moved_to.flatten());
    t.updated_at = now;
    if let Some(m) = message {
        let cid = next_key(&c.comments, COMMENT_ID_BASE);
        c.comments.insert(cid, Comment::new(cid, id, v.id, m, now));
    }
    let view = topic_view(&c.topics[&id], c);
    written(create, view, req, format!("topics/{id}"))
}

/// `POST /discussions/topics/{id}/comments` (`body`; a locked topic takes no comment) and
/// `PUT /discussions/comments/{id}` (`body`, `answer`).
pub fn write_comment(
    desk: &mut HelpDesk,
    req: &Req,
    v: &Viewer,
    topic: Option<i64>,
    id: Option<i64>,
) -> Answer {
    let c = &mut desk.community;
    let topic_id = match (topic, id) {
        (Some(t), _) => t,
        (None, Some(i)) => c.comments.get(&i).ok_or(ApiError::NotFound)?.topic_id,
        (None, None) => return Err(ApiError::NotFound),
    };
    let t = c.topics.get(&topic_id).ok_or(ApiError::NotFound)?;
    let body = json_body(req)?;
    let create = id.is_none();
    let allowed: &[&str] = if create {
        &["body"]
    } else {
        &["body", "answer"]
    };
    let mut errors = unknown(&body, allowed);
    let html = required_text(&body, "body", create, &mut errors);
    let answer = flag(&body, "answer", &mut errors);
    if create && t.locked {
        errors.push(FieldError::invalid_value(
            "topic_id",
            "The topic is locked and takes no new comments",
        ));
    }
    if !create && body.is_empty() {
        return Err(ApiError::missing_params());
    }
    done(errors)?;
    let now = req.now;
    let id = match id {
        Some(i) => i,
        None => {
            let i = next_key(&c.comments, COMMENT_ID_BASE);
            let html = html.clone().unwrap_or_default();
            c.comments
                .insert(i, Comment::new(i, topic_id, v.id, html, now));
            i
        }
    };
    if let Some(x) = c.comments.get_mut(&id) {
        if let Some(h) = html {
            x.body_text = html_to_text(&h);
            x.body_html = h;
        }
        set(&mut x.answer, answer);
        x.updated_at = now;
    }
    if let Some(t) = c.topics.get_mut(&topic_id) {
        t.updated_at = now;
    }
    let view = comment_view(&c.comments[&id], c);
    written(create, view, req, format!("comments/{id}"))
}

/// One record of the forums, by kind and id.
#[derive(Clone, Copy, Debug)]
pub enum Item {
    Category(i64),
    Forum(i64),
    Topic(i64),
    Comment(i64),
}

/// Deletes a record and what it holds (a category its forums, a forum its topics, a topic its
/// comments). Categories and forums are admins' to delete; 204.
pub fn delete(desk: &mut HelpDesk, v: &Viewer, what: Item) -> Answer {
    let c = &mut desk.community;
    let gone = match what {
        Item::Category(id) => {
            v.require_admin()?;
            while let Some(f) = c
                .forums
                .values()
                .find(|f| f.category_id == id)
                .map(|f| f.id)
            {
                c.remove_forum(f);
            }
            c.categories.remove(&id).is_some()
        }
        Item::Forum(id) => {
            v.require_admin()?;
            c.remove_forum(id).is_some()
        }
        Item::Topic(id) => c.remove_topic(id).is_some(),
        Item::Comment(id) => c.comments.remove(&id).is_some(),
    };
    if gone {
        Ok(Reply::no_content())
    } else {
        Err(ApiError::NotFound)
    }
}
