//! Users (dashboard and API accounts) and their API keys.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Users::Id))
                    .col(string_len_uniq(Users::Email, 254))
                    .col(string_len_null(Users::Username, 64).unique_key())
                    .col(string_len(Users::Name, 200))
                    .col(string_len(Users::PasswordHash, 100))
                    .col(string_len(Users::Role, 16))
                    .col(date_time(Users::CreatedAt))
                    .col(date_time(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .if_not_exists()
                    .col(big_pk_auto(ApiKeys::Id))
                    .col(big_integer(ApiKeys::UserId))
                    .col(string_len(ApiKeys::Name, 100))
                    // The public, non-secret part of the key, used to find its row.
                    .col(string_len_uniq(ApiKeys::Prefix, 32))
                    // SHA-256 (hex) of the whole key; the key itself is never stored.
                    .col(string_len(ApiKeys::KeyHash, 64))
                    // JSON array of session ids the key is limited to; NULL = all of the user's.
                    .col(text_null(ApiKeys::Sessions))
                    .col(date_time(ApiKeys::CreatedAt))
                    .col(date_time_null(ApiKeys::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_keys_user")
                            .from(ApiKeys::Table, ApiKeys::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_index(
                Index::create().name("idx_api_keys_user").table(ApiKeys::Table).col(ApiKeys::UserId).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ApiKeys::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Users::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    Username,
    Name,
    PasswordHash,
    Role,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    UserId,
    Name,
    Prefix,
    KeyHash,
    Sessions,
    CreatedAt,
    LastUsedAt,
}
