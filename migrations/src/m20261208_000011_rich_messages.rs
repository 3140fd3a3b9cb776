//! Every kind of message: a queued message carries the details a text column
//! cannot hold (`extra`, JSON: a location's coordinates, contact cards, a
//! poll's options, a voice note's length and waveform, a video's GIF flag),
//! the message it answers (`quoted_id`, and `quote`, JSON: what WhatsApp
//! shows of it in the reply, copied when the reply is queued), and a poll's
//! message secret (`secret`, base64), which its votes are encrypted with.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table(Messages::Table).add_column(text_null(Messages::Extra)).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter().table(Messages::Table).add_column(string_len_null(Messages::QuotedId, 128)).to_owned(),
            )
            .await?;
        manager
            .alter_table(Table::alter().table(Messages::Table).add_column(text_null(Messages::Quote)).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter().table(Messages::Table).add_column(string_len_null(Messages::Secret, 64)).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Messages::Secret, Messages::Quote, Messages::QuotedId, Messages::Extra] {
            manager.alter_table(Table::alter().table(Messages::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Extra,
    QuotedId,
    Quote,
    Secret,
}
