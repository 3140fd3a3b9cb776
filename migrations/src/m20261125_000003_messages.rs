//! The send queue: messages with their status history, and the outbox the
//! dispatchers claim from. Times the queue schedules by are epoch milliseconds
//! (`BIGINT`), which every backend compares exactly; DATETIME keeps only seconds.
//! Also per-session overrides of the send limits, as JSON on the session row.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .if_not_exists()
                    // The WhatsApp message id, chosen by the gateway: a resend is the same message.
                    .col(string_len(Messages::Id, 32).primary_key())
                    .col(string_len(Messages::SessionId, 64))
                    .col(big_integer(Messages::UserId))
                    // Digits with country code.
                    .col(string_len(Messages::Recipient, 32))
                    .col(string_len(Messages::Kind, 16))
                    // The text, or the caption of an image or document.
                    .col(text_null(Messages::Body))
                    .col(string_len_null(Messages::Filename, 255))
                    .col(string_len_null(Messages::Mimetype, 127))
                    .col(big_integer_null(Messages::MediaSize))
                    .col(string_len_null(Messages::MediaSha256, 64))
                    .col(string_len(Messages::Status, 16))
                    .col(string_len_null(Messages::Reason, 255))
                    .col(integer(Messages::Attempts).default(0))
                    .col(string_len_null(Messages::IdempotencyKey, 255))
                    // SHA-256 of what was asked, to tell a retry from a reused key.
                    .col(string_len_null(Messages::RequestHash, 64))
                    .col(big_integer(Messages::CreatedAt))
                    .col(big_integer(Messages::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_messages_session")
                            .from(Messages::Table, Messages::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_messages_user")
                            .from(Messages::Table, Messages::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("idx_messages_session_status", vec![Messages::SessionId, Messages::Status]),
            ("idx_messages_session_created", vec![Messages::SessionId, Messages::CreatedAt]),
            ("idx_messages_user_created", vec![Messages::UserId, Messages::CreatedAt]),
        ] {
            let mut index = Index::create().name(name).table(Messages::Table).to_owned();
            for col in cols {
                index.col(col);
            }
            manager.create_index(index).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("uq_messages_idempotency")
                    .table(Messages::Table)
                    .col(Messages::UserId)
                    .col(Messages::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(MessageEvents::Table)
                    .if_not_exists()
                    .col(big_integer(MessageEvents::Id).primary_key().auto_increment())
                    .col(string_len(MessageEvents::MessageId, 32))
                    // Copied from the message: the limits are counted per session.
                    .col(string_len(MessageEvents::SessionId, 64))
                    .col(string_len(MessageEvents::Status, 16))
                    .col(string_len_null(MessageEvents::Reason, 255))
                    .col(big_integer(MessageEvents::At))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_message_events_message")
                            .from(MessageEvents::Table, MessageEvents::MessageId)
                            .to(Messages::Table, Messages::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_message_events_message")
                    .table(MessageEvents::Table)
                    .col(MessageEvents::MessageId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_message_events_session")
                    .table(MessageEvents::Table)
                    .col(MessageEvents::SessionId)
                    .col(MessageEvents::Status)
                    .col(MessageEvents::At)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .if_not_exists()
                    // Ties of due_at go in the order messages were accepted.
                    .col(big_integer(Outbox::Id).primary_key().auto_increment())
                    .col(string_len_uniq(Outbox::MessageId, 32))
                    .col(string_len(Outbox::SessionId, 64))
                    // Copied from the message: the per-recipient limit picks by it.
                    .col(string_len(Outbox::Recipient, 32))
                    // Not before this time (retries back off).
                    .col(big_integer(Outbox::DueAt))
                    // Claimed by a dispatcher until then: an unacknowledged send is retried after it.
                    .col(big_integer_null(Outbox::LeaseUntil))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_outbox_message")
                            .from(Outbox::Table, Outbox::MessageId)
                            .to(Messages::Table, Messages::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_session_due")
                    .table(Outbox::Table)
                    .col(Outbox::SessionId)
                    .col(Outbox::DueAt)
                    .to_owned(),
            )
            .await?;

        manager
            .alter_table(Table::alter().table(Sessions::Table).add_column(text_null(Sessions::Limits)).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Sessions::Table).drop_column(Sessions::Limits).to_owned()).await?;
        manager.drop_table(Table::drop().table(Outbox::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(MessageEvents::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Messages::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    SessionId,
    UserId,
    Recipient,
    Kind,
    Body,
    Filename,
    Mimetype,
    MediaSize,
    MediaSha256,
    Status,
    Reason,
    Attempts,
    IdempotencyKey,
    RequestHash,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum MessageEvents {
    Table,
    Id,
    MessageId,
    SessionId,
    Status,
    Reason,
    At,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    MessageId,
    SessionId,
    Recipient,
    DueAt,
    LeaseUntil,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    Limits,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
