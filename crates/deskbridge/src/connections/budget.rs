//! The rate budget of each Freshdesk account, shared through the database by every deskbridge
//! process that works for it (several workers, or the server and a `deskbridge sync` beside it):
//! the governor of each process reserves credits here in batches and spends only what it was
//! granted, so two processes together keep to the share one alone would use.
//! Owns `rate_budgets`. A reservation is a compare-and-set on the window's row, retried when
//! another process moved it first.

use freshdesk::governor::{Ask, BudgetError};
use futures_util::future::BoxFuture;

use crate::store::Store;

/// The shared budget, backed by this store.
pub struct DbBudget {
    store: Store,
}

impl DbBudget {
    pub fn new(store: Store) -> DbBudget {
        DbBudget { store }
    }

    async fn reserve_now(&self, ask: &Ask) -> Result<u32, sqlx::Error> {
        let (account, window) = (ask.account.as_str(), ask.stretch);
        let (want, budget) = (ask.want, ask.budget);
        // A newer window starts from nothing; an older one (a slow clock) is left alone.
        sqlx::query(
            "INSERT INTO rate_budgets (account, window_no, spent) VALUES ($1, $2, 0) \
             ON CONFLICT (account) DO UPDATE SET window_no = excluded.window_no, spent = 0 \
             WHERE rate_budgets.window_no < excluded.window_no",
        )
        .bind(account)
        .bind(window)
        .execute(&self.store.pool)
        .await?;
        loop {
            let row: Option<(i64, i64)> =
                sqlx::query_as("SELECT window_no, spent FROM rate_budgets WHERE account = $1")
                    .bind(account)
                    .fetch_optional(&self.store.pool)
                    .await?;
            let Some((at, spent)) = row else {
                return Ok(0);
            };
            if at != window {
                // Another process's clock is a window ahead: this one's is over.
                return Ok(0);
            }
            let grant = (budget as i64 - spent).clamp(0, want as i64);
            if grant == 0 {
                return Ok(0);
            }
            let moved = sqlx::query(
                "UPDATE rate_budgets SET spent = $1 WHERE account = $2 AND window_no = $3 AND spent = $4",
            )
            .bind(spent + grant)
            .bind(account)
            .bind(window)
            .bind(spent)
            .execute(&self.store.pool)
            .await?;
            if moved.rows_affected() == 1 {
                return Ok(grant as u32);
            }
        }
    }
}

impl freshdesk::governor::SharedBudget for DbBudget {
    fn reserve(&self, ask: Ask) -> BoxFuture<'_, Result<u32, BudgetError>> {
        Box::pin(async move {
            self.reserve_now(&ask).await.map_err(|e| {
                tracing::warn!(error = %e, "could not reserve from the shared rate budget");
                BudgetError(Box::new(e))
            })
        })
    }
}
