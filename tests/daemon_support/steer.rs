//! Steering a test daemon: control-socket calls and WebSocket clients that send `set`.

use std::path::Path;

use ambientctl::{Client, ClientError, Param, Request, Response, SynthesisParameters};
use futures_util::SinkExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{Client as WsClient, TestDaemon, next};

/// One request on a fresh connection (the client is blocking: off the runtime's threads).
pub async fn call(socket: &Path, request: Request) -> Result<Response, String> {
    let socket = socket.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut client = Client::connect(&socket).map_err(|e| e.to_string())?;
        client.call(&request).map_err(|e| match e {
            ClientError::Refused { reason } => reason,
            other => other.to_string(),
        })
    })
    .await
    .unwrap()
}

pub async fn params(socket: &Path) -> SynthesisParameters {
    match call(socket, Request::Get { param: None }).await {
        Ok(Response::Params(params)) => params,
        other => panic!("{other:?}"),
    }
}

pub fn set(param: Param, value: &str) -> Request {
    Request::Set {
        param,
        value: value.into(),
    }
}

pub async fn wait_for_message(
    client: &mut WsClient,
    mut wanted: impl FnMut(&Value) -> bool,
) -> Value {
    loop {
        if let Message::Text(text) = next(client).await {
            let message: Value = serde_json::from_str(&text).unwrap();
            if wanted(&message) {
                return message;
            }
        }
    }
}

/// A WebSocket to `daemon` with extra request headers and query.
pub async fn connect_with(daemon: &TestDaemon, query: &str, origin: Option<&str>) -> WsClient {
    let mut request = daemon.ws_url(query).into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request).await.unwrap().0
}

pub async fn try_set(client: &mut WsClient, bpm: u16) {
    let message = format!(r#"{{"type":"set","param":"bpm","value":{bpm}}}"#);
    client.send(Message::Text(message.into())).await.unwrap();
}
