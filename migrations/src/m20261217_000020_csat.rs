//! Customer satisfaction: an account may have the bot ask a closed chat's
//! customer for a 1–5 rating (`inbox_settings.csat`); the chat keeps where
//! the question stands (`csat_state`: `asked`, `retried`) and the answer.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column at a time.
        let columns = [
            (InboxSettings::Table.into_iden(), boolean(InboxSettings::Csat).default(false).to_owned()),
            (Chats::Table.into_iden(), string_len_null(Chats::CsatState, 8).to_owned()),
            (Chats::Table.into_iden(), integer_null(Chats::CsatRating).to_owned()),
            (Chats::Table.into_iden(), big_integer_null(Chats::CsatAt).to_owned()),
        ];
        for (table, mut column) in columns {
            manager.alter_table(Table::alter().table(table).add_column(&mut column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Chats::CsatAt, Chats::CsatRating, Chats::CsatState] {
            manager.alter_table(Table::alter().table(Chats::Table).drop_column(column).to_owned()).await?;
        }
        manager
            .alter_table(Table::alter().table(InboxSettings::Table).drop_column(InboxSettings::Csat).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum InboxSettings {
    Table,
    Csat,
}

#[derive(DeriveIden)]
enum Chats {
    Table,
    CsatState,
    CsatRating,
    CsatAt,
}
