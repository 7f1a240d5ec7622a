//! `POST /v1/ask/stream`: the question as Server-Sent Events.
//!
//! The stream owns the question's future: axum polls it only while the client
//! reads, and dropping the stream (the client disconnected) drops the future,
//! which aborts the question's pending deliveries and evicts its state. No task
//! is spawned, so nothing outlives the connection except the answer's
//! background work (the judge), as with `/v1/ask`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::sse::Event;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use utoipa::openapi::schema::{Object, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{RefOr, extensions::Extensions};
use utoipa::{PartialSchema, ToSchema};

use super::admission::Admitted;
use crate::bus::{AgentCall, AskResult, Bus, BusEvent, FailedBranch, StageTiming, VerdictRecord};
use crate::metrics::HostMetrics;

type Ask = Pin<Box<dyn Future<Output = AskResult> + Send>>;

/// Bus events as they happen, then one `answer` event with the whole result.
pub struct AskStream {
    ask: Option<Ask>,
    events: UnboundedReceiver<BusEvent>,
    result: Option<AskResult>,
    metrics: Arc<HostMetrics>,
    /// The question's admission, released when the stream ends or is dropped.
    _admitted: Admitted,
}

impl AskStream {
    pub fn new(
        bus: Arc<Bus>,
        question: String,
        context: serde_json::Value,
        metrics: Arc<HostMetrics>,
        admitted: Admitted,
    ) -> Self {
        let (tx, events) = unbounded_channel();
        let ask = Box::pin(async move { bus.ask_with_events(&question, context, tx).await });
        Self {
            ask: Some(ask),
            events,
            result: None,
            metrics,
            _admitted: admitted,
        }
    }
}

fn event(name: &str, data: &impl serde::Serialize) -> Event {
    Event::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|e| Event::default().event("error").data(e.to_string()))
}

impl futures_core::Stream for AskStream {
    type Item = Result<Event, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(ask) = self.ask.as_mut()
            && let Poll::Ready(result) = ask.as_mut().poll(cx)
        {
            // The question is over; its sender is gone with the future, so the
            // receiver drains what is queued and then ends.
            self.ask = None;
            self.result = Some(result);
        }
        match self.events.poll_recv(cx) {
            Poll::Ready(Some(ev)) => Poll::Ready(Some(Ok(event(ev.name(), &ev)))),
            Poll::Ready(None) => Poll::Ready(self.result.take().map(|result| {
                for v in result.verdicts.iter().filter(|v| v.verdict == "deny") {
                    self.metrics.policy_denial(&v.policy);
                }
                Ok(event("answer", &result))
            })),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// One event of `POST /v1/ask/stream` in the OpenAPI document: the `event` name
/// and its `data`, a JSON text whose schema depends on the name. This is how
/// OpenAPI 3.2 describes an event stream (`itemSchema`); in a 3.1 document the
/// media type's `schema` describes one event, which is how schemathesis reads
/// it and validates every event's data.
pub struct StreamEvent;

/// `{"type": "string", "contentMediaType": "application/json", "contentSchema": schema}`.
/// utoipa 5 has no `contentSchema` keyword; its extensions are flattened into
/// the schema object, so the keyword goes in as one (without the `x-` prefix,
/// which only the builder adds).
fn json_text(schema: RefOr<Schema>) -> Object {
    let mut keyword = Extensions::default();
    keyword.insert(
        "contentSchema".to_owned(),
        serde_json::to_value(schema).unwrap_or_default(),
    );
    let mut text = Object::with_type(Type::String);
    text.content_media_type = "application/json".to_owned();
    text.extensions = Some(keyword);
    text
}

fn reference<T: ToSchema>() -> RefOr<Schema> {
    RefOr::Ref(utoipa::openapi::Ref::from_schema_name(T::name()))
}

impl PartialSchema for StreamEvent {
    fn schema() -> RefOr<Schema> {
        let started = ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::Object))
            .property("correlation_id", Object::with_type(Type::String))
            .required("correlation_id")
            .into();
        let events: [(&str, &str, RefOr<Schema>); 6] = [
            ("started", "The question entered the bus", started),
            (
                "verdict",
                "One policy's verdict on one message",
                reference::<VerdictRecord>(),
            ),
            (
                "message",
                "One agent call: its outputs, or its fault",
                reference::<AgentCall>(),
            ),
            (
                "branch",
                "A branch failed (fault, error, denial, limit)",
                reference::<FailedBranch>(),
            ),
            (
                "stage",
                "A fan-out/fan-in stage finished",
                reference::<StageTiming>(),
            ),
            (
                "answer",
                "Last: the whole result, as `POST /v1/ask` returns it; its `status` says how the question ended",
                reference::<AskResult>(),
            ),
        ];
        let mut one_of = OneOfBuilder::new().description(Some(
            "One Server-Sent Event: `started`, then `verdict`, `message`, `branch` and `stage` \
             as they happen, then one `answer`. Comments keep an idle stream alive.",
        ));
        for (name, what, data) in events {
            one_of = one_of.item(
                ObjectBuilder::new()
                    .schema_type(SchemaType::new(Type::Object))
                    .description(Some(what))
                    .property(
                        "event",
                        ObjectBuilder::new()
                            .schema_type(SchemaType::new(Type::String))
                            .enum_values(Some([name])),
                    )
                    .property("data", json_text(data))
                    .required("event")
                    .required("data"),
            );
        }
        one_of.into()
    }
}

impl ToSchema for StreamEvent {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        fn add<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
            schemas.push((T::name().into_owned(), T::schema()));
            T::schemas(schemas);
        }
        add::<VerdictRecord>(schemas);
        add::<AgentCall>(schemas);
        add::<FailedBranch>(schemas);
        add::<StageTiming>(schemas);
        add::<AskResult>(schemas);
        add::<BusEvent>(schemas);
    }
}
