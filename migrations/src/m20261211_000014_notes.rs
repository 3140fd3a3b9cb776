//! Private notes: a chat entry may be a note of the team (`sender` `note`),
//! its text here; it is never sent.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(ChatEntries::Table).add_column(text_null(ChatEntries::Note)).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(ChatEntries::Table).drop_column(ChatEntries::Note).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum ChatEntries {
    Table,
    Note,
}
