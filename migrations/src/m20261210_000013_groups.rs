//! Groups: a chat is a 1:1 conversation (`direct`) or a group's (`group`,
//! its `contact` the group's JID); an ODP may name the group its outage
//! notices are also posted into, and the session that posts them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(Chats::Table).add_column(string_len(Chats::Kind, 8).default("direct")).to_owned(),
            )
            .await?;
        // SQLite adds one column per statement.
        manager
            .alter_table(Table::alter().table(Odps::Table).add_column(string_len_null(Odps::GroupJid, 64)).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter().table(Odps::Table).add_column(string_len_null(Odps::GroupSession, 64)).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Odps::Table).drop_column(Odps::GroupSession).to_owned()).await?;
        manager.alter_table(Table::alter().table(Odps::Table).drop_column(Odps::GroupJid).to_owned()).await?;
        manager.alter_table(Table::alter().table(Chats::Table).drop_column(Chats::Kind).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Chats {
    Table,
    Kind,
}

#[derive(DeriveIden)]
enum Odps {
    Table,
    GroupJid,
    GroupSession,
}
