CREATE TABLE support_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id BIGINT NOT NULL REFERENCES organisations(id),
    user_email TEXT NOT NULL,
    subject TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX support_requests_org ON support_requests(org_id, created_at);

CREATE TABLE article_feedback (
    user_id BIGINT NOT NULL REFERENCES users(id),
    article TEXT NOT NULL,
    helpful BIGINT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (user_id, article)
);
