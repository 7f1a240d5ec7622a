//! Host counters for `/metrics` (Prometheus text format): HTTP requests and
//! latencies, plugin calls by outcome and the fuel they used, instance-pool
//! events of pooled plugins, policy denials by policy, hot swaps. The LLM chain keeps its own counters (`djinn_llm::Metrics`);
//! the API renders both.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Latency bucket upper bounds, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

#[derive(Debug, Default)]
pub struct HostMetrics {
    http: Mutex<BTreeMap<(String, u16), u64>>,
    http_latency: Mutex<BTreeMap<String, Histogram>>,
    /// Calls, fuel and pool events by plugin id: one map and one lock, looked up
    /// by `&str`, so a call's counters cost no allocation (a plugin's id is copied
    /// once, on its first call). Every plugin call and policy verdict bumps them,
    /// ~70 times a question.
    plugins: Mutex<BTreeMap<String, PluginCounters>>,
    policy_denials: Mutex<BTreeMap<String, u64>>,
    hot_swaps: AtomicU64,
}

/// One plugin's counters.
#[derive(Debug, Default)]
struct PluginCounters {
    /// Calls by outcome (`ok` or a fault kind).
    calls: BTreeMap<&'static str, u64>,
    fuel: u64,
    /// Pool events, indexed by [`PoolEvent::index`].
    pool: [u64; PoolEvent::ALL.len()],
}

/// What a call of a pooled plugin (`[limits] pool > 0`) did with an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PoolEvent {
    /// The call took an idle instance.
    Hit,
    /// No instance was idle; the call instantiated a fresh one.
    Miss,
    /// The call faulted; its instance was dropped rather than reused.
    Discard,
    /// The call ended cleanly but the pool (or the host's idle budget) was full.
    Overflow,
}

impl PoolEvent {
    const ALL: [PoolEvent; 4] = [
        PoolEvent::Hit,
        PoolEvent::Miss,
        PoolEvent::Discard,
        PoolEvent::Overflow,
    ];

    fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PoolEvent::Hit => "hit",
            PoolEvent::Miss => "miss",
            PoolEvent::Discard => "discard",
            PoolEvent::Overflow => "overflow",
        }
    }
}

fn bump<K: Ord>(m: &Mutex<BTreeMap<K, u64>>, k: K, by: u64) {
    if let Ok(mut m) = m.lock() {
        *m.entry(k).or_default() += by;
    }
}

/// Escapes a label value for the text format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl HostMetrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn http_request(&self, route: &str, status: u16, elapsed: Duration) {
        bump(&self.http, (route.to_owned(), status), 1);
        if let Ok(mut h) = self.http_latency.lock() {
            h.entry(route.to_owned())
                .or_default()
                .observe(elapsed.as_secs_f64());
        }
    }

    /// Runs `f` on `plugin`'s counters, creating them on its first use.
    fn for_plugin(&self, plugin: &str, f: impl FnOnce(&mut PluginCounters)) {
        let Ok(mut m) = self.plugins.lock() else {
            return;
        };
        match m.get_mut(plugin) {
            Some(c) => f(c),
            None => f(m.entry(plugin.to_owned()).or_default()),
        }
    }

    pub fn plugin_call(&self, plugin: &str, outcome: &'static str, fuel: u64) {
        self.for_plugin(plugin, |c| {
            *c.calls.entry(outcome).or_default() += 1;
            c.fuel += fuel;
        });
    }

    pub fn plugin_pool(&self, plugin: &str, event: PoolEvent) {
        self.for_plugin(plugin, |c| c.pool[event.index()] += 1);
    }

    /// How often `plugin`'s pool saw `event` (for tests and reports).
    pub fn plugin_pool_count(&self, plugin: &str, event: PoolEvent) -> u64 {
        self.plugins
            .lock()
            .ok()
            .and_then(|m| m.get(plugin).map(|c| c.pool[event.index()]))
            .unwrap_or(0)
    }

    pub fn policy_denial(&self, policy: &str) {
        bump(&self.policy_denials, policy.to_owned(), 1);
    }

    pub fn hot_swap(&self) {
        self.hot_swaps.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of every host counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP djinn_http_requests_total HTTP requests by route and status."
        );
        let _ = writeln!(out, "# TYPE djinn_http_requests_total counter");
        if let Ok(m) = self.http.lock() {
            for ((route, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "djinn_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                    label(route)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP djinn_http_request_duration_seconds HTTP latency by route."
        );
        let _ = writeln!(out, "# TYPE djinn_http_request_duration_seconds histogram");
        if let Ok(m) = self.http_latency.lock() {
            for (route, h) in m.iter() {
                let r = label(route);
                for (i, le) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "djinn_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{le}\"}} {}",
                        h.counts[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "djinn_http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "djinn_http_request_duration_seconds_sum{{route=\"{r}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "djinn_http_request_duration_seconds_count{{route=\"{r}\"}} {}",
                    h.count
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP djinn_plugin_calls_total Plugin calls by plugin and outcome."
        );
        let _ = writeln!(out, "# TYPE djinn_plugin_calls_total counter");
        let guard = self.plugins.lock();
        let plugins = guard.as_deref().ok();
        for (plugin, c) in plugins.into_iter().flatten() {
            for (outcome, n) in &c.calls {
                let _ = writeln!(
                    out,
                    "djinn_plugin_calls_total{{plugin=\"{}\",outcome=\"{outcome}\"}} {n}",
                    label(plugin)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP djinn_plugin_fuel_total Fuel consumed by plugin."
        );
        let _ = writeln!(out, "# TYPE djinn_plugin_fuel_total counter");
        for (plugin, c) in plugins.into_iter().flatten() {
            if !c.calls.is_empty() {
                let _ = writeln!(
                    out,
                    "djinn_plugin_fuel_total{{plugin=\"{}\"}} {}",
                    label(plugin),
                    c.fuel
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP djinn_plugin_pool_total Instance-pool events of pooled plugins (hit, miss, discard, overflow)."
        );
        let _ = writeln!(out, "# TYPE djinn_plugin_pool_total counter");
        for (plugin, c) in plugins.into_iter().flatten() {
            for event in PoolEvent::ALL {
                let n = c.pool[event.index()];
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "djinn_plugin_pool_total{{plugin=\"{}\",event=\"{}\"}} {n}",
                        label(plugin),
                        event.as_str()
                    );
                }
            }
        }
        drop(guard);
        let _ = writeln!(out, "# HELP djinn_policy_denials_total Denials by policy.");
        let _ = writeln!(out, "# TYPE djinn_policy_denials_total counter");
        if let Ok(m) = self.policy_denials.lock() {
            for (policy, n) in m.iter() {
                let _ = writeln!(
                    out,
                    "djinn_policy_denials_total{{policy=\"{}\"}} {n}",
                    label(policy)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP djinn_hot_swaps_total Plugin installs, replacements, state changes and removals."
        );
        let _ = writeln!(out, "# TYPE djinn_hot_swaps_total counter");
        let _ = writeln!(
            out,
            "djinn_hot_swaps_total {}",
            self.hot_swaps.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = HostMetrics::new();
        m.http_request("/v1/ask", 200, Duration::from_millis(3));
        m.plugin_call("echo", "ok", 4000);
        m.plugin_call("echo", "trap", 10);
        m.policy_denial("pii");
        m.plugin_pool("coach", PoolEvent::Hit);
        m.plugin_pool("coach", PoolEvent::Hit);
        m.plugin_pool("coach", PoolEvent::Discard);
        m.hot_swap();
        let text = m.render();
        assert!(text.contains("djinn_http_requests_total{route=\"/v1/ask\",status=\"200\"} 1"));
        assert!(text.contains(
            "djinn_http_request_duration_seconds_bucket{route=\"/v1/ask\",le=\"0.0025\"} 0"
        ));
        assert!(text.contains(
            "djinn_http_request_duration_seconds_bucket{route=\"/v1/ask\",le=\"0.005\"} 1"
        ));
        assert!(text.contains("djinn_plugin_calls_total{plugin=\"echo\",outcome=\"trap\"} 1"));
        assert!(text.contains("djinn_plugin_fuel_total{plugin=\"echo\"} 4010"));
        assert!(text.contains("djinn_policy_denials_total{policy=\"pii\"} 1"));
        assert!(text.contains("djinn_hot_swaps_total 1"));
        assert!(text.contains("djinn_plugin_pool_total{plugin=\"coach\",event=\"hit\"} 2"));
        assert!(text.contains("djinn_plugin_pool_total{plugin=\"coach\",event=\"discard\"} 1"));
        // Only events that happened are shown, and fuel only for plugins that were called.
        assert!(!text.contains("event=\"miss\""));
        assert!(!text.contains("djinn_plugin_fuel_total{plugin=\"coach\"}"));
        assert_eq!(m.plugin_pool_count("coach", PoolEvent::Hit), 2);
        assert_eq!(m.plugin_pool_count("coach", PoolEvent::Miss), 0);
    }
}
