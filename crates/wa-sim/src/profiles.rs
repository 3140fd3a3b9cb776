//! What an account shows others: its "about" text and profile picture. usync
//! tells them (`status`, `picture` id), `w:profile:picture` hands out the
//! picture's URL on the media host, and every such ask is counted.

use wacore_binary::{Node, builder::NodeBuilder};

use crate::{
    Sim,
    conn::{iq_error, iq_result},
};

/// What `phone` shows others; a new picture gets a new id.
pub fn set(sim: &Sim, phone: &str, about: Option<String>, picture: Option<Vec<u8>>) {
    let mut world = sim.world();
    let account = world.account_mut(phone);
    if about.is_some() {
        account.about = about;
    }
    if let Some(bytes) = picture {
        let id = format!("{}", 1_700_000_000 + rand::random::<u32>() % 100_000_000);
        let path = picture_path(phone, &id);
        account.picture = Some(id);
        drop(world);
        sim.media().put(&path, bytes);
    }
}

fn picture_path(phone: &str, id: &str) -> String {
    format!("/v/t61.24694-24/sim-pic-{phone}-{id}.jpg")
}

/// `<iq xmlns="w:profile:picture" type="get" target=…>`: the picture's URL, or 404.
pub fn picture_iq(sim: &Sim, node: &Node) -> Node {
    let Some(target) = node.attrs().optional_jid("target") else {
        return iq_error(node, 400, "bad-request");
    };
    let mut world = sim.world();
    let phone = world.phone_of(&target);
    *world.picture_asks.entry(phone.clone()).or_default() += 1;
    match world.accounts.get(&phone).and_then(|a| a.picture.clone()) {
        Some(id) => {
            let path = picture_path(&phone, &id);
            let url = format!("https://{}{path}?oh=sim&oe=0", crate::media::MEDIA_HOST);
            iq_result(node)
                .children([NodeBuilder::new("picture")
                    .attr("id", id)
                    .attr("type", "image")
                    .attr("url", url)
                    .attr("direct_path", path)
                    .build()])
                .build()
        }
        None => iq_error(node, 404, "item-not-found"),
    }
}
