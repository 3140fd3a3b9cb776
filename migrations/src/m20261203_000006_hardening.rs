//! Hardening: a token version per user, bumped on a password change so every
//! token issued before it is refused; sessions are marked deleted (`deleted_at`)
//! rather than removed, so the messages they accepted outlive them; session ids
//! are names within their account (`sessions.name`, unique per owner), while
//! `sessions.id` becomes an internal key: the name, or the name and `~` and a
//! random suffix when another account has (or had) that name. Keys are up to
//! 80 characters on MySQL (SQLite does not hold text to a length).

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
            .await?;
        manager
            .alter_table(
                Table::alter().table(Sessions::Table).add_column(string_len(Sessions::Name, 64).default("")).to_owned(),
            )
            .await?;
        manager
            .exec_stmt(Query::update().table(Sessions::Table).value(Sessions::Name, Expr::col(Sessions::Id)).to_owned())
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_sessions_owner_name")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .col(Sessions::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm::DatabaseBackend::MySql {
            widen_keys(manager, KEY_CHARS).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == sea_orm::DatabaseBackend::MySql {
            widen_keys(manager, 64).await?;
        }
        manager.drop_index(Index::drop().name("uq_sessions_owner_name").table(Sessions::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(Sessions::Table).drop_column(Sessions::Name).to_owned()).await?;
        manager.alter_table(Table::alter().table(Sessions::Table).drop_column(Sessions::DeletedAt).to_owned()).await?;
        manager.alter_table(Table::alter().table(Users::Table).drop_column(Users::TokenVersion).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    TokenVersion,
}

/// The longest session key: a 64-character name, `~` and a random suffix.
const KEY_CHARS: u32 = 80;

/// Sets the width of `sessions.id` and of every column that holds a session
/// key (MySQL: the foreign keys to `sessions.id` are dropped and made again around it).
async fn widen_keys(manager: &SchemaManager<'_>, chars: u32) -> Result<(), DbErr> {
    let references = [
        ("fk_messages_session", Messages::Table.into_iden()),
        ("fk_chats_session", Chats::Table.into_iden()),
        ("fk_inbound_session", InboundMessages::Table.into_iden()),
    ];
    for (name, table) in &references {
        manager.drop_foreign_key(ForeignKey::drop().name(*name).table(table.clone()).to_owned()).await?;
    }
    let key = |column: DynIden| ColumnDef::new(column).string_len(chars).not_null().to_owned();
    manager
        .alter_table(Table::alter().table(Sessions::Table).modify_column(key(Sessions::Id.into_iden())).to_owned())
        .await?;
    let holders = [
        Messages::Table.into_iden(),
        MessageEvents::Table.into_iden(),
        Outbox::Table.into_iden(),
        Chats::Table.into_iden(),
        InboundMessages::Table.into_iden(),
    ];
    for table in holders {
        manager
            .alter_table(Table::alter().table(table).modify_column(key(Messages::SessionId.into_iden())).to_owned())
            .await?;
    }
    for (name, table) in references {
        manager
            .create_foreign_key(
                ForeignKey::create()
                    .name(name)
                    .from(table, Messages::SessionId)
                    .to(Sessions::Table, Sessions::Id)
                    .on_delete(ForeignKeyAction::Cascade)
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    Name,
    DeletedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    SessionId,
}

#[derive(DeriveIden)]
enum MessageEvents {
    Table,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
}

#[derive(DeriveIden)]
enum Chats {
    Table,
}

#[derive(DeriveIden)]
enum InboundMessages {
    Table,
}
