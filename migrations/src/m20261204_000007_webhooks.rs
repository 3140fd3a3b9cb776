//! Outgoing webhooks: endpoints (`webhooks`, an account's, or the one from the
//! config with no owner), the events they are sent (`webhook_events`, written
//! in the transaction of the change they tell of, with a payload that never
//! changes), and one delivery per event and endpoint (`webhook_deliveries`),
//! retried on a schedule until it succeeds or fails for good. A broadcast
//! remembers when it was seen complete (`broadcast.completed` goes out once).
//! Times are epoch milliseconds.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Webhooks::Table)
                    .if_not_exists()
                    .col(big_integer(Webhooks::Id).primary_key().auto_increment())
                    // NULL: the endpoint of `[webhook] url`, which hears every account.
                    .col(big_integer_null(Webhooks::UserId))
                    .col(string_len(Webhooks::Url, 2048))
                    // JSON lists; NULL: every event (but `session.qr`), every session.
                    .col(text_null(Webhooks::Events))
                    .col(text_null(Webhooks::Sessions))
                    .col(boolean(Webhooks::Enabled).default(true))
                    .col(string_len(Webhooks::Description, 255).default(""))
                    // `whsec_...`: kept as is, since every delivery is signed with it.
                    .col(string_len(Webhooks::Secret, 128))
                    // The secret before the last rotation, still signing until `previous_until`.
                    .col(string_len_null(Webhooks::PreviousSecret, 128))
                    .col(big_integer_null(Webhooks::PreviousUntil))
                    // Why it was disabled by the gateway (410, failing too long).
                    .col(string_len_null(Webhooks::DisabledReason, 255))
                    // Since when every delivery has failed; NULL after a success.
                    .col(big_integer_null(Webhooks::FailingSince))
                    .col(big_integer(Webhooks::CreatedAt))
                    .col(big_integer(Webhooks::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhooks_user")
                            .from(Webhooks::Table, Webhooks::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookEvents::Table)
                    .if_not_exists()
                    // Chosen by the gateway, increasing: also the event's sequence number.
                    .col(big_integer(WebhookEvents::Id).primary_key())
                    .col(big_integer(WebhookEvents::UserId))
                    // The session's key, when the event is about one.
                    .col(string_len_null(WebhookEvents::SessionId, 80))
                    .col(string_len(WebhookEvents::Kind, 32))
                    .col(text(WebhookEvents::Data))
                    .col(big_integer(WebhookEvents::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_events_created")
                    .table(WebhookEvents::Table)
                    .col(WebhookEvents::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .if_not_exists()
                    .col(big_integer(WebhookDeliveries::Id).primary_key().auto_increment())
                    .col(big_integer(WebhookDeliveries::WebhookId))
                    .col(big_integer(WebhookDeliveries::EventId))
                    // pending, succeeded, failed
                    .col(string_len(WebhookDeliveries::Status, 16))
                    .col(integer(WebhookDeliveries::Attempts).default(0))
                    .col(big_integer(WebhookDeliveries::NextAttemptAt))
                    .col(integer_null(WebhookDeliveries::LastStatus))
                    // The start of the receiver's last answer, or why there was none.
                    .col(string_len_null(WebhookDeliveries::LastResponse, 1024))
                    .col(big_integer(WebhookDeliveries::CreatedAt))
                    .col(big_integer(WebhookDeliveries::UpdatedAt))
                    // No foreign key to `webhooks`: a producer that wrote a delivery
                    // for an endpoint removed a moment before must not fail the
                    // change it records. Such deliveries are never attempted (only
                    // known endpoints' are) and go with the retention sweep.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_deliveries_event")
                            .from(WebhookDeliveries::Table, WebhookDeliveries::EventId)
                            .to(WebhookEvents::Table, WebhookEvents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("idx_webhook_deliveries_due", vec![WebhookDeliveries::Status, WebhookDeliveries::NextAttemptAt]),
            ("idx_webhook_deliveries_webhook", vec![WebhookDeliveries::WebhookId, WebhookDeliveries::Id]),
            ("uq_webhook_deliveries_event", vec![WebhookDeliveries::EventId, WebhookDeliveries::WebhookId]),
        ] {
            let mut index = Index::create().name(name).table(WebhookDeliveries::Table).to_owned();
            for col in cols {
                index.col(col);
            }
            if name.starts_with("uq_") {
                index.unique();
            }
            manager.create_index(index).await?;
        }
        // When a broadcast was seen complete: `broadcast.completed` goes out once.
        manager
            .alter_table(
                Table::alter()
                    .table(Broadcasts::Table)
                    .add_column(big_integer_null(Broadcasts::CompletedAt))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Broadcasts::Table).drop_column(Broadcasts::CompletedAt).to_owned())
            .await?;
        for table in
            [WebhookDeliveries::Table.into_iden(), WebhookEvents::Table.into_iden(), Webhooks::Table.into_iden()]
        {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    UserId,
    Url,
    Events,
    Sessions,
    Enabled,
    Description,
    Secret,
    PreviousSecret,
    PreviousUntil,
    DisabledReason,
    FailingSince,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookEvents {
    Table,
    Id,
    UserId,
    SessionId,
    Kind,
    Data,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    WebhookId,
    EventId,
    Status,
    Attempts,
    NextAttemptAt,
    LastStatus,
    LastResponse,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Broadcasts {
    Table,
    CompletedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
