//! Conversations, for the inbox's analytics: one per stretch of a chat from a
//! customer's message to its close, with when it was first answered by a
//! person, handed to the agents, closed and rated, and its messages in and out.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Conversations::Table)
                    .if_not_exists()
                    .col(big_integer(Conversations::Id).auto_increment().primary_key())
                    .col(big_integer(Conversations::ChatId))
                    .col(big_integer(Conversations::UserId))
                    .col(string_len(Conversations::SessionId, 64))
                    .col(big_integer_null(Conversations::AgentId))
                    .col(big_integer(Conversations::OpenedAt))
                    .col(big_integer_null(Conversations::FirstResponseAt))
                    .col(big_integer_null(Conversations::HandedAt))
                    .col(big_integer_null(Conversations::ClosedAt))
                    .col(integer_null(Conversations::Rating))
                    .col(integer(Conversations::MessagesIn).default(0))
                    .col(integer(Conversations::MessagesOut).default(0))
                    .col(integer(Conversations::BotReplies).default(0))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_conversations_chat")
                            .from(Conversations::Table, Conversations::ChatId)
                            .to(Chats::Table, Chats::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The chat's latest; an account's, an agent's and everyone's by opening time.
        let indexes: [(&str, &[Conversations]); 4] = [
            ("idx_conversations_chat", &[Conversations::ChatId, Conversations::Id]),
            ("idx_conversations_user", &[Conversations::UserId, Conversations::OpenedAt]),
            ("idx_conversations_agent", &[Conversations::AgentId, Conversations::OpenedAt]),
            ("idx_conversations_opened", &[Conversations::OpenedAt]),
        ];
        for (name, columns) in indexes {
            let mut index = Index::create().name(name).table(Conversations::Table).to_owned();
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Conversations::Table).if_exists().to_owned()).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Conversations {
    Table,
    Id,
    ChatId,
    UserId,
    SessionId,
    AgentId,
    OpenedAt,
    FirstResponseAt,
    HandedAt,
    ClosedAt,
    Rating,
    MessagesIn,
    MessagesOut,
    BotReplies,
}

#[derive(DeriveIden)]
enum Chats {
    Table,
    Id,
}
