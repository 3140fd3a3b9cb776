//! Linked WhatsApp devices ("sessions"): who owns each, its detected phone number
//! and its last known status. The device keys themselves live in one whatsapp-rust
//! store file per session under `storage.sessions_dir`, not here.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .if_not_exists()
                    .col(string_len(Sessions::Id, 64).primary_key())
                    .col(big_integer(Sessions::UserId))
                    // Digits with country code, detected when the device links.
                    .col(string_len_null(Sessions::PhoneNumber, 32))
                    .col(string_len(Sessions::Status, 16))
                    // Why the session is in its status, when that needs saying.
                    .col(string_len_null(Sessions::Reason, 255))
                    .col(date_time_null(Sessions::BannedUntil))
                    .col(date_time_null(Sessions::LastConnectedAt))
                    .col(date_time(Sessions::CreatedAt))
                    .col(date_time(Sessions::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sessions_user")
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("idx_sessions_user").table(Sessions::Table).col(Sessions::UserId).to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("idx_sessions_phone").table(Sessions::Table).col(Sessions::PhoneNumber).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Sessions::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    PhoneNumber,
    Status,
    Reason,
    BannedUntil,
    LastConnectedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
