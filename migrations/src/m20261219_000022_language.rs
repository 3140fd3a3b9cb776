//! The dashboard's language each person chose (`users.language`: `en`, `id`;
//! `NULL`: their browser's).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Users::Table).add_column(string_len_null(Users::Language, 8)).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Users::Table).drop_column(Users::Language).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Language,
}
