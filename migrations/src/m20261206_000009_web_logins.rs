//! The dashboard's logins: one row per browser that logged in with a
//! password. The browser holds a random token in an HttpOnly cookie; only its
//! SHA-256 is stored, so a copy of the database logs no one in. Logging out
//! deletes the row; a password change (the user's `token_version`) or the
//! expiry (epoch milliseconds) ends it too.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebLogins::Table)
                    .if_not_exists()
                    .col(string_len(WebLogins::TokenHash, 64).primary_key())
                    .col(big_integer(WebLogins::UserId))
                    .col(big_integer(WebLogins::TokenVersion))
                    .col(big_integer(WebLogins::CreatedAt))
                    .col(big_integer(WebLogins::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_web_logins_user")
                            .from(WebLogins::Table, WebLogins::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_web_logins_expires_at")
                    .table(WebLogins::Table)
                    .col(WebLogins::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(WebLogins::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum WebLogins {
    Table,
    TokenHash,
    UserId,
    TokenVersion,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
