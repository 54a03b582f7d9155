//! What a subscriber gets when it joins or rejoins a room, and the
//! recovery rule shared by every bus implementation.

use std::collections::VecDeque;
use std::sync::Arc;

use herald_protocol::Position;

use crate::Message;

/// What a new subscriber gets: the room's position and the messages to send.
#[derive(Debug, Clone)]
pub struct History {
    /// The room's current epoch.
    pub epoch: Arc<str>,
    /// The room's latest offset (0 when nothing was ever published).
    pub offset: u64,
    /// Messages to deliver, oldest first: the missed ones when `recovered`,
    /// otherwise the snapshot (the latest messages, up to the asked limit).
    pub messages: Vec<Arc<Message>>,
    /// Whether `messages` is exactly everything after the asked position.
    pub recovered: bool,
    /// For a live-collection room that did not recover: the whole set as
    /// one message at `offset` ([`crate::StoredSet::snapshot`]), which a
    /// new subscriber gets instead of `messages`. Read in the same step as
    /// the messages, so a caller that applies its own recovery rule to
    /// `messages` (the gateway's shared reads) can still use it.
    pub snapshot: Option<Arc<Message>>,
}

/// The recovery rule shared by bus implementations: exactly the messages
/// after `since` when all of them are held in the same epoch, else the
/// latest `limit` messages as a snapshot.
pub fn read_history(
    epoch: &Arc<str>,
    latest: u64,
    tail: &VecDeque<Arc<Message>>,
    since: Option<&Position>,
    limit: usize,
) -> History {
    let (messages, recovered) = select(epoch, latest, tail, since, limit, |m| m.offset);
    History {
        epoch: epoch.clone(),
        offset: latest,
        messages,
        recovered,
        snapshot: None,
    }
}

/// [`read_history`]'s rule over any kind of held message: `tail` is the
/// room's newest messages, oldest first, in `epoch` up to offset `latest`;
/// `offset` reads a message's offset. Returns the messages to send and
/// whether they are exactly everything after `since`.
pub fn select<T: Clone>(
    epoch: &str,
    latest: u64,
    tail: &VecDeque<T>,
    since: Option<&Position>,
    limit: usize,
    offset: impl Fn(&T) -> u64,
) -> (Vec<T>, bool) {
    if let Some(since) = since.filter(|s| s.epoch == epoch && s.offset <= latest) {
        let oldest_held = tail.front().map_or(latest + 1, &offset);
        if since.offset + 1 >= oldest_held {
            let messages = tail
                .iter()
                .filter(|m| offset(m) > since.offset)
                .cloned()
                .collect();
            return (messages, true);
        }
    }
    let skip = tail.len().saturating_sub(limit);
    (tail.iter().skip(skip).cloned().collect(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(epoch: &str, offset: u64) -> Position {
        Position {
            epoch: epoch.into(),
            offset,
        }
    }

    #[test]
    fn recovery_needs_the_same_epoch_and_every_later_message() {
        // Held: offsets 5..=9 of epoch e, latest 9.
        let tail: VecDeque<u64> = (5..=9).collect();
        let sel = |since: Option<&Position>| select("e", 9, &tail, since, 2, |o| *o);
        assert_eq!(sel(Some(&pos("e", 6))), (vec![7, 8, 9], true));
        assert_eq!(sel(Some(&pos("e", 4))), (vec![5, 6, 7, 8, 9], true));
        assert_eq!(sel(Some(&pos("e", 9))), (vec![], true));
        // Offset 4's successor is held, offset 3's is not.
        assert_eq!(sel(Some(&pos("e", 3))), (vec![8, 9], false));
        assert_eq!(sel(Some(&pos("other", 6))), (vec![8, 9], false));
        assert_eq!(
            sel(Some(&pos("e", 10))),
            (vec![8, 9], false),
            "ahead of the room"
        );
        assert_eq!(sel(None), (vec![8, 9], false));
    }

    #[test]
    fn an_empty_room_recovers_from_zero_in_its_epoch() {
        let tail: VecDeque<u64> = VecDeque::new();
        assert_eq!(
            select("e", 0, &tail, Some(&pos("e", 0)), 1, |o| *o),
            (vec![], true)
        );
        assert_eq!(select("e", 0, &tail, None, 1, |o| *o), (vec![], false));
    }
}
