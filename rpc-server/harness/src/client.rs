//! Volo Thrift clients of the server in the three framings.
use std::net::SocketAddr;
use std::time::Duration;

use im_idl::rpc::{
    ImServiceClientBuilder, Message, PullRequest, PullResponse, SendRequest, SendResponse,
};
use volo_thrift::codec::default::DefaultMakeCodec;

/// The service name the clients call.
pub const SERVICE: &str = "demo.rpc.server";

/// The three transports a Thrift client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Kitex's default ("PurePayload"): bare strict binary messages.
    Unframed,
    /// A 4-byte length before each message.
    Framed,
    /// TTHeader around a framed message.
    TTHeader,
}

pub const ALL_FRAMINGS: [Framing; 3] = [Framing::Unframed, Framing::Framed, Framing::TTHeader];

type Call<Req, Resp> = Box<
    dyn Fn(Req) -> futures::future::BoxFuture<'static, Result<Resp, volo_thrift::ClientError>>
        + Send
        + Sync,
>;

/// A Volo client speaking one framing. Volo's client type differs per codec,
/// so the calls are boxed to give the tests one type.
pub struct Client {
    send: Call<SendRequest, SendResponse>,
    pull: Call<PullRequest, PullResponse>,
}

macro_rules! boxed_client {
    ($client:expr) => {{
        let client = $client;
        let pull_client = client.clone();
        Client {
            send: Box::new(move |req| {
                let client = client.clone();
                Box::pin(async move { client.send(req).await })
            }),
            pull: Box::new(move |req| {
                let client = pull_client.clone();
                Box::pin(async move { client.pull(req).await })
            }),
        }
    }};
}

impl Client {
    pub fn new(addr: SocketAddr, framing: Framing) -> Client {
        let builder = ImServiceClientBuilder::new(SERVICE)
            .address(addr)
            .rpc_timeout(Some(Duration::from_secs(5)));
        match framing {
            Framing::Unframed => {
                boxed_client!(builder.make_codec(DefaultMakeCodec::buffered()).build())
            }
            Framing::Framed => {
                boxed_client!(builder.make_codec(DefaultMakeCodec::framed()).build())
            }
            Framing::TTHeader => boxed_client!(builder.build()),
        }
    }

    pub async fn send(&self, req: SendRequest) -> SendResponse {
        (self.send)(req)
            .await
            .expect("Send failed at the transport level")
    }

    pub async fn pull(&self, req: PullRequest) -> PullResponse {
        (self.pull)(req)
            .await
            .expect("Pull failed at the transport level")
    }

    pub async fn send_text(&self, chat: &str, sender: &str, text: &str) -> SendResponse {
        self.send(send_request(chat, sender, text)).await
    }

    pub async fn pull_page(
        &self,
        chat: &str,
        cursor: i64,
        limit: i32,
        reverse: bool,
    ) -> PullResponse {
        self.pull(PullRequest {
            chat: chat.to_owned().into(),
            cursor,
            limit,
            reverse: Some(reverse),
        })
        .await
    }

    /// Follows `next_cursor` from `start` until `has_more` is false and
    /// returns every message in the order received.
    pub async fn pull_all(
        &self,
        chat: &str,
        start: i64,
        limit: i32,
        reverse: bool,
    ) -> Vec<Message> {
        let mut cursor = start;
        let mut all = Vec::new();
        loop {
            let page = self.pull_page(chat, cursor, limit, reverse).await;
            assert_eq!(page.code, 0, "pull failed: {}", page.msg);
            all.extend(page.messages.expect("messages are always set"));
            if !page.has_more.expect("has_more is always set") {
                assert_eq!(page.next_cursor, Some(0));
                return all;
            }
            cursor = page.next_cursor.expect("next_cursor is always set");
        }
    }
}

pub fn send_request(chat: &str, sender: &str, text: &str) -> SendRequest {
    SendRequest {
        message: Message {
            chat: Some(chat.to_owned().into()),
            text: Some(text.to_owned().into()),
            sender: Some(sender.to_owned().into()),
            send_time: None,
        },
    }
}

pub fn texts(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .map(|message| message.text.as_deref().unwrap_or_default().to_owned())
        .collect()
}
