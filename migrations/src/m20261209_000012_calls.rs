//! Calls: a session's own call settings (`calls`, JSON: reject, reply, reply
//! interval; what is left out follows `[calls]` in the config).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Sessions::Table).add_column(text_null(Sessions::Calls)).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Sessions::Table).drop_column(Sessions::Calls).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Calls,
}
