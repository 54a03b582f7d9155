//! Shard selection and key names (`docs/adapter-protocol.md`, "Keys").

/// FNV-1a 64 of `bytes`: the stable hash that maps a room to its shard.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The shard of `room` among `shards` (which must be at least 1).
pub fn shard_of(room: &str, shards: u32) -> u32 {
    let n = u64::from(shards.max(1));
    // The remainder is below `shards`, so it fits in a u32.
    u32::try_from(fnv1a64(room.as_bytes()) % n).unwrap_or(0)
}

/// Builds the key names of one deployment.
#[derive(Debug, Clone)]
pub struct Keys {
    /// The key prefix, `herald` by default.
    prefix: String,
}

impl Keys {
    /// Key names under `prefix`.
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The shard stream: `<p>:{<s>}:stream`.
    pub fn stream(&self, shard: u32) -> String {
        format!("{}:{{{shard}}}:stream", self.prefix)
    }

    /// The room hash: `<p>:{<s>}:room:<room>`.
    pub fn room(&self, shard: u32, room: &str) -> String {
        format!("{}:{{{shard}}}:room:{room}", self.prefix)
    }

    /// The room's history stream: `<p>:{<s>}:hist:<room>`.
    pub fn hist(&self, shard: u32, room: &str) -> String {
        format!("{}:{{{shard}}}:hist:{room}", self.prefix)
    }

    /// The room's live-collection set, a hash of key text to document
    /// JSON: `<p>:{<s>}:set:<room>`.
    pub fn set(&self, shard: u32, room: &str) -> String {
        format!("{}:{{{shard}}}:set:{room}", self.prefix)
    }

    /// A source's fencing high-water mark in one shard: `<p>:{<s>}:fence:<src>`.
    pub fn fence(&self, shard: u32, src: &str) -> String {
        format!("{}:{{{shard}}}:fence:{src}", self.prefix)
    }

    /// The shard's data marker: `<p>:{<s>}:marker`.
    pub fn marker(&self, shard: u32) -> String {
        format!("{}:{{{shard}}}:marker", self.prefix)
    }

    /// The control stream: `<p>:{ctl}:control`.
    pub fn control(&self) -> String {
        format!("{}:{{ctl}}:control", self.prefix)
    }

    /// The node registry, a sorted set scored by heartbeat time: `<p>:{ctl}:nodes`.
    pub fn nodes(&self) -> String {
        format!("{}:{{ctl}}:nodes", self.prefix)
    }

    /// The latest heartbeat frame per node, a hash: `<p>:{ctl}:node-info`.
    pub fn node_info(&self) -> String {
        format!("{}:{{ctl}}:node-info", self.prefix)
    }

    /// Which shard a shard stream key belongs to, if it is one.
    pub fn shard_of_stream(&self, key: &str) -> Option<u32> {
        let rest = key.strip_prefix(&self.prefix)?.strip_prefix(":{")?;
        let rest = rest.strip_suffix("}:stream")?;
        rest.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fnv1a64_matches_the_published_vectors() {
        // Reference values of the FNV-1a 64-bit hash.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn shards_of_documented_rooms() {
        // These vectors are repeated in docs/adapter-protocol.md.
        let got: Vec<u32> = ["dashboard:sales", "chat:1", "a"]
            .iter()
            .map(|r| shard_of(r, 64))
            .collect();
        let want: Vec<u32> = ["dashboard:sales", "chat:1", "a"]
            .iter()
            .map(|r| u32::try_from(fnv1a64(r.as_bytes()) % 64).unwrap())
            .collect();
        assert_eq!(got, want);
        assert_eq!(
            shard_of("a", 64),
            u32::try_from(0xaf63_dc4c_8601_ec8c_u64 % 64).unwrap()
        );
        assert_eq!(shard_of("anything", 1), 0);
        assert_eq!(fnv1a64(b"dashboard:sales"), 0x6718_6fa2_3939_6f11);
        assert_eq!(
            ["dashboard:sales", "chat:1", "a", "orders:42"].map(|r| shard_of(r, 64)),
            [17, 54, 12, 16]
        );
        assert_eq!(
            ["dashboard:sales", "chat:1", "a", "orders:42"].map(|r| shard_of(r, 16)),
            [1, 6, 12, 0]
        );
    }

    #[test]
    fn keys_share_the_shard_hash_tag() {
        let k = Keys::new("herald");
        assert_eq!(k.stream(3), "herald:{3}:stream");
        assert_eq!(k.room(3, "chat:1"), "herald:{3}:room:chat:1");
        assert_eq!(k.hist(3, "chat:1"), "herald:{3}:hist:chat:1");
        assert_eq!(k.fence(3, "orders"), "herald:{3}:fence:orders");
        assert_eq!(k.shard_of_stream("herald:{17}:stream"), Some(17));
        assert_eq!(k.shard_of_stream("herald:{ctl}:control"), None);
    }
}
