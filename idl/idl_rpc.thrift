// Wire contract between the HTTP gateway and the rpc-server.
// Field names, ids, types and requiredness are the IM template's; changing
// any of them breaks existing Kitex clients.
namespace go rpc

struct Message {
    1: string Chat
    2: string Text
    3: string Sender
    4: i64 SendTime // microseconds since the Unix epoch, assigned by the server
}

struct SendRequest {
    1: required Message message
}

struct SendResponse {
    1: required i32 Code
    2: required string Msg
}

struct PullRequest {
    1: required string Chat
    2: required i64 Cursor
    3: required i32 Limit
    4: optional bool Reverse
}

struct PullResponse {
    1: required i32 Code
    2: required string Msg
    3: optional list<Message> Messages
    4: optional bool HasMore
    5: optional i64 NextCursor
}

service IMService {
    SendResponse Send(1: SendRequest req)
    PullResponse Pull(2: PullRequest req)
}
