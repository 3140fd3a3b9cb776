//! Hardening: a token version per user, bumped on a password change so every
//! token issued before it is refused; sessions are marked deleted (`deleted_at`)
//! rather than removed, so the messages they accepted outlive them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(Users::Table).add_column(big_integer(Users::TokenVersion).default(0)).to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table(Sessions::Table).add_column(date_time_null(Sessions::DeletedAt)).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Sessions::Table).drop_column(Sessions::DeletedAt).to_owned()).await?;
        manager.alter_table(Table::alter().table(Users::Table).drop_column(Users::TokenVersion).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    TokenVersion,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    DeletedAt,
}
