//! `httpRoutes`: a DaprServer's HTTP app routes served by the app's own HTTP server (an Express
//! app). The facade routes each call here with its raw headers and body bytes; core reads it and
//! writes the reply with the functions its own HTTP app server calls ([`read_delivery`],
//! [`subscribe_reply`], [`DeliveryAnswer::reply`]), and the handlers run through the same
//! adapter ([`crate::handler`]) and answer rule ([`answer_of`]) as everywhere else.
//!
//! [`DeliveryAnswer::reply`]: dapr_rs_core::app::DeliveryAnswer::reply

use crate::errors::{invalid_argument, promise, to_js_error};
use crate::handler::WeakDispatch;
use crate::server::{NativeSubscription, subscription};
use dapr_rs_core::app::{HttpReply, app_api_token_from_env, read_delivery, subscribe_reply};
use dapr_rs_core::{Subscription, TopicEventStatus, answer_of, check_route_is_free};
use napi::Env;
use napi::bindgen_prelude::{Buffer, PromiseRaw};
use napi_derive::napi;
use std::any::Any;
use std::sync::Arc;

/// What the app answers the sidecar: a status code and a body of `contentType`.
#[napi(object)]
pub struct NativeHttpReply {
    pub status: u32,
    pub content_type: String,
    pub body: Buffer,
}

impl From<HttpReply> for NativeHttpReply {
    fn from(reply: HttpReply) -> Self {
        Self { status: reply.status.into(), content_type: reply.content_type.to_owned(), body: reply.body.into() }
    }
}

/// Node's `req.rawHeaders` (`[name, value, name, value, …]`) as (name, bytes) pairs. Node's HTTP
/// parser makes each header byte one character (latin1), so that is undone; a string with wider
/// characters did not come from the parser and is taken as UTF-8.
fn header_pairs(env: &Env, raw_headers: Vec<String>) -> napi::Result<Vec<(String, Vec<u8>)>> {
    if !raw_headers.len().is_multiple_of(2) {
        return Err(invalid_argument(env, "rawHeaders must alternate names and values (an even number of strings)"));
    }
    let mut pairs = Vec::with_capacity(raw_headers.len() / 2);
    let mut items = raw_headers.into_iter();
    while let (Some(name), Some(value)) = (items.next(), items.next()) {
        let latin1 = value.chars().map(|c| u8::try_from(c).ok()).collect::<Option<Vec<u8>>>();
        pairs.push((name, latin1.unwrap_or_else(|| value.into_bytes())));
    }
    Ok(pairs)
}

fn borrowed(pairs: &[(String, Vec<u8>)]) -> impl Iterator<Item = (&str, &[u8])> {
    pairs.iter().map(|(name, value)| (name.as_str(), value.as_slice()))
}

/// The subscriptions laid out as `startAppServer` takes them (`dispatch` is the facade's
/// dispatcher); throws on a route two subscriptions share. `APP_API_TOKEN` is read now.
#[napi]
pub fn http_routes(
    env: &Env,
    subscriptions: Vec<NativeSubscription>,
    #[napi(ts_arg_type = "(delivery: Delivery) => Promise<unknown>")] dispatch: WeakDispatch,
) -> napi::Result<NativeHttpRoutes> {
    // Weak: the app's own server keeps the process alive while it serves, and these routes must
    // not keep it alive once that server closed (a router the app mounted is never stopped).
    let dispatch = Arc::new(dispatch);
    let mut subs: Vec<Subscription> = Vec::with_capacity(subscriptions.len());
    for spec in subscriptions {
        let sub = subscription(spec, &dispatch);
        check_route_is_free(&subs, &sub).map_err(|e| to_js_error(env, &e))?;
        subs.push(sub);
    }
    Ok(NativeHttpRoutes { subscriptions: Arc::new(subs), app_api_token: app_api_token_from_env() })
}

#[napi]
pub struct NativeHttpRoutes {
    subscriptions: Arc<Vec<Subscription>>,
    /// `APP_API_TOKEN` when the routes were made: the sidecar must present it on every call.
    app_api_token: Option<String>,
}

#[napi]
impl NativeHttpRoutes {
    /// The paths the sidecar POSTs deliveries to, one per subscription route.
    #[napi(getter)]
    pub fn paths(&self) -> Vec<String> {
        self.subscriptions.iter().map(Subscription::route).collect()
    }

    /// The answer to `GET /dapr/subscribe` carrying `rawHeaders`.
    #[napi]
    pub fn subscribe_reply(&self, env: &Env, raw_headers: Vec<String>) -> napi::Result<NativeHttpReply> {
        let headers = header_pairs(env, raw_headers)?;
        Ok(subscribe_reply(&self.subscriptions, self.app_api_token.as_deref(), borrowed(&headers)).into())
    }

    /// Reads a delivery POSTed to `path`, runs its handler on each event (a bulk envelope's at
    /// once) and resolves to the reply; a call core refuses (no token, not a CloudEvent) resolves
    /// to that refusal without calling any handler.
    #[napi(ts_return_type = "Promise<NativeHttpReply>")]
    pub fn deliver<'env>(
        &self,
        env: &'env Env,
        path: String,
        raw_headers: Vec<String>,
        body: Buffer,
    ) -> napi::Result<PromiseRaw<'env, NativeHttpReply>> {
        let headers = header_pairs(env, raw_headers)?;
        let body = body.to_vec();
        let subscriptions = self.subscriptions.clone();
        let app_api_token = self.app_api_token.clone();
        promise(env, async move {
            let (sub, delivery) = match read_delivery(&subscriptions, app_api_token.as_deref(), &path, borrowed(&headers), &body) {
                Ok(read) => read,
                Err(refused) => return Ok(refused.into()),
            };
            let running: Vec<_> = delivery
                .events
                .into_iter()
                .map(|event| {
                    let (handler, id) = (sub.handler.clone(), event.id.clone());
                    (id, tokio::spawn(async move { handler.handle(event).await }))
                })
                .collect();
            let mut statuses: Vec<TopicEventStatus> = Vec::with_capacity(running.len());
            for (id, task) in running {
                // A panic is the handler's failure; a task cancelled (the runtime ending) is too.
                let outcome = task.await.map_err(|e| match e.try_into_panic() {
                    Ok(panic) => panic,
                    Err(e) => Box::new(e.to_string()) as Box<dyn Any + Send>,
                });
                statuses.push(answer_of(&id, outcome));
            }
            Ok(delivery.answer.reply(&statuses).into())
        })
    }
}
