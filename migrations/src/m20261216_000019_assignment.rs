//! Assignment: agents say whether they are available (`users.available`) and
//! when a chat was last given them (`users.last_assigned_at`, the round-robin's
//! turn); an account's inbox settings (`inbox_settings`: auto-assignment).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column at a time.
        manager
            .alter_table(
                Table::alter().table(Users::Table).add_column(boolean(Users::Available).default(false)).to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table(Users::Table).add_column(big_integer_null(Users::LastAssignedAt)).to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(InboxSettings::Table)
                    .if_not_exists()
                    .col(big_integer(InboxSettings::UserId).primary_key())
                    .col(boolean(InboxSettings::AutoAssign).default(false))
                    .col(big_integer(InboxSettings::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_inbox_settings_user")
                            .from(InboxSettings::Table, InboxSettings::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(InboxSettings::Table).if_exists().to_owned()).await?;
        manager.alter_table(Table::alter().table(Users::Table).drop_column(Users::LastAssignedAt).to_owned()).await?;
        manager.alter_table(Table::alter().table(Users::Table).drop_column(Users::Available).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Available,
    LastAssignedAt,
}

#[derive(DeriveIden)]
enum InboxSettings {
    Table,
    UserId,
    AutoAssign,
    UpdatedAt,
}
