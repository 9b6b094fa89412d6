//! Change-event fan-out under write load. Opens `--subscribers` Server-Sent Events streams on
//! `GET /changes`, waits until every one is open (its `retry:` line arrived), then inserts
//! customers on a steady schedule for `--duration` seconds. For every subscriber and every
//! insert it takes the delay from the insert's 2xx answer (the commit acknowledged) to the
//! arrival of that insert's event at that subscriber. Every message of every stream is parsed
//! and accounted for: events missing at a subscriber, duplicates, ids out of order, malformed
//! messages and events of no insert of this run are all counted.
//!
//! Prints a summary on stderr and one `RESULT key=value ...` line on stdout (bench/fanout.sh
//! files it). Exits non-zero only when it could not measure (a stream did not open, the tool's
//! own tasks failed); bad deliveries are results, not failures.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;
use serde_json::Value as Json;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How long the subscriptions may take to open, all together.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// An insert unanswered this long is an error, as in the wrk scenarios.
const INSERT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Parser)]
#[command(about = "Change-event delivery to SSE subscribers under a steady insert load")]
struct Args {
    /// Base URL of the composed API, which the inserts go to.
    #[arg(long, default_value = "http://127.0.0.1:3042")]
    base: String,
    /// Base URL the subscribers read `/changes` from (default: `--base`): another runtime
    /// process over the same database measures delivery across processes.
    #[arg(long)]
    subscribe: Option<String>,
    /// Server-Sent Events subscriptions to /changes.
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Inserts a second. Each is due at its slot of a fixed schedule, so a slow answer does
    /// not push the later inserts back while another connection is free.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Inserts in flight at most (one connection each).
    #[arg(long, default_value_t = 8)]
    conns: usize,
    /// Seconds of inserts.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds to wait after the last insert for events still on their way; what has not
    /// arrived by then is missing.
    #[arg(long, default_value_t = 5.0)]
    drain: f64,
    /// The inserted customers' foreign keys are spread over 1..=MAX_ID (the seeded rows).
    #[arg(long, default_value_t = 10_000)]
    max_id: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("fanout: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let base = args.base.trim_end_matches('/');
    let feed = args
        .subscribe
        .as_deref()
        .unwrap_or(base)
        .trim_end_matches('/');
    let client = reqwest::Client::new();
    let (stop, stopped) = watch::channel(false);
    let (opened, mut open) = mpsc::channel(args.subscribers);
    // First arrivals of customer inserts at all subscribers: the drain ends when all are in.
    let delivered = Arc::new(AtomicU64::new(0));
    let subscribers: Vec<JoinHandle<Result<Seen, String>>> = (0..args.subscribers)
        .map(|_| {
            tokio::spawn(subscribe(
                client.clone(),
                format!("{feed}/changes"),
                opened.clone(),
                delivered.clone(),
                stopped.clone(),
            ))
        })
        .collect();
    let deadline = Instant::now() + OPEN_TIMEOUT;
    for count in 0..args.subscribers {
        if !matches!(
            tokio::time::timeout_at(deadline, open.recv()).await,
            Ok(Some(()))
        ) {
            return Err(format!(
                "{count} of {} subscriptions opened within {OPEN_TIMEOUT:?}",
                args.subscribers
            ));
        }
    }
    eprintln!("fanout: {} subscriptions open", args.subscribers);

    let schedule = Arc::new(Schedule {
        start: Instant::now(),
        rate: args.rate,
        total: (args.rate * args.duration).round() as u64,
        next: AtomicU64::new(0),
    });
    let inserters: Vec<_> = (0..args.conns)
        .map(|_| {
            tokio::spawn(insert(
                client.clone(),
                format!("{base}/customers"),
                schedule.clone(),
                args.max_id,
            ))
        })
        .collect();
    let mut acked = Vec::new();
    let mut insert_errors = 0;
    for inserter in inserters {
        let (answers, errors) = inserter.await.map_err(|e| e.to_string())?;
        acked.extend(answers);
        insert_errors += errors;
    }
    let last_ack = acked.iter().map(|&(_, at)| at).max();
    let seconds = last_ack.map_or(0.0, |at| (at - schedule.start).as_secs_f64());

    let expected = (acked.len() * args.subscribers) as u64;
    let drained = Instant::now() + Duration::from_secs_f64(args.drain);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < drained {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.send_replace(true);
    let mut seen = Vec::with_capacity(subscribers.len());
    for subscriber in subscribers {
        seen.push(subscriber.await.map_err(|e| e.to_string())??);
    }

    report(&acked, insert_errors, seconds, &mut seen);
    Ok(())
}

/// When each insert is due: `start` + i / `rate`, for i below `total`.
struct Schedule {
    start: Instant,
    rate: f64,
    total: u64,
    next: AtomicU64,
}

/// One inserting connection: takes the next slot of the schedule, waits for it, inserts.
/// Answers the customer id and answer time of each 2xx insert, and the count of the others.
async fn insert(
    client: reqwest::Client,
    url: String,
    schedule: Arc<Schedule>,
    max_id: u64,
) -> (Vec<(i64, Instant)>, u64) {
    #[derive(Deserialize)]
    struct Created {
        id: Json,
    }
    let mut acked = Vec::new();
    let mut errors = 0;
    loop {
        let i = schedule.next.fetch_add(1, Ordering::Relaxed);
        if i >= schedule.total {
            return (acked, errors);
        }
        tokio::time::sleep_until(
            schedule.start + Duration::from_secs_f64(i as f64 / schedule.rate),
        )
        .await;
        // Foreign keys spread over the seeded rows, as the wrk insert scenario's (there random).
        let fk = |salt: u64| (i * 7_919 + salt * 3_571) % max_id + 1;
        let body = format!(
            r#"{{"name":"Fanout {i}","emailId":{},"phoneId":{},"addressId":{}}}"#,
            fk(0),
            fk(1),
            fk(2)
        );
        let sent = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .timeout(INSERT_TIMEOUT)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => {
                // The status line is the acknowledgement; the body (the row) follows it.
                let at = Instant::now();
                match response
                    .json::<Created>()
                    .await
                    .ok()
                    .and_then(|c| key_id(&c.id))
                {
                    Some(id) => acked.push((id, at)),
                    None => errors += 1,
                }
            }
            _ => errors += 1,
        }
    }
}

/// What one subscriber received.
#[derive(Debug, Default)]
struct Seen {
    /// Customer id -> when its insert event first arrived.
    arrivals: HashMap<i64, Instant>,
    duplicates: u64,
    /// Events whose id was not above the one before.
    out_of_order: u64,
    /// Messages that did not parse, or whose `id:`/`event:` lines disagree with their data.
    malformed: u64,
    /// Events of another table or operation.
    other: u64,
    last_id: i64,
    /// The server ended the stream before the run did.
    closed: bool,
}

/// The fields of an event's data that identify it.
#[derive(Deserialize)]
struct Event {
    id: i64,
    table: String,
    op: String,
    key: serde_json::Map<String, Json>,
}

/// One subscription, read until `stop`; signals `opened` when its `retry:` line arrives.
async fn subscribe(
    client: reqwest::Client,
    url: String,
    opened: mpsc::Sender<()>,
    delivered: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) -> Result<Seen, String> {
    let mut response = client
        .get(&url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url} answered {}", response.status()));
    }
    let mut seen = Seen::default();
    let mut buffer = Vec::new();
    loop {
        let chunk = tokio::select! {
            chunk = response.chunk() => chunk.map_err(|e| format!("{url}: {e}"))?,
            _ = stop.changed() => return Ok(seen),
        };
        let Some(chunk) = chunk else {
            seen.closed = true;
            return Ok(seen);
        };
        // A message arrives with its last byte: the chunk that completes it.
        let now = Instant::now();
        buffer.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(end) = buffer[start..].windows(2).position(|w| w == b"\n\n") {
            let message = &buffer[start..start + end];
            start += end + 2;
            let Ok(message) = std::str::from_utf8(message) else {
                seen.malformed += 1;
                continue;
            };
            if message.starts_with("retry:") {
                // The receiver is gone only once the run has given up waiting.
                let _ = opened.send(()).await;
            } else if !message.starts_with(':') && seen.event(message, now) {
                delivered.fetch_add(1, Ordering::Relaxed);
            }
        }
        buffer.drain(..start);
    }
}

impl Seen {
    /// Accounts for one event message (the server's `id:`, `event:`, `data:` lines); answers
    /// whether it was the first arrival of a customer insert.
    fn event(&mut self, message: &str, at: Instant) -> bool {
        let (mut id, mut op, mut data) = (None, None, None);
        for line in message.lines() {
            match line.split_once(": ") {
                Some(("id", value)) => id = value.parse::<i64>().ok(),
                Some(("event", value)) => op = Some(value),
                Some(("data", value)) => data = Some(value),
                _ => {}
            }
        }
        let event = data.and_then(|d| serde_json::from_str::<Event>(d).ok());
        let Some(event) = event.filter(|e| id == Some(e.id) && op == Some(e.op.as_str())) else {
            self.malformed += 1;
            return false;
        };
        if event.id <= self.last_id {
            self.out_of_order += 1;
        }
        self.last_id = self.last_id.max(event.id);
        let customer = (event.table == "customers" && event.op == "insert")
            .then(|| event.key.get("id").and_then(key_id))
            .flatten();
        let Some(customer) = customer else {
            self.other += 1;
            return false;
        };
        if self.arrivals.contains_key(&customer) {
            self.duplicates += 1;
            return false;
        }
        self.arrivals.insert(customer, at);
        true
    }
}

/// A key as the API writes it: a JSON number, or a string of one.
fn key_id(value: &Json) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

fn report(acked: &[(i64, Instant)], insert_errors: u64, seconds: f64, seen: &mut [Seen]) {
    let mut delays = Vec::with_capacity(acked.len() * seen.len());
    let mut missing = 0u64;
    let mut unexpected = 0u64;
    for subscriber in seen.iter_mut() {
        for &(id, ack) in acked {
            match subscriber.arrivals.remove(&id) {
                // Signed: an event may reach a subscriber before the inserter has its answer.
                Some(at) if at >= ack => delays.push((at - ack).as_secs_f64() * 1e3),
                Some(at) => delays.push(-(ack - at).as_secs_f64() * 1e3),
                None => missing += 1,
            }
        }
        // What is left arrived for no acknowledged insert of this run.
        unexpected += subscriber.arrivals.len() as u64 + subscriber.other;
    }
    delays.sort_by(f64::total_cmp);
    let sum = |f: fn(&Seen) -> u64| seen.iter().map(f).sum::<u64>();
    let duplicates = sum(|s| s.duplicates);
    let out_of_order = sum(|s| s.out_of_order);
    let malformed = sum(|s| s.malformed);
    let closed = sum(|s| u64::from(s.closed));
    let early = delays.iter().filter(|d| **d < 0.0).count();
    let rate = if seconds > 0.0 {
        acked.len() as f64 / seconds
    } else {
        0.0
    };
    let q = |p: f64| quantile(&delays, p);
    eprintln!(
        "fanout: {} subscribers, {} inserts answered in {seconds:.1} s ({rate:.0}/s), {insert_errors} insert errors",
        seen.len(),
        acked.len()
    );
    eprintln!(
        "fanout: insert answer -> event at a subscriber, {} pairs: median {:.2} ms, p90 {:.2}, p99 {:.2}, max {:.2}, min {:.2} ({early} before the answer)",
        delays.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0),
        q(0.0)
    );
    eprintln!(
        "fanout: missing {missing}, duplicates {duplicates}, out of order {out_of_order}, malformed {malformed}, unexpected {unexpected}, streams closed early {closed}"
    );
    println!(
        "RESULT subscribers={} inserts={} insert_errors={insert_errors} seconds={seconds:.2} rate={rate:.1} \
         pairs={} p50_ms={:.2} p90_ms={:.2} p99_ms={:.2} max_ms={:.2} min_ms={:.2} early={early} \
         missing={missing} duplicates={duplicates} out_of_order={out_of_order} malformed={malformed} \
         unexpected={unexpected} closed={closed}",
        seen.len(),
        acked.len(),
        delays.len(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0),
        q(0.0)
    );
}

/// The nearest-rank quantile of sorted values (NaN when there are none).
fn quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
