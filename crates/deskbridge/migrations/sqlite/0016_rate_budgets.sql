-- Each Freshdesk account's rate budget, shared by every deskbridge process working for it: the
-- credits reserved in the current window (unix time divided by the window's length). A process
-- reserves a batch before spending it, so that together they stay inside the account's share.
CREATE TABLE rate_budgets (
    account TEXT PRIMARY KEY,
    window_no BIGINT NOT NULL,
    spent BIGINT NOT NULL
);
