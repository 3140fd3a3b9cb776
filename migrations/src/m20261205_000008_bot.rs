//! The menu bot: each account's bot document (`bot_configs`: menus, commands,
//! replies, office hours, per-session overrides, as JSON), and what the bot
//! keeps per chat in `chats`: since when the chat has its mode, the menu the
//! customer is in, and its reply counters (the per-minute cap and the last
//! reply, which keeps an offline backlog to one answer). Times are epoch milliseconds.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BotConfigs::Table)
                    .if_not_exists()
                    .col(big_integer(BotConfigs::UserId).primary_key())
                    .col(text(BotConfigs::Config))
                    .col(big_integer(BotConfigs::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_bot_configs_user")
                            .from(BotConfigs::Table, BotConfigs::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // SQLite alters one column per statement.
        let columns = [
            big_integer(Chats::ModeAt).default(0).to_owned(),
            string_len_null(Chats::BotMenu, 64).to_owned(),
            big_integer_null(Chats::BotRepliedAt).to_owned(),
            big_integer_null(Chats::BotWindowAt).to_owned(),
            integer(Chats::BotWindowCount).default(0).to_owned(),
        ];
        for column in columns {
            manager.alter_table(Table::alter().table(Chats::Table).add_column(column).to_owned()).await?;
        }
        manager
            .exec_stmt(Query::update().table(Chats::Table).value(Chats::ModeAt, Expr::col(Chats::UpdatedAt)).to_owned())
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Chats::BotWindowCount, Chats::BotWindowAt, Chats::BotRepliedAt, Chats::BotMenu, Chats::ModeAt] {
            manager.alter_table(Table::alter().table(Chats::Table).drop_column(column).to_owned()).await?;
        }
        manager.drop_table(Table::drop().table(BotConfigs::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum BotConfigs {
    Table,
    UserId,
    Config,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Chats {
    Table,
    UpdatedAt,
    ModeAt,
    BotMenu,
    BotRepliedAt,
    BotWindowAt,
    BotWindowCount,
}
