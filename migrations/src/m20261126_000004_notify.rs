//! Outage notices (seed 002): the ODPs (fibre distribution points) customers hang
//! off, the customers a billing system keeps in sync (by its own id), the
//! notices, and broadcasts with one row per recipient. Every row belongs to the
//! account that made it. A broadcast's messages are ordinary queue messages that
//! carry its id, so its progress is read from the queue itself. Times are epoch
//! milliseconds, as in the queue.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn owned_by_user<T: Iden + 'static>(name: &str, table: T, column: impl Iden + 'static) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, column)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl Iden + 'static,
    cols: Vec<DynIden>,
    unique: bool,
) -> Result<(), DbErr> {
    let mut index = Index::create().name(name).table(table).to_owned();
    for col in cols {
        index.col(col);
    }
    if unique {
        index.unique();
    }
    manager.create_index(index).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Odps::Table)
                    .if_not_exists()
                    .col(big_integer(Odps::Id).primary_key().auto_increment())
                    .col(big_integer(Odps::UserId))
                    // As the billing system names it, e.g. ODP-001.
                    .col(string_len(Odps::Code, 64))
                    .col(big_integer(Odps::CreatedAt))
                    .foreign_key(&mut owned_by_user("fk_odps_user", Odps::Table, Odps::UserId))
                    .to_owned(),
            )
            .await?;
        index(manager, "uq_odps_user_code", Odps::Table, vec![Odps::UserId.into_iden(), Odps::Code.into_iden()], true)
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Customers::Table)
                    .if_not_exists()
                    .col(big_integer(Customers::Id).primary_key().auto_increment())
                    .col(big_integer(Customers::UserId))
                    // The billing system's id: bulk upserts and imports match on it.
                    .col(string_len(Customers::ExternalId, 64))
                    .col(string_len(Customers::Name, 255))
                    // As the billing system has it.
                    .col(string_len(Customers::PhoneRaw, 64))
                    // Digits with country code; NULL when the raw number is not valid.
                    .col(string_len_null(Customers::Phone, 32))
                    // Why the raw number is not valid.
                    .col(string_len_null(Customers::PhoneError, 255))
                    .col(big_integer_null(Customers::OdpId))
                    .col(boolean(Customers::Active).default(true))
                    .col(big_integer(Customers::CreatedAt))
                    .col(big_integer(Customers::UpdatedAt))
                    .foreign_key(&mut owned_by_user("fk_customers_user", Customers::Table, Customers::UserId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_customers_odp")
                            .from(Customers::Table, Customers::OdpId)
                            .to(Odps::Table, Odps::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        let (user, external) = (Customers::UserId.into_iden(), Customers::ExternalId.into_iden());
        index(manager, "uq_customers_user_external", Customers::Table, vec![user.clone(), external], true).await?;
        index(
            manager,
            "idx_customers_user_odp",
            Customers::Table,
            vec![user.clone(), Customers::OdpId.into_iden()],
            false,
        )
        .await?;
        index(manager, "idx_customers_user_active", Customers::Table, vec![user, Customers::Active.into_iden()], false)
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Notices::Table)
                    .if_not_exists()
                    .col(big_integer(Notices::Id).primary_key().auto_increment())
                    .col(big_integer(Notices::UserId))
                    .col(string_len(Notices::Title, 255))
                    .col(text(Notices::Message))
                    // The affected ODP codes, as a JSON array.
                    .col(text(Notices::Odps))
                    .col(big_integer_null(Notices::StartsAt))
                    .col(big_integer_null(Notices::EstimatedEnd))
                    // `active` or `resolved`.
                    .col(string_len(Notices::Status, 16))
                    .col(big_integer(Notices::CreatedAt))
                    .col(big_integer(Notices::UpdatedAt))
                    .foreign_key(&mut owned_by_user("fk_notices_user", Notices::Table, Notices::UserId))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_notices_user_status",
            Notices::Table,
            vec![Notices::UserId.into_iden(), Notices::Status.into_iden()],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Broadcasts::Table)
                    .if_not_exists()
                    .col(big_integer(Broadcasts::Id).primary_key().auto_increment())
                    .col(big_integer(Broadcasts::UserId))
                    // `notification`, `custom`, `phone` or `odp`.
                    .col(string_len(Broadcasts::Kind, 16))
                    .col(big_integer_null(Broadcasts::NoticeId))
                    .col(string_len_null(Broadcasts::Odp, 64))
                    // The template every recipient's text was made from.
                    .col(text(Broadcasts::Template))
                    // The sessions it sends from, as a JSON array.
                    .col(text(Broadcasts::Sessions))
                    .col(integer(Broadcasts::Total))
                    .col(integer(Broadcasts::Skipped))
                    .col(integer(Broadcasts::Queued))
                    .col(big_integer_null(Broadcasts::CancelledAt))
                    // A retried request with the same key gets this broadcast back.
                    .col(string_len_null(Broadcasts::IdempotencyKey, 255))
                    // SHA-256 of what was asked, to tell a retry from a reused key.
                    .col(string_len_null(Broadcasts::RequestHash, 64))
                    .col(big_integer(Broadcasts::CreatedAt))
                    .foreign_key(&mut owned_by_user("fk_broadcasts_user", Broadcasts::Table, Broadcasts::UserId))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "uq_broadcasts_idempotency",
            Broadcasts::Table,
            vec![Broadcasts::UserId.into_iden(), Broadcasts::IdempotencyKey.into_iden()],
            true,
        )
        .await?;
        index(
            manager,
            "idx_broadcasts_user_created",
            Broadcasts::Table,
            vec![Broadcasts::UserId.into_iden(), Broadcasts::CreatedAt.into_iden()],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(BroadcastRecipients::Table)
                    .if_not_exists()
                    .col(big_integer(BroadcastRecipients::Id).primary_key().auto_increment())
                    .col(big_integer(BroadcastRecipients::BroadcastId))
                    .col(big_integer_null(BroadcastRecipients::CustomerId))
                    .col(string_len(BroadcastRecipients::CustomerName, 255))
                    // Normalised when valid, else as given.
                    .col(string_len(BroadcastRecipients::Phone, 64))
                    // The queued message; NULL when the recipient was skipped.
                    .col(string_len_null(BroadcastRecipients::MessageId, 32))
                    // Why it was skipped.
                    .col(string_len_null(BroadcastRecipients::Skipped, 255))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_broadcast_recipients_broadcast")
                            .from(BroadcastRecipients::Table, BroadcastRecipients::BroadcastId)
                            .to(Broadcasts::Table, Broadcasts::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_broadcast_recipients_broadcast",
            BroadcastRecipients::Table,
            vec![BroadcastRecipients::BroadcastId.into_iden(), BroadcastRecipients::Id.into_iden()],
            false,
        )
        .await?;

        manager
            .alter_table(
                Table::alter().table(Messages::Table).add_column(big_integer_null(Messages::BroadcastId)).to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_messages_broadcast_status",
            Messages::Table,
            vec![Messages::BroadcastId.into_iden(), Messages::Status.into_iden()],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("idx_messages_broadcast_status").table(Messages::Table).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table(Messages::Table).drop_column(Messages::BroadcastId).to_owned())
            .await?;
        for table in [
            BroadcastRecipients::Table.into_iden(),
            Broadcasts::Table.into_iden(),
            Notices::Table.into_iden(),
            Customers::Table.into_iden(),
            Odps::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Odps {
    Table,
    Id,
    UserId,
    Code,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
    UserId,
    ExternalId,
    Name,
    PhoneRaw,
    Phone,
    PhoneError,
    OdpId,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Notices {
    Table,
    Id,
    UserId,
    Title,
    Message,
    Odps,
    StartsAt,
    EstimatedEnd,
    Status,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Broadcasts {
    Table,
    Id,
    UserId,
    Kind,
    NoticeId,
    Odp,
    Template,
    Sessions,
    Total,
    Skipped,
    Queued,
    CancelledAt,
    IdempotencyKey,
    RequestHash,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BroadcastRecipients {
    Table,
    Id,
    BroadcastId,
    CustomerId,
    CustomerName,
    Phone,
    MessageId,
    Skipped,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    BroadcastId,
    Status,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
