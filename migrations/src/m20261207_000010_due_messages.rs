//! The send queue's due list was the table `outbox`, while the design calls
//! the webhook events' deliveries the outbox: it is `due_messages` now (the
//! message, when it is due, and the lease of a send on the wire). Its indexes
//! and foreign key keep their names.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.rename_table(Table::rename().table(Alias::new("outbox"), Alias::new("due_messages")).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.rename_table(Table::rename().table(Alias::new("due_messages"), Alias::new("outbox")).to_owned()).await
    }
}
