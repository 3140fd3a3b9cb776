//! Labels: an account's (name, colour), put on its chats.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Labels::Table)
                    .if_not_exists()
                    .col(big_integer(Labels::Id).primary_key().auto_increment())
                    .col(big_integer(Labels::AccountId))
                    .col(string_len(Labels::Name, 32))
                    .col(string_len(Labels::Colour, 7))
                    .col(big_integer(Labels::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_labels_account")
                            .from(Labels::Table, Labels::AccountId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_labels_account_name")
                    .table(Labels::Table)
                    .col(Labels::AccountId)
                    .col(Labels::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChatLabels::Table)
                    .if_not_exists()
                    .col(big_integer(ChatLabels::ChatId))
                    .col(big_integer(ChatLabels::LabelId))
                    .primary_key(Index::create().col(ChatLabels::ChatId).col(ChatLabels::LabelId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_chat_labels_chat")
                            .from(ChatLabels::Table, ChatLabels::ChatId)
                            .to(Chats::Table, Chats::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_chat_labels_label")
                            .from(ChatLabels::Table, ChatLabels::LabelId)
                            .to(Labels::Table, Labels::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_chat_labels_label")
                    .table(ChatLabels::Table)
                    .col(ChatLabels::LabelId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ChatLabels::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Labels::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Labels {
    Table,
    Id,
    AccountId,
    Name,
    Colour,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ChatLabels {
    Table,
    ChatId,
    LabelId,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Chats {
    Table,
    Id,
}
