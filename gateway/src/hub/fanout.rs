//! The fan-out: one broadcast offered to every local subscriber of its
//! room, written straight to each socket (see `transport::link`).
//!
//! A room's members are split into parts (`hub::rooms`). The deliverer
//! writes part 0 itself; for a room of at least [`SPLIT_MIN`] members, the
//! other parts go to lanes, one OS thread per extra part, so a broadcast
//! to thousands of sockets uses every core. A lane only ever writes its own
//! part, and a room keeps using the lanes while any of its jobs is still
//! queued there, so every connection sees its room's messages in order.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use parking_lot::Mutex;

use super::rooms::Room;
use crate::metrics::GatewayMetrics;
use crate::transport::accounting;
use crate::transport::frames::Broadcast;
use crate::transport::link::Offer;

/// Rooms with fewer members are written by the deliverer alone.
pub const SPLIT_MIN: usize = 512;

/// Jobs a lane queues at most; a deliverer that finds it full waits, so a
/// lane that falls behind slows the bus reader instead of growing memory.
const LANE_QUEUE: usize = 1024;

/// One part of one broadcast, for a lane.
struct Job {
    /// The room.
    room: Arc<Room>,
    /// The part to write.
    part: usize,
    /// The broadcast.
    b: Arc<Broadcast>,
}

/// The fan-out and its lanes.
pub struct Fanout {
    /// Each lane's queue (`None` once stopped).
    lanes: Mutex<Vec<SyncSender<Job>>>,
    /// The lane threads, joined on stop.
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Metric handles.
    metrics: Arc<GatewayMetrics>,
}

impl Fanout {
    /// A fan-out with `lanes` extra threads (rooms then have `lanes + 1`
    /// parts).
    pub fn new(lanes: usize, metrics: Arc<GatewayMetrics>) -> Self {
        let mut senders = Vec::with_capacity(lanes);
        let mut threads = Vec::with_capacity(lanes);
        for i in 0..lanes {
            let (tx, rx) = sync_channel::<Job>(LANE_QUEUE);
            let m = metrics.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("herald-fanout-{}", i + 1))
                .spawn(move || lane(rx, &m));
            match spawned {
                Ok(t) => {
                    senders.push(tx);
                    threads.push(t);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start a fan-out lane; using fewer");
                    break;
                }
            }
        }
        Self {
            lanes: Mutex::new(senders),
            threads: Mutex::new(threads),
            metrics,
        }
    }

    /// Parts a room is split into.
    pub fn parts(&self) -> usize {
        self.lanes.lock().len() + 1
    }

    /// Offers `b` to every member of `room`.
    pub fn deliver(&self, room: &Arc<Room>, b: &Arc<Broadcast>) {
        let parts = room.parts.len();
        // One token per part plus the deliverer's: each part adds its
        // members under its lock, so joins meanwhile cannot skew the count.
        b.begin_fanout(parts);
        let split =
            parts > 1 && (room.len() >= SPLIT_MIN || room.outstanding.load(Ordering::Acquire) > 0);
        let lanes = if split {
            self.lanes.lock().clone()
        } else {
            Vec::new()
        };
        if split && lanes.len() + 1 == parts {
            room.outstanding.fetch_add(parts - 1, Ordering::AcqRel);
            for (i, lane) in lanes.iter().enumerate() {
                let job = Job {
                    room: room.clone(),
                    part: i + 1,
                    b: b.clone(),
                };
                if let Err(e) = lane.send(job) {
                    // The lane stopped (shutdown): write its part here.
                    let job = e.0;
                    write_part(&job.room, job.part, &job.b, &self.metrics);
                    job.room.outstanding.fetch_sub(1, Ordering::AcqRel);
                }
            }
            write_part(room, 0, b, &self.metrics);
        } else {
            for part in 0..parts {
                write_part(room, part, b, &self.metrics);
            }
        }
        accounting::done(&self.metrics, b, 1);
    }

    /// Stops the lanes and waits for their threads.
    pub fn stop(&self) {
        self.lanes.lock().clear();
        for t in std::mem::take(&mut *self.threads.lock()) {
            let _ = t.join();
        }
    }
}

impl Drop for Fanout {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lane(rx: Receiver<Job>, metrics: &GatewayMetrics) {
    while let Ok(job) = rx.recv() {
        write_part(&job.room, job.part, &job.b, metrics);
        job.room.outstanding.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Offers `b` to the members of one part and closes the part's token.
fn write_part(room: &Room, part: usize, b: &Arc<Broadcast>, metrics: &GatewayMetrics) {
    let Some(p) = room.parts.get(part) else {
        accounting::done(metrics, b, 1);
        return;
    };
    let p = p.lock();
    b.add_pending(p.members.len());
    let mut written = [0u64; crate::metrics::TRANSPORTS.len()];
    let mut settled = 0usize;
    for m in &p.members {
        match m.link.offer(m.slot, b) {
            Offer::Written => {
                if let Some(w) = written.get_mut(usize::from(m.link.transport())) {
                    *w += 1;
                }
                settled += 1;
            }
            Offer::Skipped | Offer::Dropped => settled += 1,
            // Completed later, by the flush or by the connection's task.
            Offer::Queued | Offer::Deferred => {}
        }
    }
    drop(p);
    for (t, &n) in written.iter().enumerate() {
        if n > 0 {
            metrics.count_delivered(t as crate::metrics::TransportIdx, n);
        }
    }
    accounting::done(metrics, b, settled + 1);
}
