//! The generated `ImService` trait, implemented thinly: validate the request
//! ([`crate::room`]), call the store, map the outcome to `Code`/`Msg`.
//!
//! Every outcome is `Ok(response)`: a business error travels as a non-zero
//! `Code`, never as a Thrift exception, because the gateway turns an
//! exception into an opaque HTTP 500 and loses the message.
use std::sync::Arc;
use std::time::Duration;

use im_idl::rpc::{ImService, Message, PullRequest, PullResponse, SendRequest, SendResponse};
use pilota::FastStr;
use volo_thrift::ServerError;

use crate::error::{CODE_OK, Error, Result};
use crate::log_limit::RateLimitedLog;
use crate::metrics;
use crate::room::{self, PageQuery, Room};
use crate::store::{MessageStore, NewMessage, Page};

const SUCCESS: &str = "success";

static STORAGE_FAILURES: RateLimitedLog =
    RateLimitedLog::new("requests failed in storage", Duration::from_secs(10));

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_text_bytes: usize,
    pub max_page_size: usize,
}

/// Serves `IMService` on top of any [`MessageStore`].
pub struct Handler<S> {
    store: Arc<S>,
    limits: Limits,
}

impl<S> Clone for Handler<S> {
    fn clone(&self) -> Self {
        Handler {
            store: Arc::clone(&self.store),
            limits: self.limits,
        }
    }
}

impl<S: MessageStore> Handler<S> {
    pub fn new(store: Arc<S>, limits: Limits) -> Self {
        Handler { store, limits }
    }

    async fn store_message(&self, req: &SendRequest) -> Result<i64> {
        let message = &req.message;
        let chat = optional_utf8("chat", message.chat.as_ref())?;
        let sender = optional_utf8("sender", message.sender.as_ref())?;
        let text = optional_utf8("text", message.text.as_ref())?;
        let room = Room::parse(chat)?;
        room.check_sender(sender)?;
        room::check_text(text, self.limits.max_text_bytes)?;
        self.store
            .append(&room, NewMessage { chat, text, sender })
            .await
    }

    async fn read_page(&self, req: &PullRequest) -> Result<Page> {
        let room = Room::parse(utf8("chat", &req.chat)?)?;
        let query = PageQuery::new(
            req.cursor,
            req.limit,
            req.reverse.unwrap_or(false),
            self.limits.max_page_size,
        )?;
        self.store.page(&room, &query).await
    }
}

impl<S: MessageStore> ImService for Handler<S> {
    async fn send(&self, req: SendRequest) -> Result<SendResponse, ServerError> {
        let response = match self.store_message(&req).await {
            Ok(send_time) => {
                tracing::debug!(send_time, "message stored");
                SendResponse {
                    code: CODE_OK,
                    msg: FastStr::from_static_str(SUCCESS),
                }
            }
            Err(err) => {
                report_failure("Send", &err);
                SendResponse {
                    code: err.code(),
                    msg: FastStr::from_string(err.to_string()),
                }
            }
        };
        Ok(response)
    }

    async fn pull(&self, req: PullRequest) -> Result<PullResponse, ServerError> {
        let response = match self.read_page(&req).await {
            Ok(page) => page_response(page),
            Err(err) => {
                report_failure("Pull", &err);
                PullResponse {
                    code: err.code(),
                    msg: FastStr::from_string(err.to_string()),
                    messages: Some(Vec::new()),
                    has_more: Some(false),
                    next_cursor: Some(0),
                }
            }
        };
        Ok(response)
    }
}

/// Every optional field is set, as the Go server does, so clients that read
/// them without checking presence see `false`/`0` rather than nothing.
fn page_response(page: Page) -> PullResponse {
    let messages = page
        .messages
        .into_iter()
        .map(|stored| Message {
            chat: Some(stored.chat),
            text: Some(stored.text),
            sender: Some(stored.sender),
            send_time: Some(stored.send_time),
        })
        .collect();
    PullResponse {
        code: CODE_OK,
        msg: FastStr::from_static_str(SUCCESS),
        messages: Some(messages),
        has_more: Some(page.next_cursor.is_some()),
        next_cursor: Some(page.next_cursor.unwrap_or(0)),
    }
}

/// A string field as text. The wire types carry strings as raw bytes
/// (pilota does not check them), so each is checked here before anything
/// reads it as `str` or stores it.
fn utf8<'a>(field: &'static str, value: &'a FastStr) -> Result<&'a str> {
    std::str::from_utf8(value.as_bytes()).map_err(|_| Error::invalid(field, "not valid UTF-8"))
}

fn optional_utf8<'a>(field: &'static str, value: Option<&'a FastStr>) -> Result<&'a str> {
    value.map_or(Ok(""), |value| utf8(field, value))
}

/// Notes the failure for the metrics and logs it: client mistakes are
/// routine (debug); storage failures are logged once per
/// interval, with a count, however many requests they fail.
fn report_failure(method: &str, err: &Error) {
    metrics::note_failure(err.kind());
    match err {
        Error::InvalidArgument { .. } => tracing::debug!(method, error = %err, "rejected request"),
        _ => STORAGE_FAILURES.warn(format_args!("{method}: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn handler() -> Handler<MemoryStore> {
        Handler::new(
            Arc::new(MemoryStore::new()),
            Limits {
                max_text_bytes: 16,
                max_page_size: 3,
            },
        )
    }

    fn send_request(chat: &str, sender: &str, text: &str) -> SendRequest {
        SendRequest {
            message: Message {
                chat: Some(chat.to_owned().into()),
                text: Some(text.to_owned().into()),
                sender: Some(sender.to_owned().into()),
                send_time: None,
            },
        }
    }

    fn pull_request(chat: &str, cursor: i64, limit: i32, reverse: Option<bool>) -> PullRequest {
        PullRequest {
            chat: chat.to_owned().into(),
            cursor,
            limit,
            reverse,
        }
    }

    #[tokio::test]
    async fn send_then_pull_sets_every_field() {
        let handler = handler();
        let sent = handler.send(send_request("b:a", "a", "hi")).await.unwrap();
        assert_eq!((sent.code, sent.msg.as_str()), (0, "success"));

        let page = handler.pull(pull_request("a:b", 0, 0, None)).await.unwrap();
        assert_eq!((page.code, page.msg.as_str()), (0, "success"));
        let messages = page.messages.unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].chat.as_deref(), Some("b:a"));
        assert_eq!(messages[0].text.as_deref(), Some("hi"));
        assert_eq!(messages[0].sender.as_deref(), Some("a"));
        assert!(messages[0].send_time.unwrap() > 0);
        assert_eq!(page.has_more, Some(false));
        assert_eq!(page.next_cursor, Some(0));
    }

    #[tokio::test]
    async fn limit_is_capped_and_next_cursor_points_at_the_next_message() {
        let handler = handler();
        for text in ["1", "2", "3", "4"] {
            handler.send(send_request("a:b", "b", text)).await.unwrap();
        }
        let page = handler
            .pull(pull_request("a:b", 0, 50, None))
            .await
            .unwrap();
        let messages = page.messages.unwrap();
        assert_eq!(messages.len(), 3);
        assert_eq!(page.has_more, Some(true));
        let rest = handler
            .pull(pull_request("a:b", page.next_cursor.unwrap(), 50, None))
            .await
            .unwrap();
        let texts: Vec<_> = rest
            .messages
            .unwrap()
            .iter()
            .map(|m| m.text.clone().unwrap())
            .collect();
        assert_eq!(texts, ["4"]);
        assert_eq!((rest.has_more, rest.next_cursor), (Some(false), Some(0)));
    }

    #[tokio::test]
    async fn bad_input_is_a_400_response_not_an_exception() {
        let handler = handler();
        let cases = [
            (send_request("ab", "a", "x"), "invalid chat"),
            (send_request("a:b", "c", "x"), "invalid sender"),
            (send_request("a:b", "a", &"x".repeat(17)), "invalid text"),
        ];
        for (request, expected) in cases {
            let response = handler.send(request).await.unwrap();
            assert_eq!(response.code, 400);
            assert!(response.msg.starts_with(expected), "{}", response.msg);
        }
        let missing = SendRequest::default();
        assert_eq!(handler.send(missing).await.unwrap().code, 400);

        for (request, expected) in [
            (pull_request("a:b:c", 0, 1, None), "invalid chat"),
            (pull_request("a:b", -1, 1, None), "invalid cursor"),
            (pull_request("a:b", 0, -1, Some(true)), "invalid limit"),
        ] {
            let response = handler.pull(request).await.unwrap();
            assert_eq!(response.code, 400);
            assert!(response.msg.starts_with(expected), "{}", response.msg);
            assert_eq!(response.messages, Some(Vec::new()));
        }
    }
}
