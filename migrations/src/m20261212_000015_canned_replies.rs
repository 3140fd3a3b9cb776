//! Canned replies: an account's (`scope` `a:<account>`, made by its owner)
//! or one person's own (`p:<user>`), each a shortcut and a text with
//! placeholders; a shortcut is unique within its scope.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CannedReplies::Table)
                    .if_not_exists()
                    .col(big_integer(CannedReplies::Id).primary_key().auto_increment())
                    .col(string_len(CannedReplies::Scope, 32))
                    .col(big_integer(CannedReplies::AuthorId))
                    .col(string_len(CannedReplies::Shortcut, 32))
                    .col(text(CannedReplies::Text))
                    .col(big_integer(CannedReplies::CreatedAt))
                    .col(big_integer(CannedReplies::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_canned_replies_author")
                            .from(CannedReplies::Table, CannedReplies::AuthorId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_canned_replies_scope_shortcut")
                    .table(CannedReplies::Table)
                    .col(CannedReplies::Scope)
                    .col(CannedReplies::Shortcut)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(CannedReplies::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum CannedReplies {
    Table,
    Id,
    Scope,
    AuthorId,
    Shortcut,
    Text,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
