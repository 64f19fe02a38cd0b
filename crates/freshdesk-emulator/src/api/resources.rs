//! The smaller resources: ticket fields, business hours, SLA policies, satisfaction ratings, time
//! entries and the knowledge base (solution categories, folders and articles), each with its own
//! paging rule and plan gate.

use super::error::{ApiError, FieldError};
use super::query::{date_param, paging_into, positive_id};
use super::{Reply, Req, Viewer, listed, page_reply, take_page};
use crate::model::{Feature, HelpDesk, Trash};
use crate::render;

pub(super) fn require(desk: &HelpDesk, f: Feature) -> Result<(), ApiError> {
    if desk.account.feature_enabled(f) {
        Ok(())
    } else {
        Err(ApiError::require_feature(f.title()))
    }
}

/// Unpaginated: `page` and `per_page` are accepted and ignored.
pub fn ticket_fields(desk: &HelpDesk, req: &Req) -> Result<Reply, ApiError> {
    let want = req.query.get("type");
    let list: Vec<serde_json::Value> = desk
        .ticket_fields
        .iter()
        .filter(|f| want.is_none_or(|t| f.field_type == t))
        .map(render::ticket_field)
        .collect();
    Ok(Reply::value(&serde_json::Value::Array(list)))
}

/// Paginated only when `page` is given.
pub fn business_hours(desk: &HelpDesk, req: &Req) -> Result<Reply, ApiError> {
    if req.query.get("page").is_some() {
        return listed(req, desk.business_hours.iter(), render::business_hour);
    }
    Ok(Reply::value(&serde_json::Value::Array(
        desk.business_hours
            .iter()
            .map(render::business_hour)
            .collect(),
    )))
}

pub fn business_hour(desk: &HelpDesk, id: i64) -> Result<Reply, ApiError> {
    Ok(Reply::value(&render::business_hour(
        desk.business_hours
            .iter()
            .find(|b| b.id == id)
            .ok_or(ApiError::NotFound)?,
    )))
}

pub fn sla_policies(desk: &HelpDesk, req: &Req, v: &Viewer) -> Result<Reply, ApiError> {
    v.require_admin()?;
    listed(req, desk.sla_policies.iter(), render::sla_policy)
}

pub fn satisfaction_ratings(desk: &HelpDesk, req: &Req) -> Result<Reply, ApiError> {
    require(desk, Feature::Surveys)?;
    let q = &req.query;
    let mut errors = Vec::new();
    let since = date_param(q, "created_since", &mut errors);
    let user = positive_id(q, "user_id", &mut errors);
    let (page, per_page) = paging_into(q, 30, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let rows = take_page(
        desk.satisfaction_ratings.values().filter(|r| {
            since.is_none_or(|s| r.created_at >= s) && user.is_none_or(|u| r.user_id == u)
        }),
        page,
        per_page,
    );
    Ok(page_reply(req, page, per_page, rows, |r| {
        render::satisfaction_rating(r)
    }))
}

pub fn ticket_satisfaction(
    desk: &HelpDesk,
    req: &Req,
    v: &Viewer,
    id: i64,
) -> Result<Reply, ApiError> {
    require(desk, Feature::Surveys)?;
    let t = desk.tickets.get(&id).ok_or(ApiError::NotFound)?;
    if t.trash == Trash::Purging || !v.can_see(t) {
        return Err(ApiError::access_denied());
    }
    listed(
        req,
        desk.satisfaction_ratings
            .values()
            .filter(|r| r.ticket_id == id),
        render::satisfaction_rating,
    )
}

pub fn time_entries(desk: &HelpDesk, req: &Req) -> Result<Reply, ApiError> {
    require(desk, Feature::Timesheets)?;
    let q = &req.query;
    let mut errors = Vec::new();
    let company = positive_id(q, "company_id", &mut errors);
    let agent = positive_id(q, "agent_id", &mut errors);
    let after = date_param(q, "executed_after", &mut errors);
    let before = date_param(q, "executed_before", &mut errors);
    let billable = match q.get("billable") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            errors.push(FieldError::invalid_value(
                "billable",
                "It should be one of these values: 'true,false'",
            ));
            None
        }
    };
    let (page, per_page) = paging_into(q, 30, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let rows = take_page(
        desk.time_entries.values().filter(|e| {
            company.is_none_or(|c| e.company_id == Some(c))
                && agent.is_none_or(|a| e.agent_id == a)
                && after.is_none_or(|x| e.executed_at >= x)
                && before.is_none_or(|x| e.executed_at <= x)
                && billable.is_none_or(|b| e.billable == b)
        }),
        page,
        per_page,
    );
    Ok(page_reply(req, page, per_page, rows, |e| {
        render::time_entry(e)
    }))
}

/// Time entries of spam and trashed tickets answer 404, as tap-freshdesk found.
pub fn ticket_time_entries(
    desk: &HelpDesk,
    req: &Req,
    v: &Viewer,
    id: i64,
) -> Result<Reply, ApiError> {
    require(desk, Feature::Timesheets)?;
    let t = desk.tickets.get(&id).ok_or(ApiError::NotFound)?;
    if t.trash == Trash::Purging || !v.can_see(t) {
        return Err(ApiError::access_denied());
    }
    if t.spam || t.trash != Trash::Live {
        return Err(ApiError::NotFound);
    }
    listed(
        req,
        desk.time_entries.values().filter(|e| e.ticket_id == id),
        render::time_entry,
    )
}

pub fn solution_categories(desk: &HelpDesk, req: &Req) -> Result<Reply, ApiError> {
    listed(
        req,
        desk.solution_categories.values(),
        render::solution_category,
    )
}

pub fn solution_category(desk: &HelpDesk, id: i64) -> Result<Reply, ApiError> {
    Ok(Reply::value(&render::solution_category(
        desk.solution_categories
            .get(&id)
            .ok_or(ApiError::NotFound)?,
    )))
}

/// The folders at the top of a category (those inside another folder are its subfolders).
pub fn solution_folders(desk: &HelpDesk, req: &Req, category: i64) -> Result<Reply, ApiError> {
    if !desk.solution_categories.contains_key(&category) {
        return Err(ApiError::NotFound);
    }
    listed(
        req,
        desk.solution_folders
            .values()
            .filter(|f| f.category_id == category && f.parent_folder_id.is_none()),
        |f| render::solution_folder(f, desk),
    )
}

pub fn solution_subfolders(desk: &HelpDesk, req: &Req, folder: i64) -> Result<Reply, ApiError> {
    if !desk.solution_folders.contains_key(&folder) {
        return Err(ApiError::NotFound);
    }
    listed(
        req,
        desk.solution_folders
            .values()
            .filter(|f| f.parent_folder_id == Some(folder)),
        |f| render::solution_folder(f, desk),
    )
}

pub fn solution_folder(desk: &HelpDesk, id: i64) -> Result<Reply, ApiError> {
    Ok(Reply::value(&render::solution_folder(
        desk.solution_folders.get(&id).ok_or(ApiError::NotFound)?,
        desk,
    )))
}

pub fn solution_articles(desk: &HelpDesk, req: &Req, folder: i64) -> Result<Reply, ApiError> {
    if !desk.solution_folders.contains_key(&folder) {
        return Err(ApiError::NotFound);
    }
    listed(
        req,
        desk.solution_articles
            .values()
            .filter(|a| a.folder_id == folder),
        |a| render::solution_article(a, desk),
    )
}

pub fn solution_article(desk: &HelpDesk, id: i64) -> Result<Reply, ApiError> {
    Ok(Reply::value(&render::solution_article(
        desk.solution_articles.get(&id).ok_or(ApiError::NotFound)?,
        desk,
    )))
}
