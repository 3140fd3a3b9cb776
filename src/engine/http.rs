//! The HTTP client whatsapp-rust uses for media and for WhatsApp Web's version.
//!
//! In a simulator build pointed at a local wa-sim (`whatsapp.server_url`), every
//! request goes to the simulator's address instead of the host in the URL: the
//! client hard-codes `https://{media host}/...`, and the simulator serves those
//! paths on the address of its WebSocket.

use std::time::Duration;

use whatsapp_rust::{
    anyhow::{self, Context},
    async_trait,
    http::{HttpClient, HttpRequest, HttpResponse},
};

#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    /// `http://host:port` of a simulator, when requests go there.
    simulator: Option<String>,
}

impl Http {
    pub fn new(simulator: Option<String>) -> anyhow::Result<Http> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(Duration::from_secs(120))
            .build()
            .context("building the HTTP client")?;
        Ok(Http { client, simulator })
    }

    fn target(&self, url: &str) -> anyhow::Result<String> {
        let Some(base) = &self.simulator else { return Ok(url.to_owned()) };
        let parsed = url::Url::parse(url).with_context(|| format!("bad URL {url}"))?;
        let mut target = format!("{base}{}", parsed.path());
        if let Some(query) = parsed.query() {
            target.push('?');
            target.push_str(query);
        }
        Ok(target)
    }
}

#[async_trait]
impl HttpClient for Http {
    async fn execute(&self, request: HttpRequest) -> anyhow::Result<HttpResponse> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())?;
        let mut builder = self.client.request(method, self.target(&request.url)?);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let response = builder.send().await?;
        let status_code = response.status().as_u16();
        Ok(HttpResponse { status_code, body: response.bytes().await?.to_vec() })
    }
}
