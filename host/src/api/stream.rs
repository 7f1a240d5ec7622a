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

use super::admission::Admitted;
use crate::bus::{AskResult, Bus, BusEvent};
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
