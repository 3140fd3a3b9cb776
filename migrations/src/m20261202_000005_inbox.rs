//! The inbox: what WhatsApp delivered (`inbound_messages`, every chat, groups
//! included), one chat per (session, contact) for 1:1 conversations, and each
//! chat's timeline (`chat_entries`), whose entries point at a received message
//! or at a queued one (whose status stays in the queue). Queued messages also
//! say who sent them (`origin`, `agent_id`). Times are epoch milliseconds.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Chats::Table)
                    .if_not_exists()
                    .col(big_integer(Chats::Id).primary_key().auto_increment())
                    .col(string_len(Chats::SessionId, 64))
                    // The session's owner: whose inbox this chat is in.
                    .col(big_integer(Chats::UserId))
                    // The contact's number, digits with country code.
                    .col(string_len(Chats::Contact, 32))
                    .col(string_len(Chats::Name, 255))
                    .col(big_integer_null(Chats::CustomerId))
                    .col(string_len_null(Chats::Email, 255))
                    .col(string_len_null(Chats::Address, 255))
                    .col(string_len(Chats::Mode, 16))
                    .col(big_integer_null(Chats::AssignedAgentId))
                    .col(integer(Chats::Unread).default(0))
                    .col(boolean(Chats::Online).default(false))
                    .col(big_integer(Chats::LastMessageAt))
                    .col(big_integer(Chats::CreatedAt))
                    .col(big_integer(Chats::UpdatedAt))
                    .foreign_key(&mut fk(
                        "fk_chats_session",
                        Chats::Table,
                        Chats::SessionId,
                        Sessions::Table,
                        Sessions::Id,
                    ))
                    .foreign_key(&mut fk("fk_chats_user", Chats::Table, Chats::UserId, Users::Table, Users::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_chats_customer")
                            .from(Chats::Table, Chats::CustomerId)
                            .to(Customers::Table, Customers::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_chats_agent")
                            .from(Chats::Table, Chats::AssignedAgentId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        index(manager, "uq_chats_session_contact", Chats::Table, &[Chats::SessionId, Chats::Contact], true).await?;
        // The chat list pages by (last_message_at, id), newest first, per owner, per agent, or all.
        index(manager, "idx_chats_recent", Chats::Table, &[Chats::LastMessageAt, Chats::Id], false).await?;
        index(manager, "idx_chats_user_recent", Chats::Table, &[Chats::UserId, Chats::LastMessageAt, Chats::Id], false)
            .await?;
        index(
            manager,
            "idx_chats_agent_recent",
            Chats::Table,
            &[Chats::AssignedAgentId, Chats::LastMessageAt, Chats::Id],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(InboundMessages::Table)
                    .if_not_exists()
                    .col(big_integer(InboundMessages::Id).primary_key().auto_increment())
                    .col(string_len(InboundMessages::SessionId, 64))
                    .col(big_integer_null(InboundMessages::ChatId))
                    // WhatsApp's identity of the message: unique per session, chat and sender.
                    .col(string_len(InboundMessages::ChatJid, 128))
                    .col(string_len(InboundMessages::SenderJid, 128))
                    .col(string_len(InboundMessages::WaId, 128))
                    // Typed on the linked phone (or another device of the number).
                    .col(boolean(InboundMessages::FromMe))
                    .col(string_len(InboundMessages::Kind, 16))
                    // WhatsApp's name for a message of kind `unsupported`.
                    .col(string_len_null(InboundMessages::WaType, 64))
                    // The text, or the caption of media.
                    .col(text_null(InboundMessages::Body))
                    .col(string_len_null(InboundMessages::Filename, 255))
                    .col(string_len_null(InboundMessages::Mimetype, 127))
                    .col(big_integer_null(InboundMessages::MediaSize))
                    // How to fetch the media (JSON), its download state and tries.
                    .col(text_null(InboundMessages::Media))
                    .col(string_len_null(InboundMessages::MediaState, 16))
                    .col(string_len_null(InboundMessages::MediaError, 255))
                    .col(integer(InboundMessages::MediaAttempts).default(0))
                    .col(big_integer_null(InboundMessages::MediaDueAt))
                    .col(string_len_null(InboundMessages::QuotedId, 128))
                    .col(string_len_null(InboundMessages::PushName, 255))
                    // Location, contact card or reaction details (JSON).
                    .col(text_null(InboundMessages::Extra))
                    .col(big_integer(InboundMessages::SentAt))
                    .col(big_integer(InboundMessages::ReceivedAt))
                    .col(big_integer_null(InboundMessages::ReadAt))
                    .foreign_key(&mut fk(
                        "fk_inbound_session",
                        InboundMessages::Table,
                        InboundMessages::SessionId,
                        Sessions::Table,
                        Sessions::Id,
                    ))
                    .foreign_key(&mut fk(
                        "fk_inbound_chat",
                        InboundMessages::Table,
                        InboundMessages::ChatId,
                        Chats::Table,
                        Chats::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        index(
            manager,
            "uq_inbound_identity",
            InboundMessages::Table,
            &[InboundMessages::SessionId, InboundMessages::ChatJid, InboundMessages::SenderJid, InboundMessages::WaId],
            true,
        )
        .await?;
        index(
            manager,
            "idx_inbound_session",
            InboundMessages::Table,
            &[InboundMessages::SessionId, InboundMessages::Id],
            false,
        )
        .await?;
        index(
            manager,
            "idx_inbound_media_due",
            InboundMessages::Table,
            &[InboundMessages::MediaState, InboundMessages::MediaDueAt],
            false,
        )
        .await?;
        index(
            manager,
            "idx_inbound_chat_unread",
            InboundMessages::Table,
            &[InboundMessages::ChatId, InboundMessages::ReadAt],
            false,
        )
        .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .add_column(string_len(Messages::Origin, 16).default("api"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table(Messages::Table).add_column(big_integer_null(Messages::AgentId)).to_owned(),
            )
            .await?;
        index(
            manager,
            "idx_messages_session_recipient",
            Messages::Table,
            &[Messages::SessionId, Messages::Recipient],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(ChatEntries::Table)
                    .if_not_exists()
                    .col(big_integer(ChatEntries::Id).primary_key().auto_increment())
                    .col(big_integer(ChatEntries::ChatId))
                    // customer, phone, agent, bot, api or broadcast.
                    .col(string_len(ChatEntries::Sender, 16))
                    .col(big_integer_null(ChatEntries::InboundId))
                    .col(string_len_null(ChatEntries::MessageId, 32))
                    .col(big_integer_null(ChatEntries::AgentId))
                    .col(big_integer(ChatEntries::At))
                    .foreign_key(&mut fk(
                        "fk_entries_chat",
                        ChatEntries::Table,
                        ChatEntries::ChatId,
                        Chats::Table,
                        Chats::Id,
                    ))
                    .foreign_key(&mut fk(
                        "fk_entries_inbound",
                        ChatEntries::Table,
                        ChatEntries::InboundId,
                        InboundMessages::Table,
                        InboundMessages::Id,
                    ))
                    .foreign_key(&mut fk(
                        "fk_entries_message",
                        ChatEntries::Table,
                        ChatEntries::MessageId,
                        Messages::Table,
                        Messages::Id,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_entries_agent")
                            .from(ChatEntries::Table, ChatEntries::AgentId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        index(manager, "idx_entries_chat", ChatEntries::Table, &[ChatEntries::ChatId, ChatEntries::Id], false).await?;
        index(manager, "uq_entries_inbound", ChatEntries::Table, &[ChatEntries::InboundId], true).await?;
        index(manager, "uq_entries_message", ChatEntries::Table, &[ChatEntries::MessageId], true).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ChatEntries::Table).to_owned()).await?;
        manager
            .drop_index(Index::drop().name("idx_messages_session_recipient").table(Messages::Table).to_owned())
            .await?;
        manager.alter_table(Table::alter().table(Messages::Table).drop_column(Messages::AgentId).to_owned()).await?;
        manager.alter_table(Table::alter().table(Messages::Table).drop_column(Messages::Origin).to_owned()).await?;
        manager.drop_table(Table::drop().table(InboundMessages::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Chats::Table).to_owned()).await
    }
}

/// A foreign key that goes with the row it points at.
fn fk(
    name: &str,
    table: impl IntoIden,
    col: impl IntoIden,
    to: impl IntoIden,
    to_col: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create().name(name).from(table, col).to(to, to_col).on_delete(ForeignKeyAction::Cascade).to_owned()
}

async fn index<T: IntoIden + Copy + 'static>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    cols: &[T],
    unique: bool,
) -> Result<(), DbErr> {
    let mut index = Index::create().name(name).table(table).to_owned();
    for col in cols {
        index.col(*col);
    }
    if unique {
        index.unique();
    }
    manager.create_index(index).await
}

#[derive(DeriveIden, Clone, Copy)]
enum Chats {
    Table,
    Id,
    SessionId,
    UserId,
    Contact,
    Name,
    CustomerId,
    Email,
    Address,
    Mode,
    AssignedAgentId,
    Unread,
    Online,
    LastMessageAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum InboundMessages {
    Table,
    Id,
    SessionId,
    ChatId,
    ChatJid,
    SenderJid,
    WaId,
    FromMe,
    Kind,
    WaType,
    Body,
    Filename,
    Mimetype,
    MediaSize,
    Media,
    MediaState,
    MediaError,
    MediaAttempts,
    MediaDueAt,
    QuotedId,
    PushName,
    Extra,
    SentAt,
    ReceivedAt,
    ReadAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ChatEntries {
    Table,
    Id,
    ChatId,
    Sender,
    InboundId,
    MessageId,
    AgentId,
    At,
}

#[derive(DeriveIden, Clone, Copy)]
enum Messages {
    Table,
    Id,
    SessionId,
    Recipient,
    Origin,
    AgentId,
}

#[derive(DeriveIden, Clone, Copy)]
enum Sessions {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Customers {
    Table,
    Id,
}
