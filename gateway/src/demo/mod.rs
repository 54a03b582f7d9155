//! The built-in demo feed: realistic orders for a sales dashboard, like the
//! seed application's `orders` collection feeding `dashboard:sales` and its
//! sibling sections, and the live collection of the latest orders
//! ([`orders`], room `orders:live`) whose statuses change in place. Payload
//! shapes are documented in `gateway/assets/README.md`.

pub mod orders;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use herald_protocol::JsonText;
use herald_protocol::bus::Publication;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use herald_bus::Bus;
use herald_service::clock::unix_ms;

/// The event name every demo publication uses.
pub const EVENT: &str = "dashboard:update";

const CUSTOMERS: &[&str] = &[
    "Ada Lovelace",
    "Alan Turing",
    "Grace Hopper",
    "Edsger Dijkstra",
    "Barbara Liskov",
    "Donald Knuth",
    "Margaret Hamilton",
    "Ken Thompson",
    "Frances Allen",
    "John Backus",
];
const REGIONS: &[&str] = &["eu", "us", "apac"];
const STATUSES: &[&str] = &["paid", "paid", "paid", "pending", "shipped", "cancelled"];
/// (sku, name, unit price, reorder threshold)
const PRODUCTS: &[(&str, &str, f64, i64)] = &[
    ("SKU-001", "Espresso beans 1kg", 24.90, 15),
    ("SKU-002", "Filter papers x100", 4.50, 40),
    ("SKU-003", "Burr grinder", 149.00, 5),
    ("SKU-004", "Milk jug 600ml", 18.00, 10),
    ("SKU-005", "Tamper 58mm", 29.00, 8),
    ("SKU-006", "Descaler 500ml", 11.90, 20),
    ("SKU-007", "Cold brew kit", 39.00, 6),
    ("SKU-008", "Travel mug", 22.00, 12),
];
/// Most entries in a chart history.
const HISTORY: usize = 60;
/// Most recent orders listed.
const RECENT: usize = 10;

/// The demo's running state: enough to make every publication a full
/// snapshot of its section.
pub struct DemoState {
    /// Orders so far.
    orders_total: u64,
    /// Revenue so far.
    revenue_total: f64,
    /// Recent orders, newest first.
    recent: VecDeque<Value>,
    /// (time, amount) of the last minute's orders.
    last_minute: VecDeque<(u64, f64)>,
    /// Revenue per tick, oldest first.
    revenue_history: VecDeque<Value>,
    /// Orders per tick, oldest first.
    count_history: VecDeque<Value>,
    /// Stock per product, in `PRODUCTS` order.
    stock: Vec<i64>,
    /// Revenue and orders per region.
    by_region: BTreeMap<&'static str, (f64, u64)>,
    /// The live collection of the latest orders.
    live: orders::LiveOrders,
}

impl Default for DemoState {
    fn default() -> Self {
        Self {
            orders_total: 0,
            revenue_total: 0.0,
            recent: VecDeque::new(),
            last_minute: VecDeque::new(),
            revenue_history: VecDeque::new(),
            count_history: VecDeque::new(),
            stock: PRODUCTS.iter().map(|p| p.3 * 4).collect(),
            by_region: REGIONS.iter().map(|r| (*r, (0.0, 0))).collect(),
            live: orders::LiveOrders::default(),
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn push_bounded(q: &mut VecDeque<Value>, v: Value) {
    q.push_back(v);
    while q.len() > HISTORY {
        q.pop_front();
    }
}

impl DemoState {
    /// One tick: 1 to 3 new orders, then one full update for each of the
    /// four sections, then the live orders' changes.
    pub fn tick(&mut self, rng: &mut impl Rng, now_ms: u64) -> Vec<Publication> {
        let n = rng.random_range(1..=3);
        let mut tick_revenue = 0.0;
        let mut last_order = Value::Null;
        let mut fresh = Vec::with_capacity(n);
        for _ in 0..n {
            let order = self.order(rng, now_ms);
            tick_revenue += order["amount"].as_f64().unwrap_or(0.0);
            fresh.push(order.clone());
            last_order = order;
        }
        let live = self.live.tick(rng, &fresh, now_ms);
        if rng.random_range(0..10) == 0 {
            let i = rng.random_range(0..self.stock.len());
            self.stock[i] += PRODUCTS[i].3 * 3; // a delivery arrived
        }
        while self
            .last_minute
            .front()
            .is_some_and(|(t, _)| now_ms.saturating_sub(*t) > 60_000)
        {
            self.last_minute.pop_front();
        }
        push_bounded(
            &mut self.revenue_history,
            json!({ "ts": now_ms, "revenue": round2(tick_revenue) }),
        );
        push_bounded(&mut self.count_history, json!({ "ts": now_ms, "count": n }));
        let avg = if self.orders_total == 0 {
            0.0
        } else {
            round2(self.revenue_total / self.orders_total as f64)
        };
        let sales = json!({
            "ts": now_ms,
            "currency": "EUR",
            "revenue_total": round2(self.revenue_total),
            "orders_total": self.orders_total,
            "revenue_last_minute": round2(self.last_minute.iter().map(|(_, a)| a).sum()),
            "orders_last_minute": self.last_minute.len(),
            "avg_order_value": avg,
            "history": self.revenue_history,
        });
        let orders = json!({
            "ts": now_ms,
            "currency": "EUR",
            "order": last_order,
            "recent": self.recent,
            "orders_total": self.orders_total,
            "history": self.count_history,
        });
        let inventory = json!({
            "ts": now_ms,
            "items": PRODUCTS.iter().zip(&self.stock).map(|((sku, name, _, reorder_at), stock)| json!({
                "sku": sku, "name": name, "stock": stock, "reorder_at": reorder_at,
            })).collect::<Vec<_>>(),
        });
        let regions = json!({
            "ts": now_ms,
            "currency": "EUR",
            "revenue_by_region": self.by_region.iter().map(|(k, v)| (k.to_string(), json!(round2(v.0)))).collect::<serde_json::Map<_, _>>(),
            "orders_by_region": self.by_region.iter().map(|(k, v)| (k.to_string(), json!(v.1))).collect::<serde_json::Map<_, _>>(),
        });
        [
            ("dashboard:sales", sales),
            ("dashboard:orders", orders),
            ("dashboard:inventory", inventory),
            ("dashboard:regions", regions),
        ]
        .into_iter()
        .map(|(room, data)| Publication {
            room: room.into(),
            event: EVENT.into(),
            data: JsonText::from_value(&data),
            ts_ms: now_ms,
            src_ts_ms: None,
            src: None,
            src_pos: None,
            fence: None,
            set: None,
        })
        .chain(live.into_iter().map(|mut p| {
            p.ts_ms = now_ms;
            p
        }))
        .collect()
    }

    fn order(&mut self, rng: &mut impl Rng, now_ms: u64) -> Value {
        let region = REGIONS[rng.random_range(0..REGIONS.len())];
        let p = rng.random_range(0..PRODUCTS.len());
        let items: i64 = rng.random_range(1..=4).min(self.stock[p]).max(1);
        let amount = round2(PRODUCTS[p].2 * items as f64);
        self.stock[p] = (self.stock[p] - items).max(0);
        self.orders_total += 1;
        self.revenue_total += amount;
        let r = self.by_region.entry(region).or_default();
        r.0 += amount;
        r.1 += 1;
        self.last_minute.push_back((now_ms, amount));
        let order = json!({
            "id": format!("o-{:06}", self.orders_total),
            "customer": CUSTOMERS[rng.random_range(0..CUSTOMERS.len())],
            "region": region,
            "items": items,
            "amount": amount,
            "status": STATUSES[rng.random_range(0..STATUSES.len())],
            "ts": now_ms,
        });
        self.recent.push_front(order.clone());
        self.recent.truncate(RECENT);
        order
    }
}

/// Publishes `rate` ticks per second until `stop` fires.
pub async fn run(bus: Arc<dyn Bus>, rate: f64, stop: CancellationToken) {
    let mut state = DemoState::default();
    let mut rng = rand::rngs::StdRng::from_os_rng();
    let period = Duration::from_secs_f64(1.0 / rate);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let batch = state.tick(&mut rng, unix_ms());
        for r in bus.publish(batch).await {
            if let Err(e) = r {
                tracing::warn!(error = %e, "demo publish failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tick_updates_all_four_sections_consistently() {
        let mut s = DemoState::default();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut orders = 0;
        for i in 0..100u64 {
            let pubs = s.tick(&mut rng, 1_000 + i * 1000);
            assert!(
                pubs[4..]
                    .iter()
                    .all(|p| p.room == orders::ROOM && p.set.is_some())
            );
            let pubs = &pubs[..4];
            let data: Vec<serde_json::Value> = pubs.iter().map(|p| p.data.to_value()).collect();
            let sales = &data[0];
            let total = sales["orders_total"].as_u64().unwrap();
            assert!(
                total > orders && total <= orders + 3,
                "1 to 3 orders per tick"
            );
            orders = total;
            assert_eq!(data[1]["orders_total"].as_u64().unwrap(), total);
            let revenue = sales["revenue_total"].as_f64().unwrap();
            let regions: f64 = data[3]["revenue_by_region"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_f64().unwrap())
                .sum();
            assert!((regions - revenue).abs() < 0.05, "{regions} vs {revenue}");
            let region_orders: u64 = data[3]["orders_by_region"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum();
            assert_eq!(region_orders, total);
            assert!(sales["history"].as_array().unwrap().len() <= HISTORY);
            assert!(
                data[2]["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|it| it["stock"].as_i64().unwrap() >= 0)
            );
        }
        assert_eq!(s.recent.len(), RECENT);
        assert_eq!(s.revenue_history.len(), HISTORY);
    }
}
